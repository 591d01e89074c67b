"""The run report: built from a small hand-written run directory (two instruments, three fills, a
few denials, a rejection, a restart), the same files a real run leaves."""

import json
import os
import re
import struct

import pytest

from common.codec import encode_json
from common.messages import (
    OrderAccepted,
    OrderCanceled,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    OrderSubmitting,
    SignalRaised,
    TicksProcessed,
)
from reports import report
from reports.performance import replay
from reports.price_paths import price_paths
from reports.inputs import denial_key, read_run

T0 = 1_767_239_100_000_000_000          # 2026-01-01 09:15:00 IST, in epoch ns UTC
SEC = 1_000_000_000
INSTRUMENTS = [{"symbol": "SBIN", "exchange": "NSE", "token": 779521},
               {"symbol": "INFY", "exchange": "NSE", "token": 408065}]


def _fill(n, instrument, side, qty, price, fees, role="ENTRY", at_s=0):
    return OrderFilled(
        seq=n,
        ts_event_ns=T0 + at_s * SEC,
        client_order_id=f"C{n}",
        broker_order_id=f"B{n}",
        fill_id=f"C{n}.1",
        strategy="mac",
        bracket_id=f"mac:{instrument}:{n}",
        role=role,
        instrument=instrument,
        symbol=INSTRUMENTS[instrument]["symbol"],
        side=side,
        qty=qty,
        price=price,
        fees_inr=fees,
        tick_seq=n,
        leaves_qty=0,
    )


def _denied(n, code, reason):
    return OrderDenied(
        seq=n,
        ts_event_ns=T0 + n * SEC,
        intent_id=f"mac:0:{n}",
        client_order_id=f"D{n}",
        strategy="mac",
        instrument=0,
        symbol="SBIN",
        side=1,
        qty=1,
        reason_code=code,
        reason=reason,
    )


# SBIN: bought 10 @ 800 (fee 1.00), sold 10 @ 810 at the target (fee 1.50): +100 gross, +97.50 net.
# INFY: sold 5 @ 1500 (fee 0.50), still open, last price 1490: +50 unrealised. Realised total
# +97.00.
FILLS = [_fill(3, 0, +1, 10, 800.0, 1.0, at_s=1), _fill(7, 1, -1, 5, 1500.0, 0.5, at_s=2),
         _fill(12, 0, -1, 10, 810.0, 1.5, role="TARGET", at_s=30)]


def _orders_journal():
    return [
        TicksProcessed(seq=1, ts_event_ns=T0, upto_seq=1, intents_sent=0),
        SignalRaised(
            seq=2,
            ts_event_ns=T0,
            intent_id="mac:0:1",
            strategy="mac",
            instrument=0,
            symbol="SBIN",
            side=1,
            qty=10,
            order_type="MARKET",
            tick_seq=1,
            ts_recv_ns=1,
        ),
        OrderSubmitting(
            seq=2,
            ts_event_ns=T0,
            client_order_id="C3",
            intent_id="mac:0:1",
            strategy="mac",
            bracket_id="mac:0:3",
            role="ENTRY",
            instrument=0,
            symbol="SBIN",
            side=1,
            qty=10,
            order_type="MARKET",
            price=0.0,
            trigger_price=0.0,
            tick_seq=1,
        ),
        OrderAccepted(
            seq=2, ts_event_ns=T0, client_order_id="C3", broker_order_id="B3", status="ACCEPTED"
        ),
        FILLS[0],
        FILLS[1],
        _denied(8, 21, "RATE_PER_SEC: order rate limit per second reached (qty=1, ltp=800.0)"),
        _denied(9, 21, "RATE_PER_SEC: order rate limit per second reached (qty=1, ltp=801.0)"),
        _denied(10, 20, "MAX_OPEN_ORDERS: too many open orders (qty=1)"),
        OrderRejected(
            seq=11,
            ts_event_ns=T0 + 11 * SEC,
            client_order_id="C11",
            reason="margin exceeds",
            code="MarginException",
        ),
        FILLS[2],
        OrderCanceled(
            seq=13,
            ts_event_ns=T0 + 31 * SEC,
            client_order_id="S3",
            broker_order_id="B4",
            reason="nothing left to cover (OCO)",
        ),
        TicksProcessed(seq=14, ts_event_ns=T0 + 40 * SEC, upto_seq=900, intents_sent=1),
    ]


def _write_lines(path, messages, tail=b""):
    with open(path, "wb") as f:
        f.write(b"".join(encode_json(m) + b"\n" for m in messages) + tail)


def _write_json(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)


def _positions_doc(realised=97.0):
    return {
        "positions": [
            {
                "instrument": 0,
                "symbol": "SBIN",
                "qty": 0,
                "avg_price": 0.0,
                "last_price": 812.0,
                "realised_pnl_inr": 97.5,
            },
            {
                "instrument": 1,
                "symbol": "INFY",
                "qty": -5,
                "avg_price": 1500.0,
                "last_price": 1490.0,
                "realised_pnl_inr": -0.5,
                "unrealised_pnl_inr": 50.0,
            },
        ],
        "realised_pnl_inr": realised,
        "unrealised_pnl_inr": 50.0,
        "fills_applied": 3,
    }


def _summary_doc():
    latency = {
        "count": 40,
        "p50_ns": 120_000,
        "p99_ns": 900_000,
        "p999_ns": 1_500_000,
        "max_ns": 2_000_000,
    }
    return {
        "run_id": "test-run-1",
        "exit_code": 0,
        "reason": "duration reached",
        "trading_state": "ACTIVE",
        "stages": {
            "orders": {"restarts": 1, "tick_to_order": latency},
            "signals": {
                "restarts": 0,
                "tick_to_signal": {**latency, "count": 5000, "p50_ns": 40_000},
            },
        },
    }


@pytest.fixture
def run_dir(tmp_path):
    """A finished run: journals (with a garbage line and a torn last line), final files, one
    restart."""
    d = tmp_path / "run"
    d.mkdir()
    _write_lines(d / "orders.jsonl", _orders_journal()[:7], tail=b"{not json}\n")
    with open(d / "orders.jsonl", "ab") as f:
        f.write(
            b"".join(encode_json(m) + b"\n" for m in _orders_journal()[7:]) + b'{"type":"OrderFil'
        )
    # the copy is short: the orders journal is the truth
    _write_lines(d / "fills.jsonl", FILLS[:2])
    _write_json(d / "positions.json", _positions_doc())
    _write_json(d / "summary.json", _summary_doc())
    config = {"instruments": INSTRUMENTS, "feed": {"source": "sim", "record_path": None}}
    _write_json(d / "config.effective.json", config)
    with open(d / "supervisor.jsonl", "w") as f:
        f.write(
            json.dumps({"ts": 1.7e9, "kind": "spawn", "stage": "orders", "reason": "start"}) + "\n"
        )
        f.write(
            json.dumps({"ts": 1.7e9 + 5, "kind": "restart", "stage": "orders", "reason": "exit -9"})
            + "\n"
        )
    return str(d)


def _tile(page: str, key: str) -> str:
    match = re.search(rf'<div class="k">{re.escape(key)}</div><div class="v">(.*?)</div>', page)
    assert match, f"no tile {key!r}"
    return re.sub(r"<[^>]+>", "", match.group(1))


def _assert_png(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    assert width > 300 and height > 100
    from PIL import Image

    with Image.open(path) as image:
        image.verify()          # the whole file decodes, not just its header


def test_report_of_a_finished_run_shows_its_pnl_fills_and_denials(run_dir):
    path = report.write_report(run_dir)
    page = open(path, encoding="utf-8").read()
    assert _tile(page, "Realised P&amp;L (net of fees)") == "₹97.00"
    assert _tile(page, "Unrealised (open, at last price)") == "₹50.00"
    assert _tile(page, "Fills") == "3"
    assert (
        _tile(page, "Denials") == "3"
        and _tile(page, "Rejections") == "1"
        and _tile(page, "Orders submitted") == "1"
    )
    assert re.search(
        r"<td>RATE_PER_SEC</td><td[^>]*>21</td><td>order rate limit per second reached</td>"
        r"<td[^>]*>2<",
        page,
    )
    assert re.search(
        r"<td>MAX_OPEN_ORDERS</td><td[^>]*>20</td><td>too many open orders</td><td[^>]*>1<", page
    )
    assert "margin exceeds" in page and "test-run-1" in page and "1 stage restart(s)" in page
    assert "2026-01-01 09:15:30.000" in page          # the target fill, in IST
    assert "positions.json records" not in page            # the book and the replayed fills agree
    assert "1 unreadable journal line(s)" in page
    for name in report.CHART_FILES.values():
        _assert_png(os.path.join(run_dir, name))
        assert f'src="{name}"' in page
    assert "http" not in page.lower().replace("http-equiv", "")   # nothing fetched from a network


def test_journal_lines_torn_or_unreadable_are_skipped_and_counted(run_dir):
    inputs = read_run(run_dir)
    # the garbage line; the torn last line is not a line yet
    assert inputs.unreadable_lines == 1
    # the third only in the journal
    assert [f.fill_id for f in inputs.fills] == ["C3.1", "C7.1", "C12.1"]
    assert (
        inputs.count("OrderDenied") == 3
        and inputs.first_event_ns == T0
        and inputs.last_event_ns == T0 + 40 * SEC
    )


def test_replayed_fills_give_the_books_pnl_equity_drawdown_and_round_trips():
    perf = replay(FILLS, ["SBIN", "INFY"], {1: 1490.0})
    assert perf.equity_inr.tolist() == [-1.0, -1.5, 97.0]
    assert perf.drawdown_inr.tolist() == [-1.0, -1.5, 0.0] and perf.max_drawdown_inr == -1.5
    assert (
        perf.realised_pnl_inr == 97.0 and perf.unrealised_pnl_inr == 50.0 and perf.fees_inr == 3.0
    )
    assert [(t.symbol, t.side, t.pnl_inr) for t in perf.round_trips] == [("SBIN", 1, 97.5)]
    assert perf.most_traded(1) == ["SBIN"]


def test_a_fill_through_zero_closes_one_round_trip_and_opens_the_next():
    fills = [_fill(1, 0, +1, 10, 100.0, 0.0), _fill(2, 0, -1, 15, 90.0, 1.0, at_s=5),
             # the last one repeated
             _fill(3, 0, +1, 5, 80.0, 0.0, at_s=9), _fill(3, 0, +1, 5, 80.0, 0.0, at_s=9)]
    perf = replay(fills, ["SBIN"])
    assert [(t.side, t.pnl_inr) for t in perf.round_trips] == [(1, -101.0), (-1, 50.0)]
    assert len(perf.fills) == 3 and perf.book.positions[0].qty == 0


def test_a_run_without_fills_still_gets_a_report_that_says_so(tmp_path):
    _write_lines(
        tmp_path / "orders.jsonl",
        [_denied(1, 21, "RATE_PER_SEC: order rate limit per second reached")],
    )
    page = open(report.write_report(str(tmp_path)), encoding="utf-8").read()
    assert (
        "No fills in this run" in page
        and _tile(page, "Fills") == "0"
        and _tile(page, "Denials") == "1"
    )
    assert _tile(page, "Realised P&amp;L (net of fees)") == "₹0.00"
    _assert_png(tmp_path / report.CHART_FILES["orders"])
    assert not (tmp_path / report.CHART_FILES["equity"]).exists()


def test_an_empty_run_directory_gets_a_report_naming_what_is_missing(tmp_path):
    page = open(report.write_report(str(tmp_path)), encoding="utf-8").read()
    assert "No fills in this run" in page and "orders.jsonl" in page and "summary.json" in page
    assert sorted(os.listdir(tmp_path)) == ["report.html"]


def test_a_rerender_removes_charts_the_run_no_longer_has(run_dir):
    report.write_report(run_dir)
    _write_lines(os.path.join(run_dir, "orders.jsonl"), [])
    os.unlink(os.path.join(run_dir, "fills.jsonl"))
    report.write_report(run_dir)
    assert not os.path.exists(os.path.join(run_dir, report.CHART_FILES["equity"]))


def test_positions_that_disagree_with_the_replayed_fills_are_flagged(run_dir):
    _write_json(os.path.join(run_dir, "positions.json"), _positions_doc(realised=10.0))
    page = open(report.write_report(run_dir), encoding="utf-8").read()
    assert "positions.json records realised P&amp;L ₹10.00" in page


def test_trades_are_drawn_on_recorded_ticks_when_the_run_kept_them(run_dir):
    from feed.replayfile import write_ticks

    ticks = os.path.join(run_dir, "ticks.csv")
    times = [T0 - 3600 * SEC, T0, T0 + 10 * SEC, T0 + 20 * SEC, T0 + 40 * SEC, T0 + 3600 * SEC]
    write_ticks(
        ticks,
        times,
        ["NSE:SBIN", "NSE:SBIN", "NSE:INFY", "NSE:SBIN", "NSE:SBIN", "NSE:SBIN"],
        [700.0, 800.0, 1500.0, 805.0, 812.0, 900.0],
    )
    config = {"instruments": INSTRUMENTS, "feed": {"source": "sim", "record_path": ticks}}
    _write_json(os.path.join(run_dir, "config.effective.json"), config)
    paths, note = price_paths(read_run(run_dir), ["SBIN", "INFY"], {})
    # the run's window only
    assert paths["SBIN"].from_ticks and paths["SBIN"].price.tolist() == [800.0, 805.0, 812.0]
    assert paths["INFY"].ts_ns.tolist() == [T0 + 10 * SEC] and "recorded ticks" in note
    _assert_png(
        os.path.join(os.path.dirname(report.write_report(run_dir)), report.CHART_FILES["trades"])
    )


def test_without_a_tick_file_the_price_line_joins_fills_and_the_last_price(run_dir):
    paths, note = price_paths(read_run(run_dir), ["SBIN"], {"SBIN": 812.0})
    assert not paths["SBIN"].from_ticks and paths["SBIN"].price.tolist() == [800.0, 810.0, 812.0]
    assert paths["SBIN"].ts_ns[-1] == T0 + 40 * SEC and "no tick file" in note


def test_denials_are_grouped_by_the_risk_reason_name_not_its_numbers():
    assert denial_key("RATE_PER_SEC: order rate limit per second reached (qty=1, ltp=3.0)", 21) == \
        ("RATE_PER_SEC", "order rate limit per second reached")
    assert denial_key("something odd", 99) == ("code 99", "something odd")


def test_the_command_line_writes_the_report_and_refuses_a_missing_directory(
    run_dir, tmp_path, capsys
):
    assert report.main([run_dir]) == 0 and capsys.readouterr().out.strip() == os.path.join(
        run_dir, "report.html"
    )
    assert report.main([str(tmp_path / "nope")]) == 2


def test_the_end_of_run_hook_never_raises(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert report.render_after_run(str(not_a_dir)) is None
    assert report.render_after_run(str(tmp_path)) == str(tmp_path / "report.html")
