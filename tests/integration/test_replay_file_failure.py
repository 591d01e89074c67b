"""A replay file the feed cannot use ends the run at once with its cause named, not after a crash
loop (issue 12.7): `python supervisor.py` with a recording whose price column was renamed."""

import pytest

from tests.chaos.harness import Pipeline

pytestmark = pytest.mark.slow


def test_supervisor_when_the_replay_file_has_no_price_column_then_the_feed_is_not_restarted_and_the_cause_is_named(  # noqa: E501 - the name is the test's sentence
    tmp_path,
):
    recording = tmp_path / "session.csv"
    recording.write_text(
        "ts_event_ns,symbol,ltp\n"
        + "".join(f"{1_767_584_700_000_000_000 + i},RELIANCE,1480.0\n" for i in range(2_000))
    )
    with Pipeline(
        tmp_path, {"feed": {"source": "replay", "replay": {"path": str(recording)}}}
    ) as p:
        code = p.wait_exit(timeout=120)
    assert code != 0, p.output()[-3000:]
    feed = [e for e in p.events() if e["stage"] == "feed"]
    assert [e["kind"] for e in feed].count("spawn") == 1
    [give_up] = [e for e in feed if e["kind"] == "give_up"]
    assert "session.csv" in give_up["reason"] and "no 'price' column" in give_up["reason"]
    assert "no 'price' column" in p.output()
    assert p.leftovers() == {"segments": [], "sockets": []}
