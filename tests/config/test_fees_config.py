"""The `fees` section: which preset a run charges with, overrides, and instruments without a
book."""

import os

import pytest

from config.loader import CONFIG_DIR, DEFAULT_PATH, load_config
from orders.fees import FeeSchedule
from tests.config.test_config import default_tree, error_of, load_tree


def schedule_of(path: str, **overrides) -> FeeSchedule:
    loaded = load_config(path, environ={}, dotenv_path=None, overrides=overrides or None,
                         available_cores=[0, 1, 2, 3])
    return FeeSchedule.from_config(loaded.config)


def test_fees_when_live_kite_config_then_charged_with_the_zerodha_preset():
    assert schedule_of(os.path.join(CONFIG_DIR, "examples", "kite-local.json")).preset == "zerodha"


def test_fees_when_live_upstox_config_then_charged_with_the_upstox_preset_not_papers():
    fees = schedule_of(os.path.join(CONFIG_DIR, "examples", "upstox-local.json"))
    assert fees.preset == "upstox"
    # Upstox intraday brokerage 0.05 %: 15 on 30,000, where Zerodha's 0.03 % would be 9.
    assert fees.breakdown(+1, 100, 300.0).brokerage == pytest.approx(15.0)


def test_fees_when_paper_then_zerodha_by_default_and_the_configured_preset_when_given():
    assert schedule_of(DEFAULT_PATH).preset == "zerodha"
    assert schedule_of(DEFAULT_PATH, fees={"preset": "upstox"}).preset == "upstox"


def test_fees_when_kite_config_names_a_preset_then_the_named_preset_wins():
    path = os.path.join(CONFIG_DIR, "examples", "kite-local.json")
    assert schedule_of(path, fees={"preset": "upstox"}).preset == "upstox"


def test_fees_when_override_names_an_unknown_figure_then_config_error_names_the_field(tmp_path):
    error = error_of(tmp_path, lambda t: t.setdefault("fees", {}).update(
        overrides={"EQ_INTRADAY": {"brokerage_flat": 10.0}}))
    assert "fees" in error.path and "brokerage_flat" in str(error)


def test_fees_when_override_is_valid_then_the_run_charges_it(tmp_path):
    tree = default_tree()
    tree["fees"] = {"overrides": {"EQ_INTRADAY": {"brokerage_per_order_inr": 0.0}}}
    fees = FeeSchedule.from_config(load_tree(tmp_path, tree, available_cores=[0, 1, 2, 3]).config)
    assert fees.breakdown(+1, 100, 1000.0).brokerage == 0.0


def test_fees_when_derivative_symbol_does_not_say_future_or_option_then_config_error(tmp_path):
    def mutate(tree):
        tree["instruments"][0].update(exchange="NFO", symbol="NIFTYX")
    error = error_of(tmp_path, mutate)
    assert "instruments[0]" in error.path and "future from an option" in str(error)
