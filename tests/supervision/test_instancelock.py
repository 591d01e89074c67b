"""One supervisor per run dir and per broker account (issue 11.4): the locks themselves, in-process.
The end-to-end refusals (a second `python supervisor.py`) are in
tests/integration/test_one_instance.py."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import msgspec
import pytest

from supervision.instancelock import (
    RUN_LOCK,
    InstanceLock,
    LockHeld,
    account_key,
    release_all,
    take_instance_locks,
)
from config.schema import BrokerConfig, RunConfig
from config.secrets import Secrets


def _config(**broker):
    """What the locks read of a configuration: its broker and run sections, validated by the real
    schema."""
    return SimpleNamespace(broker=msgspec.convert(broker, BrokerConfig), run=RunConfig())


@pytest.fixture(autouse=True)
def private_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("OTRADE_REGISTRY_DIR", str(tmp_path / "registry"))


def test_lock_when_the_run_dir_is_held_then_a_second_take_is_refused_naming_pid_run_dir_and_since(
    tmp_path,
):
    run = tmp_path / "run"
    run.mkdir()
    first = take_instance_locks(_config(), Secrets(), str(run))
    try:
        with pytest.raises(LockHeld) as refused:
            take_instance_locks(_config(), Secrets(), str(run))
        message = str(refused.value)
        assert (
            f"run dir {run}" in message
            and f"pid {os.getpid()}" in message
            and "since 20" in message
        )
    finally:
        release_all(first)
    # released: the next start succeeds
    again = take_instance_locks(_config(), Secrets(), str(run))
    release_all(again)


def test_lock_when_the_account_is_held_from_another_run_dir_then_the_second_is_refused_and_leaves_no_lock(  # noqa: E501 - the name is the test's sentence
    tmp_path,
):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = take_instance_locks(_config(), Secrets(), str(tmp_path / "a"))
    try:
        with pytest.raises(
            LockHeld, match=r"broker account paper-default is in use by pid \d+ \(run dir .*/a,"
        ):
            take_instance_locks(_config(), Secrets(), str(tmp_path / "b"))
        # The refused start released the run-dir lock it had taken: b is free for another account.
        other = take_instance_locks(
            _config(name="paper", paper={"account": "second"}), Secrets(), str(tmp_path / "b")
        )
        release_all(other)
    finally:
        release_all(first)


def test_lock_when_its_holder_was_sigkilled_then_the_next_start_takes_it_and_rewrites_the_holder(
    tmp_path,
):
    path = tmp_path / "held.lock"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {os.getcwd()!r})
        from supervision.instancelock import InstanceLock
        InstanceLock({str(path)!r}, "test").acquire("/elsewhere")
        print("held", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"held"
        with pytest.raises(LockHeld, match=rf"pid {holder.pid} \(run dir /elsewhere"):
            InstanceLock(str(path), "test").acquire(str(tmp_path))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    lock = InstanceLock(str(path), "test").acquire(str(tmp_path))
    try:
        doc = json.loads(path.read_text())
        assert doc["pid"] == os.getpid() and doc["run_dir"] == str(tmp_path)
    finally:
        lock.release()


def test_account_key_when_live_then_it_names_the_broker_and_never_contains_the_api_key():
    key = account_key(_config(name="kite"), Secrets({"KITE_API_KEY": "abcd1234secret"}))
    assert key.startswith("kite-") and "abcd1234secret" not in key and len(key) == len("kite-") + 16
    assert account_key(_config(name="kite"), Secrets({"KITE_API_KEY": "other"})) != key


def test_account_key_when_the_supervisor_starts_its_own_local_venue_then_there_is_no_account_lock():
    assert account_key(_config(name="kite", kite={"local_server": True}), Secrets()) is None
    shared = account_key(
        _config(name="kite", kite={"local_server": True, "root": "http://127.0.0.1:9"}), Secrets()
    )
    assert shared.startswith("kite-local-")


def test_lock_file_when_taken_is_in_the_run_dir_and_private(tmp_path):
    locks = take_instance_locks(_config(), Secrets(), str(tmp_path))
    try:
        assert (tmp_path / RUN_LOCK).stat().st_mode & 0o077 == 0
    finally:
        release_all(locks)
