"""What the orders stage does with reconciliation (orders/reconcile.py): when to compare, and what a
difference does to trading.

- When: at start, once recovery has settled the in-doubt orders; every `interval_s` of wall clock
  (live brokers; 0 = never); and when asked (`ctl reconcile`, RequestReconcile).
- A difference counts only once a check finds it again, unchanged, at least `confirm_s` after the
  check that first found it (the engine polls the broker in between): a fill the broker made a
  moment ago and our poll has not read yet is not a mismatch. "Unchanged" is the whole difference,
  its quantities too: the position of an instrument off by one fill in flight and, a few seconds
  later, by another (an entry's, then its target's) is two passing differences, not one seen
  twice. A check asked for in between (`ctl reconcile`, the look of a `ctl resume`) is a fresh look,
  never a shorter wait. While the start check waits for its confirmation, or for a broker that could
  not answer it, the stage applies no tick (`holding`): nothing is traded before the account is
  known to match.
- A confirmed difference is `outstanding`: trading HALTED through the engine's public
  `set_trading_state`, the differences named in the reason and in `orders.reconcile.json` (the
  supervisor's status, /health and summary.json read it). `allows_active()` is False while any is
  outstanding: the stage refuses ACTIVE (never ACTIVE on a mismatch).
- The operator resolves it: `adopt()` takes the broker's view as the baseline (reconcile.adopt) and,
  if the halt is ours alone (the engine's journaled `halt_reasons`, so after a restart too), sets
  ACTIVE; during a flatten it first releases the entries in doubt whose row the broker's book cannot
  show (the operator has checked them at the broker: the engine's `release_unreadable_entries`,
  orders/resume.py), which nothing else can settle and which would block the resume all day;
  `cancel_unknown()` (part of `ctl flatten`) cancels the working
  orders of ours the journal does not know; after either, a fresh check decides. The adoption is
  itself a check, and takes the views only once every difference in them is confirmed: a fill in
  flight at that moment would otherwise become an adopted offset, and the position would differ by
  it for good once our poll reads it. It waits instead (`adopt_wanted`, as for a broker that could
  not answer) until what it would adopt has held for `confirm_s` or gone.
The baseline is the account's, not the run's: it is saved in `baseline_dir` (the account's trading
day, supervision/accountday.py) and loaded by any later start that day; the run dir's file
shows the last check.
"""

from __future__ import annotations

import os
import time

import orjson

from common.atomicfile import write_atomic
from common.errors import BrokerError, BrokerFatal
from common.reconcilestate import FILE_NAME
from orders.reconcile import (AccountView, Baseline, Difference, adopt, broker_view, compare,
                              engine_view)

FATAL_RETRY_S = 10.0      # the start check after a refused session: as often as the engine probes
CONFIRM_S = 3.0           # longer than a live adapter's poll interval: the poll catches up first
BASELINE_FILE = "reconcile.baseline.json"   # the operator's adoptions, in the account's day
# a read the broker could not answer (throttled, 5xx) is tried again this soon
RETRY_S = 1.0
SHOWN_IN_REASON = 3       # differences named in the trading-state reason (all are in the file)
REASON_PREFIX = "reconcile:"   # how our halts' reasons begin (the engine journals them)


class Reconciler:
    def __init__(
        self,
        engine,
        broker,
        symbols,
        run_dir: str,
        *,
        interval_s: float,
        on_start: bool,
        baseline_dir: str | None = None,
        confirm_s: float = CONFIRM_S,
        clock=time.monotonic,
        log=None,
    ):
        self.engine, self.broker, self.symbols = engine, broker, list(symbols)
        self.path = os.path.join(run_dir, FILE_NAME)
        self.baseline_path = os.path.join(baseline_dir or run_dir, BASELINE_FILE)
        self.interval_s, self.confirm_s, self.clock, self.log = interval_s, confirm_s, clock, log
        self.baseline = self._load_baseline()
        self.pending: dict[str, Difference] = {}     # seen, waiting for the confirming check
        self.seen_at: dict[str, float] = {}          # pending key -> when it was first seen as is
        self.outstanding: list[Difference] = []      # confirmed: trading stays HALTED
        # the start check is waiting for its confirmation
        self.holding = False
        self.checks = 0
        self.adopt_wanted = False                    # an adoption the broker could not answer yet
        self.released: list[str] = []                # entries the adoption under way released
        self.last: dict = {}
        self.error = ""
        self.due = 0.0 if on_start else self._next_periodic()
        self._starting = on_start

    def _next_periodic(self) -> float:
        return self.clock() + self.interval_s if self.interval_s > 0 else float("inf")

    def request(self) -> None:
        """Check at the next poll (ctl reconcile)."""
        self.due = self.clock()

    def poll(self) -> None:
        # After a fatal broker error (a refused session) the engine makes no call but its probe; nor
        # do we.
        if self.clock() < self.due or getattr(self.engine, "broker_down", ""):
            return
        if self.adopt_wanted:
            self.adopt()
        else:
            self.check()

    def allows_active(self) -> bool:
        return not self.outstanding

    def permits(self, state: str) -> bool:
        """Whether the engine may take `state` (an operator's or the supervisor's) now: never ACTIVE
        while a difference is outstanding. Looks again first: the operator may have fixed it by
        hand."""
        if state != "ACTIVE" or self.allows_active():
            return True
        if getattr(self.engine, "broker_down", ""):
            return False               # no call with a refused session: the difference stands
        self.check()
        if not self.allows_active():
            self._warn(
                "ACTIVE refused: our view still differs from the broker's",
                differences=self.reason(),
            )
        return self.allows_active()

    # -- the check -------------------------------------------------------------------------------
    def check(self) -> list[Difference]:
        """Compare now; confirm, halt or clear. Returns the confirmed differences."""
        views = self._look()
        if views is not None:
            self._judge(*views)
            self._write()
        return self.outstanding

    def _look(self) -> tuple[AccountView, AccountView] | None:
        """Our view and the broker's, or None when the broker could not answer (said, and tried
        again: `_unanswered`)."""
        try:
            return engine_view(self.engine, self.symbols), broker_view(self.broker, self.symbols)
        except BrokerError as e:
            self._unanswered(e)      # not a mismatch, not a pass
            return None

    def _judge(self, ours: AccountView, theirs: AccountView) -> None:
        """One check's verdict on the two views: what is confirmed (halting on a new one), what
        waits for its confirmation, and when the next check is due."""
        self.checks += 1
        self.error = ""
        now = self.clock()
        found = compare(ours, theirs, self.baseline)
        before = {d.key for d in self.outstanding}
        pending: dict[str, Difference] = {}
        seen_at: dict[str, float] = {}
        outstanding = []
        for d in found:
            # what is already confirmed stays so while it differs, by whatever quantity now
            if d.key in before or self._confirmed(d, now):
                outstanding.append(d)
            else:                    # new, or changed since it was seen: its wait starts now
                pending[d.key] = d
                seen_at[d.key] = self.seen_at[d.key] if self.pending.get(d.key) == d else now
        self.pending, self.seen_at, self.outstanding = pending, seen_at, outstanding
        if any(d.key not in before for d in self.outstanding):
            self._mismatch()
        self.holding = self._starting and bool(self.pending)
        self._starting = self._starting and bool(self.pending)
        self.due = min(seen_at.values()) + self.confirm_s if pending else self._next_periodic()
        self.last = {"checks": self.checks, "ok": not found, "found": [d.describe() for d in found]}

    def _confirmed(self, d: Difference, now: float) -> bool:
        """Seen before exactly as it is now, at least `confirm_s` ago."""
        return self.pending.get(d.key) == d and now - self.seen_at[d.key] >= self.confirm_s

    def _mismatch(self) -> None:
        self._warn("reconcile: our view differs from the broker's; trading halted",
                   differences=[d.describe() for d in self.outstanding])
        if self.engine.trading_state != "HALTED":
            self.engine.set_trading_state("HALTED", self.reason())
        # outlives the day's loss-limit halt (not ours to lift)
        elif self.engine.halt_ends_with_day:
            self.engine.set_trading_state("HALTED", self.reason())

    def reason(self) -> str:
        shown = "; ".join(d.describe() for d in self.outstanding[:SHOWN_IN_REASON])
        more = len(self.outstanding) - SHOWN_IN_REASON
        extra = f"; and {more} more" if more > 0 else ""
        return (f"{REASON_PREFIX} {len(self.outstanding)} difference(s) with the broker: {shown}"
                f"{extra} (ctl adopt takes the broker's view, ctl flatten closes)")

    def _halt_is_ours(self) -> bool:
        """Trading is HALTED for our reasons alone, as the engine's journal says: a halt that held
        before ours (the day's loss limit) or that anyone added since (the operator, a stop) is not
        ours to lift. From the journal, so a restarted orders knows it too: it used to remember
        only its own halts, and `ctl adopt` after a restart left the trader HALTED."""
        reasons = self.engine.halt_reasons
        return (self.engine.trading_state == "HALTED" and bool(reasons)
                and all(r.startswith(REASON_PREFIX) for r in reasons))

    # -- the operator's resolutions --------------------------------------------------------------
    def adopt(self) -> Baseline:
        """The broker's view becomes the baseline once it has settled; ACTIVE again if the halt was
        ours. The adoption looks first, as a check does: while anything it finds is not confirmed
        (a fill in flight, a difference too new to tell) it adopts nothing yet, and `poll` tries
        again when that is decided. So does a broker that cannot be read."""
        self.adopt_wanted = True
        released = self.engine.release_unreadable_entries("operator: ctl adopt")
        if released:
            self.released += released
            self._warn("reconcile: the operator released entries in doubt that the broker's book "
                       "cannot show", released=released)
        views = self._look()
        if views is None:
            return self.baseline
        ours, theirs = views
        self._judge(ours, theirs)
        if self.pending:
            self._write()
            return self.baseline
        self.adopt_wanted = False
        self.baseline = adopt(ours, theirs, self.baseline)
        adopted = [d.describe() for d in self.outstanding]
        self.outstanding, self.holding, self._starting = [], False, False
        self._warn("reconcile: the operator adopted the broker's view", adopted=adopted,
                   baseline=self.baseline.to_json())
        if self._halt_is_ours():
            self.engine.set_trading_state(
                "ACTIVE", f"operator adopted the broker's view ({len(adopted)} difference(s))"
            )
        self.due = self._next_periodic()
        self.last = {"checks": self.checks, "ok": True, "found": [], "adopted": adopted,
                     "released": self.released}
        self.released = []
        # durable
        write_atomic(self.baseline_path, orjson.dumps({"baseline": self.baseline.to_json()}))
        self._write()
        return self.baseline

    def cancel_unknown(self) -> int:
        """Cancel the working orders of ours at the broker that the journal does not know (a broker
        that cannot list them: said, and the next check still finds them)."""
        if getattr(self.engine, "broker_down", ""):
            # no call with a refused session (issue: a dead session means no calls)
            return 0
        ours = engine_view(self.engine, self.symbols)
        canceled = 0
        try:
            rows = self.broker.orders()
        except BrokerError as e:
            self._unanswered(e)
            return 0
        for o in rows:
            if (
                o.client_order_id
                and o.client_order_id not in ours.orders
                and o.status in ("ACCEPTED", "PARTIALLY_FILLED")
            ):
                try:
                    self.broker.cancel(o.broker_order_id)
                    canceled += 1
                except BrokerError as e:
                    self._warn(
                        "reconcile: cannot cancel an unknown order",
                        client_order_id=o.client_order_id,
                        error=str(e),
                    )
        self.request()
        return canceled

    def _unanswered(self, e: BrokerError) -> None:
        """Try again soon after a blip; after a fatal error only with the next periodic check (the
        engine's probe finds out when the session works again)."""
        self.error = str(e)
        self.holding = self._starting    # at start, an unverified account is not traded either
        if not isinstance(e, BrokerFatal):
            self.due = self.clock() + RETRY_S
        elif self._starting:
            # The start check must happen (nothing is traded until it has): tried again every
            # FATAL_RETRY_S, and `poll` makes no call while the engine says the session is refused.
            self.due = self.clock() + FATAL_RETRY_S
        else:
            self.due = self._next_periodic()
        self._warn("reconcile: the broker did not answer", error=str(e))
        self._write()

    # -- persistence -----------------------------------------------------------------------------
    def _load_baseline(self) -> Baseline:
        """The account day's baseline; a run dir written before baselines moved there keeps its
        own."""
        path = self.baseline_path if os.path.exists(self.baseline_path) else self.path
        try:
            with open(path, "rb") as f:
                return Baseline.from_json(orjson.loads(f.read()).get("baseline"))
        except FileNotFoundError:
            return Baseline()
        except (OSError, ValueError, TypeError, AttributeError) as e:
            self._warn("reconcile: saved baseline unreadable, starting without one", error=str(e))
            return Baseline()

    def as_json(self) -> dict:
        return {
            "ok": not self.outstanding,
            "outstanding": [d.describe() for d in self.outstanding],
            "pending": [d.describe() for d in self.pending.values()],
            "holding": self.holding,
            "error": self.error,
            "last": self.last,
            "baseline": self.baseline.to_json(),
            "adopted_positions": {
                self._symbol(k): v for k, v in sorted(self.baseline.position_offsets.items())
            },
            "ts_ns": time.time_ns(),
        }

    def _symbol(self, instrument: int) -> str:
        return self.symbols[instrument] if 0 <= instrument < len(self.symbols) else f"#{instrument}"

    def _write(self) -> None:
        write_atomic(
            self.path, orjson.dumps(self.as_json(), option=orjson.OPT_INDENT_2), durable=False
        )

    def _warn(self, message: str, **fields) -> None:
        if self.log is not None:
            self.log.warning(message, **fields)

