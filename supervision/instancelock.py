"""One supervisor per run directory and per broker account (issue 11.4).

Two supervisors on one run dir overwrote each other's run.json, appended to one supervisor.jsonl and
the second one's teardown deleted the first one's ipc directory; two on one broker account (two run
dirs) both traded it, each counting the other's fills as unknown and together breaking the position
limit. So `supervisor.py` takes two exclusive locks before it creates or deletes anything (run.json,
supervisor.jsonl, the ipc directory, shared memory, the dead-run sweep, a local venue):

- `<run_dir>/supervisor.lock`;
- `<account home>/<broker>-<key>/account.lock`, where key names the account without revealing it
  (a hash of the API key for a live broker; the paper account's name for paper; the local server's
  address for a local venue). A local venue the supervisor starts itself is private to the run: no
  account lock. The account's directory (ours alone, 0700, checked like the run registry) also holds
  its trading days (supervision/accountday.py).

The locks are `fcntl.flock`s held for the life of the process: the kernel drops them when it exits,
however it exits, so a lock left by a SIGKILLed supervisor is simply taken by the next start, which
then writes its own holder (pid, run dir, since when) into the file. A start that finds a lock held
is refused with a LockHeld naming that holder.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time

import orjson

from common.errors import OTradeError
from supervision.registry import ensure_private_dir

RUN_LOCK = "supervisor.lock"
ACCOUNT_LOCK = "account.lock"     # in the account's home (supervision/accountday.py)


class LockHeld(OTradeError):
    """Another live supervisor holds the run dir or the broker account."""


class InstanceLock:
    """An exclusive flock on `path`, with the holder written into the file once held."""

    def __init__(self, path: str, what: str):
        self.path = path
        # "run dir /x" or "account kite-1a2b...", for the refusal message
        self.what = what
        self.fd: int | None = None

    def acquire(self, run_dir: str) -> "InstanceLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockHeld(
                f"{self.what} is in use by {describe(holder)}; refusing to start a second "
                f"supervisor (stop that one first)"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        # Ours now, whoever held it before (a dead holder's info is stale: rewrite it).
        doc = {
            "pid": os.getpid(),
            "run_dir": run_dir,
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "lock": self.what,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, orjson.dumps(doc) + b"\n", 0)
        self.fd = fd
        return self

    def release(self) -> None:
        """Unlock (the file stays: removing it would race with a start that just opened it)."""
        if self.fd is not None:
            os.close(self.fd)       # closing the only descriptor drops the flock
            self.fd = None


def _read_holder(fd: int) -> dict:
    try:
        doc = orjson.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, orjson.JSONDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def describe(holder: dict) -> str:
    if not holder.get("pid"):
        return "another supervisor (holder not recorded yet)"
    return (f"pid {holder['pid']} (run dir {holder.get('run_dir', '?')}, "
            f"since {holder.get('since', '?')})")


def account_key(config, secrets) -> str | None:
    """The name of the broker account this configuration trades, or None for a run-private venue.

    Never the credential itself: a live broker's account is the first 16 hex of SHA-256 of its API
    key.
    """
    broker = config.broker
    if broker.name == "paper":
        return f"paper-{_safe(broker.paper.account)}"
    venue = getattr(broker, broker.name)
    if venue.local_server:
        address = venue.root if broker.name == "kite" else venue.host
        if address is None:
            return None             # the supervisor starts this venue for this run alone
        return f"{broker.name}-local-{_digest(address)}"
    api_key = secrets.get("KITE_API_KEY" if broker.name == "kite" else "UPSTOX_API_KEY") or ""
    return f"{broker.name}-{_digest(api_key)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"


def take_instance_locks(config, secrets, run_dir: str) -> list[InstanceLock]:
    """Lock the run dir, then the account; on a refusal release what was taken and raise
    LockHeld."""
    locks = [InstanceLock(os.path.join(run_dir, RUN_LOCK), f"run dir {run_dir}")]
    key = account_key(config, secrets)
    # A replay trades a simulation of past days in its own run dir, never the account: no account
    # lock (it would refuse a backtest while the account trades). Configs without a feed section
    # lock.
    if key is not None and getattr(getattr(config, "feed", None), "source", "") != "replay":
        from supervision.accountday import HOME_NAMES, home_root

        root = home_root(config)
        os.makedirs(root, mode=0o700, exist_ok=True)
        account = os.path.join(root, key)
        ensure_private_dir(account, *HOME_NAMES)
        locks.append(InstanceLock(os.path.join(account, ACCOUNT_LOCK), f"broker account {key}"))
    held: list[InstanceLock] = []
    try:
        for lock in locks:
            held.append(lock.acquire(run_dir))
    except BaseException:
        release_all(held)
        raise
    return held


def release_all(locks: list[InstanceLock]) -> None:
    for lock in reversed(locks):
        lock.release()
