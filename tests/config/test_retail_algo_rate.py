"""The retail-algo framework's order-rate threshold at `--check-config` (config/schema.py).

An algo not registered with the exchange stays below 10 orders/s per exchange/segment (SEBI circular
of 4 Feb 2025, NSE/INVG/67858). A live broker's config asking for more is refused, exit 2, with the
dotted field and the reason; paper and local rehearsal venues reach no exchange and may lift it.
"""

import io

from config.cli import EXIT_CONFIG_ERROR, EXIT_OK, check_config
from config.schema import RiskConfig

FAKE_KITE = {"KITE_API_KEY": "kk-fake-key", "KITE_ACCESS_TOKEN": "kt-fake-token"}


def run_check(env, overrides, environ=FAKE_KITE) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = check_config(None, env, environ=environ, overrides=overrides, dotenv_path=None,
                        out=out, err=err)
    return code, err.getvalue()


def test_check_config_when_live_rate_per_sec_above_threshold_then_refused_naming_the_field():
    code, err = run_check("prod", {"risk": {"rate_per_sec": 12}})
    assert code == EXIT_CONFIG_ERROR
    assert "risk.rate_per_sec" in err and "unregistered algo" in err and "NSE/INVG/67858" in err


def test_check_config_when_live_ops_threshold_raised_above_ten_then_refused():
    code, err = run_check("prod", {"risk": {"ops_threshold": 20, "rate_per_sec": 10}})
    assert code == EXIT_CONFIG_ERROR
    assert "risk.ops_threshold" in err and "unregistered algo" in err


def test_check_config_when_live_rate_within_threshold_then_ok_and_summary_states_the_rates():
    out, err = io.StringIO(), io.StringIO()
    code = check_config(None, "prod", environ=FAKE_KITE, overrides={"risk": {"rate_per_sec": 10}},
                        dotenv_path=None, out=out, err=err)
    assert code == EXIT_OK, err.getvalue()
    assert "orders/s: 10 account, 8 per exchange/segment" in out.getvalue()


def test_check_config_when_paper_broker_lifts_the_rate_then_ok():
    code, err = run_check(None, {"risk": {"rate_per_sec": 100, "ops_threshold": 100}}, environ={})
    assert code == EXIT_OK, err


def test_check_config_when_margin_leaves_no_order_a_second_then_refused():
    code, err = run_check(None, {"risk": {"rate_margin_pct": 95}}, environ={})
    assert code == EXIT_CONFIG_ERROR
    assert "risk.rate_margin_pct" in err and "leaves no order a second" in err


def test_venue_rate_per_sec_is_threshold_less_margin_rounded_down():
    assert RiskConfig().venue_rate_per_sec == 8            # 10/s less 20 %
    assert RiskConfig(rate_margin_pct=0).venue_rate_per_sec == 10
    assert RiskConfig(rate_margin_pct=35).venue_rate_per_sec == 6
