"""The orders stage asks the broker what it can do, never what it is called (issue 13.2).

`reports_fills_async`, `pushes_order_updates` and `book_is_ours` (orders/brokers/base.py) decide
whether the stage polls between ticks, subscribes to pushed order updates, reconciles, and what a
stop waits for and reports. A new adapter gets a live broker's answers unless it says otherwise.
"""

import ast
import pathlib

from orders.brokers.base import Broker
from orders.brokers.kite.broker import KiteBroker
from orders.brokers.paper.broker import PaperBroker
from orders.brokers.upstox.broker import UpstoxBroker

ORDERS = pathlib.Path(__file__).resolve().parents[3] / "orders"


def test_capabilities_when_paper_then_fills_come_only_on_ticks_and_its_book_is_ours(tmp_path):
    from tests.orders.stubs import instruments
    paper = PaperBroker(str(tmp_path / "paper.jsonl"), instruments())
    try:
        answers = (paper.reports_fills_async, paper.pushes_order_updates, paper.book_is_ours)
        assert answers == (False, False, True)
    finally:
        paper.close()


def test_capabilities_when_kite_upstox_or_a_new_adapter_then_polled_pushed_and_reconciled():
    for cls in (KiteBroker, UpstoxBroker, Broker):
        answers = (cls.reports_fills_async, cls.pushes_order_updates, cls.book_is_ours)
        assert answers == (True, True, False), cls


def test_orders_when_deciding_what_to_do_then_no_code_compares_a_broker_name_with_paper():
    found = []
    # make_broker: the one place a name picks a class
    factory = ORDERS / "brokers" / "__init__.py"
    for path in sorted(p for p in ORDERS.rglob("*.py") if p != factory):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Compare) and any(
                    isinstance(c, ast.Constant) and c.value == "paper" for c in node.comparators):
                found.append(f"{path.relative_to(ORDERS.parent)}:{node.lineno}")
    assert found == [], f"ask the broker a capability (orders/brokers/base.py) instead: {found}"
