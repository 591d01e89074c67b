"""Settings from config.broker.kite, and credentials from Secrets (never shown)."""

from types import SimpleNamespace

import pytest

from common.errors import ConfigError
from config.feeds import FeedConfig, ReplayFeedConfig, SimFeedConfig
from config.schema import BrokerConfig, KiteBrokerConfig as KiteSection
from config.secrets import Secrets
from orders import statemachine as sm
from orders.brokers.base import OrderRequest
from orders.brokers.kite.broker import KiteBroker
from orders.brokers.kite.config import KiteSettings
from orders.brokers.kite.credentials import login_credentials, session_credentials
from tests.orders.brokers.kite.kite_support import kite, make_kite  # noqa: F401 - fixtures


def config_with(feed=None, **kite):
    return SimpleNamespace(broker=BrokerConfig(name="kite", kite=KiteSection(**kite)),
                           feed=feed or FeedConfig())


def test_settings_take_the_config_section_and_keep_kites_limits():
    s = KiteSettings.from_config(KiteSection(root="http://127.0.0.1:9", timeout_s=3.0,
                                             market_protection=5.0, use_gtt=True))
    assert (s.root, s.timeout_s, s.market_protection, s.use_gtt) == (
        "http://127.0.0.1:9",
        3.0,
        5.0,
        True,
    )
    assert (s.orders_per_sec, s.orders_per_min, s.orders_per_day, s.api_per_sec) == (
        10,
        400,
        5000,
        10,
    )


def test_a_local_server_without_its_url_is_a_config_error():
    with pytest.raises(ConfigError, match="broker.kite.root"):
        KiteSettings.from_config(KiteSection(local_server=True))


def test_a_local_server_needs_no_secrets(kite):
    broker = KiteBroker.from_config(config_with(local_server=True), Secrets(), kite.table,
                                    root=kite.server.url)
    try:
        broker.place(OrderRequest("ECONFIG1", 0, "SBIN", "NSE", 1, 1, "LIMIT", 95.0))
        assert broker.find_by_client_id("ECONFIG1").status == sm.ACCEPTED
    finally:
        broker.close()


def test_the_real_broker_names_the_missing_variable():
    with pytest.raises(ConfigError, match="KITE_ACCESS_TOKEN"):
        session_credentials(Secrets({"KITE_API_KEY": "k"}))
    with pytest.raises(ConfigError, match="KITE_API_SECRET"):
        login_credentials(Secrets({"KITE_API_KEY": "k"}))


def test_credentials_never_show_their_values():
    creds = session_credentials(
        Secrets({"KITE_API_KEY": "key-1234", "KITE_ACCESS_TOKEN": "tok-5678"})
    )
    assert "key-1234" not in repr(creds) and "tok-5678" not in str(creds)
    assert set(creds.secret_values()) == {"key-1234", "tok-5678"}


# ---------------------------------------------------------------- a rehearsal's pace

@pytest.mark.parametrize("feed, pace", [
    (FeedConfig(source="replay", replay=ReplayFeedConfig(path="x.csv", speed=8.0)), 8.0),
    (FeedConfig(source="replay", replay=ReplayFeedConfig(path="x.csv", speed=0.0)), 1.0),
    (FeedConfig(source="replay", replay=ReplayFeedConfig(path="x.csv", speed=0.5)), 1.0),
    (FeedConfig(source="sim", sim=SimFeedConfig(speed=4.0)), 4.0),
    (FeedConfig(source="kite"), 1.0),
], ids=["replay-8x", "replay-unpaced", "replay-slower", "sim-4x", "live-feed"])
def test_a_local_venue_holds_kites_limits_per_market_second(kite, feed, pace):  # noqa: F811
    """A rehearsal replayed at 8x against the local venue meets Kite's limits as often as the
    same day live would: 10 orders a market second, 80 a wall second (the day's cap stays)."""
    broker = KiteBroker.from_config(config_with(feed, local_server=True, root=kite.server.url),
                                    Secrets(), kite.table)
    try:
        s = broker._settings
        assert (s.orders_per_sec, s.orders_per_min, s.api_per_sec, s.orders_per_day) == (
            int(10 * pace), int(400 * pace), int(10 * pace), 5000)
    finally:
        broker.close()


def test_the_real_broker_keeps_its_limits_per_wall_second_whatever_the_feed():
    feed = FeedConfig(source="replay", replay=ReplayFeedConfig(path="x.csv", speed=8.0))
    s = KiteSettings.from_config(KiteSection())
    assert s.at_pace(1.0) is s
    broker = KiteBroker.from_config(
        config_with(feed), Secrets({"KITE_API_KEY": "k", "KITE_ACCESS_TOKEN": "t"}), None)
    try:
        assert (broker._settings.orders_per_sec, broker._settings.api_per_sec) == (10, 10)
    finally:
        broker.close()
