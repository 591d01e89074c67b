"""Private by default (issue 12.8): everything a run writes, the supervisor's files and the stages',
is its owner's only; /health answers only requests addressed to a loopback name."""

import http.client
import os
import stat

import pytest

from tests.chaos.harness import Pipeline

pytestmark = pytest.mark.slow


def _status(port: int, host: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest("GET", "/health", skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def _loose(run_dir: str) -> list[str]:
    """Every path under run_dir (itself included) that anyone but its owner may read, write or
    enter; a link (the account day's files) is judged by what it points at (a link's own mode means
    nothing)."""
    out = []
    for root, dirs, files in os.walk(run_dir):
        for path in [root] + [os.path.join(root, f) for f in files]:
            if os.path.islink(path) and not os.path.exists(path):
                continue                 # a day file not written yet (e.g. no reconcile so far)
            mode = os.stat(path).st_mode
            if stat.S_IMODE(mode) & 0o077:
                out.append(f"{oct(stat.S_IMODE(mode))} {os.path.relpath(path, run_dir)}")
    return out


def test_a_run_when_it_ends_then_every_file_and_directory_of_it_is_private_and_health_refuses_foreign_hosts(  # noqa: E501 - the name is the test's sentence
    tmp_path,
):
    # a typical login umask: the supervisor must not depend on the caller's
    old = os.umask(0o022)
    try:
        with Pipeline(tmp_path) as p:
            p.wait_running()
            assert _status(p.port, "evil.example") == 421
            assert _status(p.port, f"evil.example:{p.port}") == 421
            assert _status(p.port, f"127.0.0.1:{p.port}") == 200
            assert _status(p.port, f"localhost:{p.port}") == 200
    finally:
        os.umask(old)
    assert p.exit_code == 0, p.output()[-3000:]
    names = {
        os.path.relpath(os.path.join(r, f), p.run_dir)
        for r, _, fs in os.walk(p.run_dir)
        for f in fs
    }
    # The supervisor's files and each stage's: a check that saw only some of them would prove
    # little.
    assert {
        "supervisor.jsonl",
        "summary.json",
        "run.json",
        "config.effective.json",
        "positions.json",
        "logs/feed.log",
        "logs/orders.log",
        "logs/signals.log",
        "logs/positions.log",
    } <= names, names
    assert _loose(p.run_dir) == []
    # The account's home, for runs that keep an account day: tests/integration/test_account_day.py.
