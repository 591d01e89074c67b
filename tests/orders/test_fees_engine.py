"""The engine charges each fill with its own instrument's book (segment), not equity's."""

import os

import pytest

from common.messages import OrderFilled
from orders.brokers.paper.broker import PaperBroker
from orders.engine import OrderEngine
from orders.fees import FeeSchedule
from tests.orders.risk_support import limits_of
from tests.orders.stubs import Tape, instruments, intent, of_type


def test_engine_when_option_entry_fills_then_fees_are_the_option_books(tmp_path):
    rows = instruments(2)
    rows[1]["exchange"], rows[1]["symbol"] = b"NFO", b"NIFTY26DEC24000CE"
    fees = FeeSchedule("zerodha", rows)
    broker = PaperBroker(os.path.join(tmp_path, "paper.jsonl"), rows)
    events: list = []
    engine = OrderEngine(rows, limits_of(enforce_session=False, leg_prices="signal"), fees, broker,
                         events.append)
    try:
        tape = Tape()
        tape.add(1, 120.0)
        engine.advance(tape.array(), [intent(tape.seq, instrument=1, qty=65)])
        engine.advance(tape.array(tape.prices(1, [120.0])))
        (fill,) = of_type(events, OrderFilled)
    finally:
        broker.close()
    # buy 65 @ 120 = 7,800 premium: flat 20; exchange 0.03503 % = 2.73234; IPFT 0.039; SEBI 0.0078;
    # stamp 0.003 % = 0.234; GST 18 % of 22.77914 = 4.1002452 (tests/orders/test_fees.py). Charged
    # as NSE cash it would pay 2.34 brokerage (0.03 %), not 20.
    assert (fill.instrument, fill.qty, fill.price) == (1, 65, 120.0)
    assert fill.fees_inr == pytest.approx(27.1133852, abs=1e-9)


def test_engine_when_built_from_an_upstox_config_then_fills_pay_the_upstox_schedule(tmp_path):
    """A run's engine charges with the `fees` section (the broker's preset), never a paper default:
    Upstox intraday brokerage is 0.05 % (15 on 30,000) where Zerodha's 0.03 % would be 9."""
    from config.loader import CONFIG_DIR, load_config

    path = os.path.join(CONFIG_DIR, "examples", "upstox-local.json")
    config = load_config(path, environ={}, dotenv_path=None, available_cores=[0, 1, 2, 3]).config
    rows = instruments(1)
    broker = PaperBroker(os.path.join(tmp_path, "paper.jsonl"), rows)
    events: list = []
    engine = OrderEngine.from_config(config, rows, broker, events.append)
    try:
        tape = Tape()
        tape.add(0, 300.0)
        engine.advance(tape.array(), [intent(tape.seq, qty=100)])
        engine.advance(tape.array(tape.prices(0, [300.0])))
        (fill,) = of_type(events, OrderFilled)
    finally:
        broker.close()
    upstox = FeeSchedule("upstox").breakdown(+1, 100, 300.0)
    assert upstox.brokerage == pytest.approx(15.0)
    assert fill.fees_inr == pytest.approx(upstox.total, abs=1e-9)
    assert fill.fees_inr != pytest.approx(FeeSchedule("zerodha").fill_charges(+1, 100, 300.0))
