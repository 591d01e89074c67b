"""Review of the account home (issue 11.1): what a run that resumed the account's day reports about
itself.

Two short runs of the real `python supervisor.py` on one paper account, the same IST day, each with
a fresh run dir. The run dir's orders.jsonl is now a link to the day's journal, so every reader of
the run dir that counts from it counts the whole day.
"""

import collections
import json
import os

import pytest

from tests.chaos.harness import Pipeline, paper_on_a_live_feed

pytestmark = pytest.mark.slow


def _records(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _run(tmp_path, live: dict) -> Pipeline:
    with Pipeline(tmp_path, live, args=["--duration", "4"]) as p:
        code = p.wait_exit(timeout=120)
    assert code in (0, 3), p.output()[-3000:]
    return p


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """(the second run, what it added to the day's journal by record type, the day's totals)."""
    tmp_path = tmp_path_factory.mktemp("resumed")
    with pytest.MonkeyPatch.context() as env, paper_on_a_live_feed(tmp_path / "venue") as (_, live):
        # module-scoped: the autouse per-test account home is not set yet
        env.setenv("OTRADE_ACCOUNT_HOME", str(tmp_path_factory.mktemp("accounts")))
        first = _run(tmp_path, live)
        with open(os.path.join(first.run_dir, "account.json")) as f:
            day_dir = json.load(f)["dir"]
        before = len(_records(os.path.join(day_dir, "orders.jsonl")))
        second = _run(tmp_path, live)
    records = _records(os.path.join(day_dir, "orders.jsonl"))
    return (
        second,
        collections.Counter(r["type"] for r in records[before:]),
        collections.Counter(r["type"] for r in records),
    )


def test_summary_when_a_run_resumes_the_account_day_then_its_order_counts_are_its_own_or_labelled_as_the_days(  # noqa: E501 - the name is the test's sentence
    resumed,
):
    second, added, _ = resumed
    with open(os.path.join(second.run_dir, "summary.json")) as f:
        summary = json.load(f)
    orders = summary["stages"]["orders"]
    labelled_as_day = all(
        "day" in str(orders["counted_from"][k]) for k in ("orders", "fills", "denials")
    )
    own = (orders["counters"]["orders"] == added["OrderSubmitting"]
           and orders["counters"]["fills"] == added["OrderFilled"]
           and orders["counters"]["denials"] == added["OrderDenied"])
    assert own or labelled_as_day, (orders["counters"], orders["counted_from"], dict(added))


def test_report_when_a_run_resumes_the_account_day_then_its_figures_are_its_own_or_labelled_as_the_days(  # noqa: E501 - the name is the test's sentence
    resumed,
):
    import html
    import re

    second, added, day = resumed
    assert day["OrderSubmitting"] != added["OrderSubmitting"], (
        "the runs cannot be told apart: the test shows nothing"
    )
    with open(os.path.join(second.run_dir, "report.html")) as f:
        text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", f.read())))
    shown = int(re.search(r"Orders submitted (\d+)", text).group(1))
    labelled_as_day = "account day" in text.lower() or "the day's" in text.lower()
    assert shown == added["OrderSubmitting"] or labelled_as_day, (shown, dict(added))
