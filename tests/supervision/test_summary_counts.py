"""summary.json after restarts: intents, orders, fills and denials equal what the journals hold.

The run directory here is what a run with restarts leaves: journals written once per record, and
stage table counters that a restarted orders and positions inflated by counting their recovery
re-reads.
"""

import json
from types import SimpleNamespace

import msgspec
import orjson

from common.journal import JournalWriter
from common.messages import OrderDenied, OrderFilled, OrderSubmitting, SignalRaised, TicksProcessed
from common.stagetable import COUNTER_NAMES
from supervision.summary import write_summary

OUTCOME = SimpleNamespace(exit_code=0, reason="duration reached", gave_up=[])


def intent(seq: int) -> SignalRaised:
    return SignalRaised(
        source="signals",
        seq=seq,
        ts_event_ns=seq,
        intent_id=f"I{seq}",
        strategy="mac",
        instrument=1,
        symbol="INFY",
        side=1,
        qty=1,
        order_type="MARKET",
        tick_seq=seq,
        ts_recv_ns=seq,
    )


def submitting(i: int, role: str = "ENTRY") -> OrderSubmitting:
    return OrderSubmitting(
        ts_event_ns=i,
        client_order_id=f"C{i}{role[0]}",
        intent_id=f"I{i}",
        strategy="mac",
        bracket_id=f"b{i}",
        role=role,
        instrument=1,
        symbol="INFY",
        side=1,
        qty=1,
        order_type="MARKET",
        price=0.0,
        trigger_price=0.0,
        tick_seq=i,
    )


def filled(i: int) -> OrderFilled:
    return OrderFilled(
        ts_event_ns=i,
        client_order_id=f"C{i}E",
        broker_order_id=f"B{i}",
        fill_id=f"F{i}",
        strategy="mac",
        bracket_id=f"b{i}",
        role="ENTRY",
        instrument=1,
        symbol="INFY",
        side=1,
        qty=1,
        price=100.0,
        fees_inr=0.0,
        tick_seq=i,
        leaves_qty=0,
    )


def denied(i: int) -> OrderDenied:
    return OrderDenied(
        ts_event_ns=i,
        intent_id=f"I{i}",
        client_order_id=f"C{i}E",
        strategy="mac",
        instrument=1,
        symbol="INFY",
        side=1,
        qty=1,
        reason_code=3,
        reason="max open orders",
    )


def journal(path, records) -> None:
    with JournalWriter(str(path), "never") as writer:
        for seq, msg in enumerate(records, start=writer.last_seq + 1):
            writer.append(msgspec.structs.replace(msg, seq=seq))


def status(counters: dict, restarts: dict) -> dict:
    lat = {"p50_us": 1.0, "p99_us": 2.0, "p999_us": 3.0, "max_us": 4.0}
    stages = {}
    for name, names in COUNTER_NAMES.items():
        stages[name] = {"restarts": restarts.get(name, 0), "latency": lat,
                        "counters": {n: counters.get(name, {}).get(n, 0) for n in names}}
    return {"run_id": "r1", "trading_state": "ACTIVE", "stages": stages}


def run_dir_after_restarts(tmp_path):
    """6 intents: 4 approved (3 entries filled, one of them also placed an exit), 2 denied."""
    journal(tmp_path / "signals.jsonl", [intent(i) for i in range(1, 7)])
    orders = [TicksProcessed(ts_event_ns=0, upto_seq=2, intents_sent=1)]
    for i in range(1, 5):
        orders += [intent(i), submitting(i)]
    orders += [filled(1), filled(2), denied(5)]
    journal(tmp_path / "orders.jsonl", orders)      # first orders process, killed here
    # the restarted one
    journal(tmp_path / "orders.jsonl", [filled(3), submitting(1, "STOP"), denied(6)])
    (tmp_path / "positions.json").write_bytes(
        orjson.dumps({"fills_applied": 3, "realised_pnl_inr": 0.0})
    )
    # Two orders restarts each re-took all 6 intents from signals.jsonl; two positions restarts
    # re-applied the fills journaled before them; the stage-table tallies add every life together.
    counters = {
        "orders": {"intents": 18, "orders": 5, "fills": 3, "denials": 2, "ticks": 900},
        "positions": {"fills": 7, "ticks": 900},
        "signals": {"intents": 6, "journal_records": 6},
    }
    return status(counters, {"orders": 2, "positions": 2})


def test_summary_when_restarted_stages_double_counted_then_counters_equal_the_journals(tmp_path):
    doc = write_summary(str(tmp_path), run_dir_after_restarts(tmp_path), OUTCOME)
    orders, positions = doc["stages"]["orders"], doc["stages"]["positions"]
    assert {k: orders["counters"][k] for k in ("intents", "orders", "fills", "denials")} == \
        {"intents": 6, "orders": 5, "fills": 3, "denials": 2}
    assert positions["counters"]["fills"] == 3 and doc["fills"] == 3
    assert doc["stages"]["signals"]["counters"]["intents"] == 6
    assert json.loads((tmp_path / "summary.json").read_bytes()) == doc


def test_summary_says_which_figures_are_per_process_and_keeps_their_tallies(tmp_path):
    doc = write_summary(str(tmp_path), run_dir_after_restarts(tmp_path), OUTCOME)
    orders = doc["stages"]["orders"]
    assert orders["counted_from"]["intents"] == "orders.jsonl"
    assert orders["counted_from"]["ticks"] == "process"
    assert doc["stages"]["positions"]["counted_from"]["fills"] == "positions.json"
    # what the stage table said, kept visible
    assert orders["process_counters"]["intents"] == 18
    assert orders["counters"]["ticks"] == 900 and "process" in doc["counters_note"]


def test_summary_when_a_journal_line_is_damaged_then_it_is_written_and_the_line_is_reported(
    tmp_path,
):
    final = run_dir_after_restarts(tmp_path)
    path = tmp_path / "orders.jsonl"
    path.write_bytes(path.read_bytes().replace(b'"fill_id":"F2"', b'"fill_id":"F9"'))
    doc = write_summary(str(tmp_path), final, OUTCOME)
    assert doc["unreadable_journal_lines"] == {"signals.jsonl": 0, "orders.jsonl": 1}
    # the damaged record is not counted
    assert doc["stages"]["orders"]["counters"]["fills"] == 2


def test_summary_when_a_stage_left_no_file_then_its_counters_are_the_process_tallies(tmp_path):
    doc = write_summary(str(tmp_path), status({"orders": {"intents": 4}}, {}), OUTCOME)
    assert doc["stages"]["orders"]["counters"]["intents"] == 4
    assert doc["stages"]["orders"]["counted_from"]["intents"] == "process"
    assert doc["unreadable_journal_lines"] == {}
