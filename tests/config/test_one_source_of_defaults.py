"""config/schema.py is the one place a setting's default lives.

Every runtime class a config section configures is built from that section and declares no default
of its own, so the two can never disagree (they did: KiteFeedOptions reconnected up to 60 s where
feed.kite says 30, and RiskLimits() left the per-exchange rate unlimited where risk says 8/s). Each
case names the section fields the runtime class does not carry under the same name, and why.
"""

import dataclasses
import inspect

import pytest

from config.charges import preset_for
from config.schema import (Config, InstrumentConfig, KiteBrokerConfig, KiteFeedConfig, RiskConfig,
                           UpstoxBrokerConfig, UpstoxFeedConfig)
from feed.sources.kite.source import KiteFeedOptions, KiteSource
from feed.sources.upstox.orderstream import UpstoxOrderStreamOptions
from feed.sources.upstox.source import UpstoxFeedOptions
from orders.brokers.kite.config import KiteSettings
from orders.brokers.upstox.config import UpstoxSettings
from orders.fees import FeeSchedule
from orders.limits import RiskLimits

# (runtime class, built from the default section, the section, {section field: runtime field or
# None when not carried}). A section field missing from both the runtime class and this map fails.
_FEED_HOST = {"host": None}   # resolved: feed.upstox.host, else broker.upstox.host, else Upstox's
CASES = {
    "risk": (RiskLimits, lambda: RiskLimits.from_config(RiskConfig()), RiskConfig(),
             {"ops_threshold": None, "rate_margin_pct": None}),   # both make venue_rate_per_sec
    "kite broker": (KiteSettings, lambda: KiteSettings.from_config(KiteBrokerConfig()),
                    KiteBrokerConfig(), {}),
    "upstox broker": (UpstoxSettings, lambda: UpstoxSettings.from_config(UpstoxBrokerConfig()),
                      UpstoxBrokerConfig(), {}),
    "kite feed": (KiteFeedOptions, lambda: KiteFeedOptions.from_config(KiteFeedConfig()),
                  KiteFeedConfig(), {}),
    "upstox feed": (UpstoxFeedOptions,
                    lambda: UpstoxFeedOptions.from_config(UpstoxFeedConfig(), UpstoxBrokerConfig()),
                    UpstoxFeedConfig(), {**_FEED_HOST, "order_updates": None}),   # feed/sources
    "upstox order stream": (UpstoxOrderStreamOptions,
                            lambda: UpstoxOrderStreamOptions.from_config(UpstoxFeedConfig(),
                                                                         UpstoxBrokerConfig()),
                            UpstoxFeedConfig(),
                            {**_FEED_HOST, "mode": None, "order_updates": None}),
}


def fields_with_defaults(cls) -> list[str]:
    """The fields of a dataclass that carry a default (or a default factory) of their own."""
    return [f.name for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING]


@pytest.mark.parametrize("case", CASES)
def test_runtime_settings_when_declared_then_no_field_has_a_default_of_its_own(case):
    cls = CASES[case][0]
    assert fields_with_defaults(cls) == [], f"{cls.__name__}: defaults live in config/schema.py"


@pytest.mark.parametrize("case", CASES)
def test_runtime_settings_when_built_from_the_default_section_then_every_field_is_the_schemas(case):
    _, build, section, not_carried = CASES[case]
    built = build()
    for name in section.__struct_fields__:
        carried_as = not_carried.get(name, name)
        if carried_as is not None:
            assert getattr(built, carried_as) == getattr(section, name), f"{case}: {name}"


def test_runtime_settings_when_a_section_value_changes_then_the_runtime_class_follows_it():
    """from_config reads the section, not a copy of its defaults."""
    risk = RiskLimits.from_config(RiskConfig(max_order_qty=7, ops_threshold=5, rate_margin_pct=0.0))
    assert (risk.max_order_qty, risk.venue_rate_per_sec) == (7, 5)
    kite = KiteSettings.from_config(KiteBrokerConfig(timeout_s=1.5, poll_interval_ms=40))
    assert (kite.timeout_s, kite.poll_interval_ms) == (1.5, 40)
    upstox = UpstoxSettings.from_config(UpstoxBrokerConfig(market_protection=3, poll_interval_ms=0))
    assert (upstox.market_protection, upstox.poll_interval_ms) == (3, 0)
    feed = UpstoxFeedOptions.from_config(UpstoxFeedConfig(watchdog_s=2.0),
                                         UpstoxBrokerConfig(timeout_s=9.0))
    assert (feed.watchdog_s, feed.authorize_timeout_s) == (2.0, 9.0)
    assert feed.host == "https://api.upstox.com"     # neither section names one: Upstox's own


def test_the_default_check_when_a_runtime_class_declares_a_default_then_names_the_field():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Drifted:
        timeout_s: float
        poll_interval_ms: int = 500

    assert fields_with_defaults(Drifted) == ["poll_interval_ms"]


def test_kite_feed_when_built_without_options_then_it_reconnects_within_the_schemas_ceiling():
    source = KiteSource("key", "token")
    assert source.options.reconnect_max_delay_s == KiteFeedConfig().reconnect_max_delay_s == 30.0


def test_risk_limits_when_built_from_the_default_config_then_each_exchange_is_rate_limited():
    limits = RiskLimits.from_config(RiskConfig())
    assert limits.venue_rate_per_sec == RiskConfig().venue_rate_per_sec == 8


def test_fee_schedule_when_constructed_then_the_preset_is_required_and_from_config_resolves_it():
    assert inspect.signature(FeeSchedule).parameters["preset"].default is inspect.Parameter.empty
    config = Config(instruments=(InstrumentConfig(symbol="SBIN", token=1, tick_size=0.05,
                                                  ref_price=100.0),))
    fees = FeeSchedule.from_config(config)
    assert fees.preset == preset_for(config.broker.name, config.fees.preset) == "zerodha"
