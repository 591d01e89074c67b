"""A supervisor restart's new tick ring is numbered above every tick the PAPER broker has matched,
not only above the orders journal's marks.

The paper broker skips every tick whose seq is at or below the last tick it matched (its clock,
kept by its own journal: orders/brokers/paper/broker.py), so re-fed ticks after a stage restart
do nothing twice. A trigger the engine did not act on (a stop without a target), or a fill or
trigger the orders stage died before journaling, leaves the paper clock above every seq the orders
journal names. A new ring numbered from the journal's high water then repeats seqs the paper
broker has already passed: it ignores every new tick up to its old clock — no stop triggers and no
exit fills there, however far the price moves.
"""

import datetime as dt
import json
import os

import numpy as np

from common.clock import IST_OFFSET_NS
from common.dtypes import TICK_DTYPE
from common.journalline import seal
from orders.brokers.base import OrderRequest
from orders.brokers.paper.broker import PaperBroker
from supervision.accountday import open_account_day
from tests.orders.stubs import instruments

KEY = "paper-default"


def _ns(day: str, hhmm: str = "09:20") -> int:
    t = dt.datetime.fromisoformat(f"{day}T{hhmm}:00")
    return int(t.replace(tzinfo=dt.timezone.utc).timestamp() * 1e9) - IST_OFFSET_NS


def test_a_new_ring_starts_above_the_last_tick_the_paper_broker_matched(tmp_path):
    first = open_account_day(str(tmp_path), KEY, _ns("2026-12-07"))
    # The orders journal names tick 10 at most (a sell SL stop placed there, nothing after).
    with open(os.path.join(first.dir, "orders.jsonl"), "ab") as f:
        f.write(seal(json.dumps({"type": "TicksProcessed", "upto_seq": 11}).encode()))
    # The paper broker triggered that stop (gapped, unfilled) on tick 52; nothing was journaled.
    paper = PaperBroker(os.path.join(first.dir, "paper_broker.jsonl"), instruments(1))
    ticks = np.zeros(52, TICK_DTYPE)
    ticks["seq"] = np.arange(1, 53)
    ticks["price"] = 100.0
    ticks["price"][-1] = 97.0
    paper.on_ticks(ticks, 0, 10)
    paper.place(OrderRequest("S1", 0, "SYM0", "NSE", -1, 4, "SL", 97.9, 98.0, after_seq=10))
    assert paper.on_ticks(ticks, 10, 52) == 51                       # the trigger, on tick 52
    paper.close()
    again = open_account_day(str(tmp_path), KEY, _ns("2026-12-07", "11:00"))
    # Numbered from 12, ticks 12..52 of the new ring would never reach the reopened broker.
    reopened = PaperBroker(os.path.join(first.dir, "paper_broker.jsonl"), instruments(1))
    new = np.zeros(1, TICK_DTYPE)
    new["seq"], new["price"] = again.first_tick_seq, 99.0            # back through the limit
    reopened.on_ticks(new, 0, 1)
    try:
        assert [t.qty for t in reopened.trades()] == [4], "the new ring's tick was ignored"
    finally:
        reopened.close()
