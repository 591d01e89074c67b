"""Upstox feed requests and limits, and the reconnect backoff policy."""

import orjson
import pytest

from common.errors import ConfigError
from feed.sources.upstox.backoff import Backoff
from feed.sources.upstox.protocol import (MODE_FULL, MODE_LTPC, check_key_count, parse_request,
                                          subscription_message)

KEYS = ["NSE_EQ|INE002A01018", "NSE_INDEX|Nifty 50"]


def test_subscription_is_the_sdk_shaped_json_with_a_fresh_guid():
    first = orjson.loads(subscription_message(KEYS, MODE_FULL))
    second = orjson.loads(subscription_message(KEYS, MODE_FULL))
    assert first["method"] == "sub" and first["data"] == {"mode": "full", "instrumentKeys": KEYS}
    assert first["guid"] != second["guid"] and len(first["guid"]) == 36
    unsub = orjson.loads(subscription_message(KEYS, "", method="unsub"))
    assert unsub["data"] == {"instrumentKeys": KEYS}


def test_server_parses_what_the_client_sends_and_refuses_the_rest():
    req = parse_request(subscription_message(KEYS, MODE_LTPC))
    assert (req.method, req.mode, req.keys) == ("sub", "ltpc", tuple(KEYS))
    assert parse_request(subscription_message(KEYS, "", method="unsub")).keys == tuple(KEYS)
    assert (
        parse_request(b'{"guid":"g","method":"sub","data":{"mode":"snap","instrumentKeys":["A"]}}')
        is None
    )
    assert parse_request(
        b'{"guid":"g","method":"sub","data":{"mode":"full","instrumentKeys":["A", 5]}}'
    ).keys == ("A",)
    assert parse_request(b"\x00 not json") is None
    with pytest.raises(ValueError):
        subscription_message(KEYS, "snap")


def test_key_counts_beyond_upstox_limits_are_refused_before_connecting():
    check_key_count(2000, MODE_FULL)
    check_key_count(5000, MODE_LTPC)
    for count, mode in ((2001, MODE_FULL), (5001, MODE_LTPC), (0, MODE_FULL)):
        with pytest.raises(ConfigError):
            check_key_count(count, mode)


def test_backoff_doubles_to_its_cap_with_half_jitter_and_resets_on_a_working_feed():
    top = Backoff(1.0, 8.0, rng=lambda: 1.0)
    bottom = Backoff(1.0, 8.0, rng=lambda: 0.0)
    delays = []
    for _ in range(6):
        delays.append((bottom.next_delay_s(), top.next_delay_s()))
        top.failed()
        bottom.failed()
    assert delays == [(0.0, 0.0), (0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (4.0, 8.0)]
    top.reset()
    assert top.next_delay_s() == 0.0 and not top.exhausted


def test_backoff_is_exhausted_after_its_attempts_and_survives_huge_failure_counts():
    backoff = Backoff(0.5, 30.0, max_attempts=3, rng=lambda: 1.0)
    for _ in range(3):
        assert not backoff.exhausted
        backoff.failed()
    assert backoff.exhausted
    backoff.failures = 10_000
    assert backoff.next_delay_s() == 30.0
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)
