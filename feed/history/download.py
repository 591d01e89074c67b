"""One download: plan the missing chunks, fetch each within the rate limit, retry what may succeed
later, write each day atomically, and say what happened.

Per chunk (plan.py), in order:
1. wait for room under the broker's rate limit (ratelimit.py) and call the broker;
2. BrokerRetryable (HTTP 429, 5xx, network, a reply of the wrong shape): back off (exponential,
   jittered, as the feed's reconnects: feed/sources/upstox/backoff.py) and call again, up to
   `max_attempts` times; a read is idempotent, so retrying it is safe (unlike a placement);
3. BrokerRejected (a bad instrument key...): that symbol fails, named, and the others go on;
4. BrokerFatal (token expired or refused): stop at once, nothing more is sent; what is on disk is
   whole (store.py writes atomically) and a rerun after logging in fetches only the rest;
5. the candles are checked (candles.py); each day with candles becomes its file, and each day the
   broker had nothing for is recorded as empty so no rerun asks again, unless some row of the
   chunk was malformed (the missing day may be the malformed rows' day: it stays missing).

Days from `today` (IST) on are never fetched: today's session is not complete, and a partial day
written now would count as done forever.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

from common.errors import BrokerFatal, BrokerRejected, BrokerRetryable
from feed.history import candles
from feed.history.plan import Chunk, plan
from feed.sources.upstox.backoff import Backoff

# calls of one chunk before its symbol is given up (5 backoffs: ~1+2+4+8+16 s)
MAX_ATTEMPTS = 6


@dataclass
class Report:
    chunks: int = 0                  # calls the plan needed
    calls: int = 0                   # requests sent (retries included)
    retries: int = 0
    days_written: int = 0
    days_empty: int = 0
    days_not_yet: int = 0            # asked for, but from today on
    malformed: candles.Malformed = field(default_factory=candles.Malformed)
    failed: dict[str, str] = field(default_factory=dict)    # symbol -> why
    fatal: str = ""                  # why the download stopped (a refused token)

    def as_dict(self) -> dict:
        return {"chunks": self.chunks, "calls": self.calls, "retries": self.retries,
                "days_written": self.days_written, "days_empty": self.days_empty,
                "days_not_yet": self.days_not_yet, "malformed": dict(self.malformed.counts),
                "malformed_examples": [list(e) for e in self.malformed.examples],
                "failed": dict(self.failed), "fatal": self.fatal}


class Download:
    """Parameters
    ----------
    client : KiteHistory or UpstoxHistory (fetch, name, requests_sent).
    store : HistoryStore of the interval.
    limiter : throttle.RateLimiter with the broker's limits.
    today : the IST calendar day now; days from it on are not fetched.
    sleep, backoff : injected so tests need not wait (backoff: () -> a fresh Backoff).
    """

    def __init__(self, client, store, limiter, *, interval: str, oi: bool, today: dt.date,
                 sleep=time.sleep, backoff=None, max_attempts: int = MAX_ATTEMPTS):
        self.client, self.store, self.limiter = client, store, limiter
        self.interval, self.oi, self.today = interval, oi, today
        self._sleep = sleep
        self._backoff = backoff or (lambda: Backoff(1.0, 30.0, max_attempts=max_attempts))
        self.report = Report()

    def plan(self, keys: dict[str, str], first: dt.date, last: dt.date) -> list[Chunk]:
        """The chunks still missing for every symbol of `keys` (symbol -> broker key)."""
        stop = min(last, self.today - dt.timedelta(days=1))
        self.report.days_not_yet = max(0, (last - max(first, self.today)).days + 1)
        if stop < first:
            return []
        done = {symbol: self.store.done_days(symbol, need_oi=self.oi) for symbol in keys}
        chunks = plan(self.client.name, self.interval, list(keys), first, stop, done)
        self.report.chunks = len(chunks)
        return chunks

    def run(self, keys: dict[str, str], chunks: list[Chunk], on_chunk=None) -> Report:
        """Fetch `chunks` in order; `on_chunk(chunk)` after each (the progress bar)."""
        for chunk in chunks:
            if chunk.symbol not in self.report.failed:
                try:
                    rows = self._fetch(keys[chunk.symbol], chunk)
                except BrokerFatal as e:
                    self.report.fatal = str(e)
                    return self.report
                if rows is not None:
                    self._store(chunk, rows)
            if on_chunk is not None:
                on_chunk(chunk)
        return self.report

    def _fetch(self, key: str, chunk: Chunk) -> list | None:
        """The chunk's raw rows; None when its symbol failed (recorded). Raises BrokerFatal."""
        backoff = self._backoff()
        while True:
            self.limiter.wait()
            self.report.calls += 1
            try:
                return self.client.fetch(key, chunk.first, chunk.last, self.interval, self.oi)
            except BrokerRejected as e:
                self.report.failed[chunk.symbol] = str(e)
                return None
            except BrokerRetryable as e:
                backoff.failed()
                if backoff.exhausted:
                    self.report.failed[chunk.symbol] = (
                        f"{e} (gave up after {backoff.failures} attempts)"
                    )
                    return None
                self.report.retries += 1
                self._sleep(backoff.next_delay_s())

    def _store(self, chunk: Chunk, rows: list) -> None:
        before = self.report.malformed.total
        by_day = candles.parse(chunk.symbol, rows, set(chunk.days), self.report.malformed)
        meta = {"broker": self.client.name, "interval": self.interval,
                "oi": int(self.oi or self.client.always_oi)}
        for day in sorted(by_day):
            self.store.write_day(chunk.symbol, day, by_day[day], meta)
        self.report.days_written += len(by_day)
        if self.report.malformed.total == before:
            empty = [d for d in chunk.days if d not in by_day]
            self.store.add_empty(chunk.symbol, empty)
            self.report.days_empty += len(empty)
