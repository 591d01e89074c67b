"""The venue the supervisor runs for a rehearsal (localvenue/venue.py): which one a config asks for,
and that it starts, streams matched sim ticks and stops, whatever the sim profile."""

import os
import threading

import pytest

from config.loader import load_config
from localvenue.venue import LocalKiteVenue, LocalUpstoxVenue, local_venue

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "config", "examples")


def _config(broker: dict, sim: dict | None = None):
    """The broker's local example (its instruments carry that broker's keys), `broker` and `sim`
    over it."""
    example = (
        os.path.join(EXAMPLES, f"{broker['name']}-local.json")
        if broker["name"] != "paper"
        else None
    )
    overrides = {"broker": broker, **({"feed": {"sim": sim}} if sim is not None else {})}
    return load_config(example, environ={}, dotenv_path=None, overrides=overrides).config


def test_local_venue_when_the_broker_is_paper_then_there_is_none(tmp_path):
    assert local_venue(_config({"name": "paper"}), str(tmp_path)) is None


@pytest.mark.parametrize("name, kind", [("kite", LocalKiteVenue), ("upstox", LocalUpstoxVenue)])
def test_local_venue_when_local_server_has_no_address_then_it_is_that_brokers(tmp_path, name, kind):
    assert (
        type(local_venue(_config({"name": name, name: {"local_server": True}}), str(tmp_path)))
        is kind
    )


@pytest.mark.parametrize("name, address", [("kite", {"root": "http://127.0.0.1:9"}),
                                           ("upstox", {"host": "http://127.0.0.1:9"})])
def test_local_venue_when_local_server_has_an_address_then_none_is_started(tmp_path, name, address):
    # A test hosting its own venue (to flip its failure switches) sets the address; a second one
    # would take the stages' orders away from it.
    config = _config({"name": name, name: {"local_server": True, **address}})
    assert local_venue(config, str(tmp_path)) is None


def _addresses(venue, config) -> tuple:
    """Where the pointed config sends the stages, and where the venue's two servers listen."""
    if venue.name == "kite":
        return (config.broker.kite.root, config.feed.kite.root), (venue.rest.url, venue.ticker.url)
    return (config.broker.upstox.host, config.feed.upstox.host), (
        venue.rest.url,
        venue.feed_server.url,
    )


@pytest.mark.parametrize("name", ["kite", "upstox"])
@pytest.mark.parametrize("sim", [{}, {"profile": "stress", "tick_rate_hz": 2000}],
                         ids=["realistic (default)", "stress"])
def test_venue_when_started_on_either_sim_profile_then_it_streams_ticks_and_stops(
    tmp_path, name, sim
):
    before = set(threading.enumerate())
    venue = local_venue(_config({"name": name, name: {"local_server": True}}, sim), str(tmp_path))
    pointed = venue.start()
    try:
        wanted, listening = _addresses(venue, pointed)
        assert wanted == listening
        first, second = venue.advance(), venue.advance()
        # unpaced: the venue sets the pace
        assert len(first) == venue.TICKS_PER_INTERVAL == len(second)
        # the venue's market thread may advance in between (no feed client asks): later, never
        # reused
        for rows in (first, second):
            assert list(rows["seq"]) == list(
                range(int(rows["seq"][0]), int(rows["seq"][0]) + len(rows))
            )
        assert 1 <= first["seq"][0] and second["seq"][0] > first["seq"][-1]
    finally:
        venue.stop()
    assert (tmp_path / f"venue_{name}.jsonl").exists()
    assert [
        t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon
    ] == []
