"""The recovery hold: a restarted orders stage settles its orders of unknown outcome at the broker
before it trades, and if the broker cannot tell it, it HOLDS — up, beating, applying no tick and
sending nothing — instead of crashing into a restart that would meet the same broker.

- A broker that refuses our session (a dead token) cannot tell us what happened to the orders:
  trading HALTED (journaled, resuming is the operator's call), tried again every RETRY_REFUSED_NS.
- A broker that could not answer (5xx, 429, a refused connection, a timeout: BrokerRetryable; or a
  read it refused) is a blip: the status shows HALTED with the reason, tried again after a growing
  backoff (`backoff_ns`), and once it answers the state shown before comes back by itself. The
  engine's own state is not touched, so nothing about the blip is journaled and a restart during it
  recovers exactly as before.
"""

from __future__ import annotations

from typing import Callable

from common.clock import mono_ns
from common.errors import BrokerError, BrokerFatal
from common.tradingstate import TradingState

RETRY_REFUSED_NS = 10_000_000_000     # a recovery the broker refused is tried again this often
# A recovery the broker could not answer is tried again after 0.5 s, doubling to 10 s: a blip is
# over in a second, an outage is not hammered.
BACKOFF_FIRST_NS = 500_000_000
BACKOFF_MAX_NS = 10_000_000_000


def backoff_ns(attempts: int) -> int:
    """The wait before the next try after `attempts` failed ones in a row: 0.5 s, 1 s, 2 s, ... 10
    s."""
    return min(BACKOFF_MAX_NS, BACKOFF_FIRST_NS << min(attempts, 16))


class RecoveryHold:
    """Parameters
    ----------
    engine : the stage's orders.engine.OrderEngine (restored from its journal).
    show_state : writes (state, reason) to the trading-state record the supervisor reads.
    log : the stage's logger.
    """

    def __init__(self, engine, show_state: Callable[[str, str], None], log):
        self.engine, self.show_state, self.log = engine, show_state, log
        self.error = ""               # why recovery is held ("" when it is not)
        self.retry_ns = 0             # mono_ns of the next try
        self.attempts = 0             # failed tries in a row (the backoff's exponent)
        # (state, reason) shown when a retryable hold began; not None while the hold is shown
        self.shown: tuple[str, str] | None = None

    def due(self) -> bool:
        """Held, and the next try is due."""
        return bool(self.error) and mono_ns() >= self.retry_ns

    def settle(self, recovered_reason: str) -> bool:
        """Settle the orders of unknown outcome at the broker; True once done, False while held.
        `recovered_reason`: the reason of the trading state the journal ends in (shown again once
        a blip is over)."""
        engine = self.engine
        try:
            engine.resolve_in_doubt()
        except BrokerFatal as e:
            if not self.error:
                self.log.error(
                    "cannot finish recovery: the broker refused our session; trading halted",
                    error=str(e),
                    retry_s=RETRY_REFUSED_NS / 1e9,
                )
                engine.broker_down = str(e)
                engine.halt(f"broker fatal error during recovery: {e}")
            self.error, self.retry_ns = str(e), mono_ns() + RETRY_REFUSED_NS
            return False
        except BrokerError as e:
            self._hold(e, recovered_reason)
            return False
        if self.shown is not None:
            self.log.warning("recovery finished: the broker answers again", attempts=self.attempts)
            # the engine's state now, not the one before the hold: a command during the hold (an
            # operator's halt) changed it
            self.show_state(engine.trading_state, engine.state_reason)
        self.error = engine.broker_down = ""
        self.attempts, self.shown = 0, None
        return True

    def _hold(self, e: BrokerError, recovered_reason: str) -> None:
        """The broker did not answer recovery's reads: show HALTED with why, try again after a
        backoff."""
        delay_ns = backoff_ns(self.attempts)
        self.attempts += 1
        reason = f"recovery: broker unreachable ({e}), retrying"
        if self.shown is None:
            self.shown = (self.engine.trading_state, recovered_reason)
            self.log.error(
                "cannot finish recovery: the broker did not answer; holding, trading halted",
                error=str(e),
                retry_s=delay_ns / 1e9,
            )
        self.show_state(TradingState.HALTED.name, reason)
        self.error, self.retry_ns = str(e), mono_ns() + delay_ns
