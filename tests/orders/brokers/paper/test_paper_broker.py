"""The paper exchange's fill model and its durability (beyond the broker contract)."""

import os

import numpy as np
import pytest

from common.dtypes import TICK_DTYPE
from common.errors import BrokerFatal, BrokerRejected
from orders import statemachine as sm
from orders.brokers.base import OrderRequest
from orders.brokers.paper.broker import PaperBroker
from tests.orders.stubs import instruments, ist_ns


def ticks(*prices, start_seq=1, instrument=0):
    out = np.zeros(len(prices), TICK_DTYPE)
    out["seq"] = np.arange(start_seq, start_seq + len(prices))
    out["ts_event_ns"] = ist_ns(10, 0) + out["seq"] * 1_000_000
    out["price"] = prices
    out["instrument"] = instrument
    return out


def req(coid, *, side=1, qty=10, order_type="MARKET", price=0.0, trigger=0.0, after=0,
        instrument=0):
    return OrderRequest(coid, instrument, f"SYM{instrument}", "NSE", side, qty, order_type, price,
                        trigger, after_seq=after)


@pytest.fixture
def paper(tmp_path):
    opened = []

    def make(**options):
        b = PaperBroker(str(tmp_path / "paper.jsonl"), instruments(2, freeze_qty=100), **options)
        opened.append(b)
        return b

    yield make
    for b in opened:
        b.close()


def fills(broker, coid):
    return [(t.qty, t.price, t.tick_seq) for t in broker.trades() if t.client_order_id == coid]


def test_paper_market_order_fills_on_first_tick_after_placement_with_adverse_slippage(paper):
    b = paper(slippage_ticks=2)
    b.place(req("EBUY", after=2))
    b.place(req("ESELL", side=-1, after=2))
    assert b.on_ticks(ticks(100.0, 100.0, 100.0, 101.0), 0, 4) == 2
    assert fills(b, "EBUY") == [(10, pytest.approx(100.10), 3)]
    assert fills(b, "ESELL") == [(10, pytest.approx(99.90), 3)]


def test_paper_order_never_fills_on_other_instruments_ticks(paper):
    b = paper()
    b.place(req("EBUY", instrument=1))
    assert b.on_ticks(ticks(100.0, 100.0), 0, 2) == 2
    assert b.on_ticks(ticks(50.0, start_seq=3, instrument=1), 0, 1) == 0
    assert fills(b, "EBUY") == [(10, 50.0, 3)]


def test_paper_limit_buy_fills_at_its_limit_not_at_the_better_tick_price(paper):
    b = paper()
    b.place(req("ELMT", order_type="LIMIT", price=99.0))
    assert b.on_ticks(ticks(99.5, 98.0), 0, 2) == 1
    assert fills(b, "ELMT") == [(10, 99.0, 2)]


def test_paper_limit_sell_fills_when_price_reaches_it(paper):
    b = paper()
    b.place(req("TLMT", side=-1, order_type="LIMIT", price=101.0))
    b.on_ticks(ticks(100.95, 101.0), 0, 2)
    assert fills(b, "TLMT") == [(10, 101.0, 2)]


def test_paper_slm_sell_triggers_on_crossing_and_fills_at_market(paper):
    b = paper(slippage_ticks=1)
    b.place(req("SSTOP", side=-1, order_type="SL-M", trigger=98.0))
    b.on_ticks(ticks(98.5, 97.5), 0, 2)
    assert fills(b, "SSTOP") == [(10, pytest.approx(97.45), 2)]


def test_paper_sl_triggers_then_rests_as_limit_and_the_trigger_survives_a_reopen(paper, tmp_path):
    b = paper()
    b.place(req("SSL", side=-1, order_type="SL", trigger=98.0, price=97.0))
    # triggered at 96, below its 97 limit: matching stops there, and the broker says so
    assert b.on_ticks(ticks(100.0, 96.0), 0, 2) == 1
    assert not fills(b, "SSL")
    assert [(e.client_order_id, e.triggered) for e in b.poll_events()] == [("SSL", True)]
    b.close()
    b = paper()
    b.on_ticks(ticks(97.5, start_seq=3), 0, 1)
    assert fills(b, "SSL") == [(10, 97.0, 3)]


def test_paper_on_ticks_stops_at_first_filling_tick_and_leaves_the_rest_unmatched(paper):
    b = paper()
    b.place(req("E1", order_type="LIMIT", price=99.0))
    b.place(req("E2", order_type="LIMIT", price=98.0))
    t = ticks(100.0, 99.0, 98.0)
    assert b.on_ticks(t, 0, 3) == 1
    assert not fills(b, "E2")
    assert b.on_ticks(t, 2, 3) == 2
    assert fills(b, "E2") == [(10, 98.0, 3)]


def test_paper_max_fill_per_tick_makes_partial_fills_deterministic(paper):
    b = paper(max_fill_qty_per_tick=4)
    b.place(req("EPART"))
    t = ticks(100.0, 100.5, 101.0)
    for i in range(3):
        b.on_ticks(t, i, 3)
    assert fills(b, "EPART") == [(4, 100.0, 1), (4, 100.5, 2), (2, 101.0, 3)]
    assert [tr.trade_id for tr in b.trades()] == ["EPART.1", "EPART.2", "EPART.3"]


def test_paper_exchange_rules_record_a_rejected_order(paper):
    b = paper()
    assert b.place(req("EBIG", qty=101)).status == sm.REJECTED
    assert b.place(req("ETICK", order_type="LIMIT", price=99.03)).status == sm.REJECTED
    assert b.find_by_client_id("EBIG").status == sm.REJECTED
    b.on_ticks(ticks(90.0), 0, 1)
    assert not b.trades()


def test_paper_input_errors_raise_and_leave_no_trace(paper):
    b = paper()
    for bad in (req("E0", qty=0), req("ETYPE", order_type="STOP"), req("ELIM", order_type="LIMIT"),
                req("EINST", instrument=9), req("ESIDE", side=0)):
        with pytest.raises(BrokerRejected):
            b.place(bad)
        assert b.find_by_client_id(bad.client_order_id) is None


def test_paper_reopen_rebuilds_orders_and_trades_and_never_refills_matched_ticks(paper):
    b = paper()
    b.place(req("E1"))
    b.place(req("E2", order_type="LIMIT", price=95.0))
    t = ticks(100.0, 99.0)
    b.on_ticks(t, 0, 2)
    before = (b.orders(), b.trades(), b.positions())
    b.close()
    b = paper()
    assert (b.orders(), b.trades(), b.positions()) == before
    b.on_ticks(t, 0, 2)                                # the same ticks again, after a restart
    assert b.trades() == before[1]
    assert b.place(req("E3")).broker_order_id == "P000000003"


def test_paper_reopen_cuts_a_torn_last_line(paper, tmp_path):
    b = paper()
    b.place(req("E1", order_type="LIMIT", price=95.0))
    b.close()
    with open(tmp_path / "paper.jsonl", "ab") as f:
        f.write(b'{"k":"place","seq":0')
    b = paper()
    assert [o.client_order_id for o in b.orders()] == ["E1"]


# The reopen parses the whole journal at once as a JSON array: a line that would be two records
# there ("a,b") or none must still be the corrupt line it is.
@pytest.mark.parametrize("bad", [b"garbage", b'{"k":"cancel","boid":"P1"},{"k":"cancel"}', b"5",
                                 b'{"k":"cancel"'])
def test_paper_corrupt_journal_line_is_fatal_and_named(paper, tmp_path, bad):
    b = paper()
    b.place(req("E1", order_type="LIMIT", price=95.0))
    b.close()
    with open(tmp_path / "paper.jsonl", "ab") as f:
        f.write(bad + b"\n")
    with pytest.raises(BrokerFatal) as refused:
        paper()
    assert "line 2 is corrupt" in str(refused.value)


def test_paper_second_broker_on_the_same_journal_is_refused(paper):
    paper()
    with pytest.raises(BrokerFatal):
        paper()


def test_paper_journal_is_private_to_its_owner(paper, tmp_path):
    paper()
    assert os.stat(tmp_path / "paper.jsonl").st_mode & 0o077 == 0
