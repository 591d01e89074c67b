"""Intake: an intent's way into the engine, once the tick it was raised on is settled.

The risk gate (orders/risk.py) judges it against the book, the exposure, the order rate and the
session; a refused intent is journaled as an OrderDenied with its reason, an approved one is
journaled itself (applying it opens its bracket, orders/engine.py `_apply`) with the price its
bracket's legs keep their distance from, and its entry is sent at once (orders/gateway.py).

An intent whose id the journal already holds (a bracket or a denial) is a re-delivery when it came
before a restart (counted, dropped: it was handled) and a duplicate otherwise (risk denies it).
"""

from __future__ import annotations

import msgspec

from common.messages import OrderDenied
from orders.actions import coid_of
from orders.risk import describe


class Intake:
    """Parameters
    ----------
    risk, limits, desk, book, exposure, throttle, gateway : the engine's own (orders/engine.py).
    journal : the engine's EngineJournal (orders/gateway.py): mark, emit, flush.
    symbols : instrument index -> symbol.
    now : the engine's market clock (ns).
    stats : the engine's counters (redelivered_intents, duplicate_intents).
    """

    def __init__(self, risk, limits, desk, book, exposure, throttle, gateway, journal,
                 symbols: list[str], now, stats: dict):
        self.risk, self.limits, self.desk, self.book = risk, limits, desk, book
        self.exposure, self.throttle, self.gateway = exposure, throttle, gateway
        self.journal = journal
        self.symbols, self.now, self.stats = symbols, now, stats

    def take(self, intent, *, seq: int, trading_state: str, denied: set[str],
             restored: set[str]) -> None:
        """Judge `intent` at tick `seq`: deny it, or open its bracket and send its entry."""
        iid = intent.intent_id
        known = iid in self.desk.brackets or iid in denied
        if known:
            if iid in restored:
                self.stats["redelivered_intents"] += 1   # a re-delivery after a restart: handled
                return
            self.stats["duplicate_intents"] += 1
        ex = self.exposure
        clock_ns = ex.clock_ns
        code, facts = self.risk.check(
            intent, duplicate=known, trading_state=trading_state,
            phase=self.limits.phase(clock_ns), clock_ns=clock_ns, book=self.book,
            exposure=ex, throttle=self.throttle, reachable=self._reachable(intent.instrument),
            open_brackets=self._open_brackets(intent))
        self.journal.mark()
        if code:
            in_table = 0 <= intent.instrument < len(self.symbols)
            symbol = self.symbols[intent.instrument] if in_table else intent.symbol
            self.journal.emit(OrderDenied(
                ts_event_ns=self.now(), intent_id=iid,
                client_order_id=coid_of(iid, "ENTRY", 0), strategy=intent.strategy,
                instrument=intent.instrument, symbol=symbol, side=intent.side, qty=intent.qty,
                reason_code=code, reason=describe(code, **facts)))
            return
        # The bracket's legs keep their distance from this price (see orders/brackets.py).
        ref = intent.limit_price if intent.order_type == "LIMIT" else \
            float(ex.last_price[intent.instrument])
        self.journal.emit(msgspec.structs.replace(intent, ref_price=ref))
        self.gateway.execute(list(self.desk.brackets[iid].entry_plan), seq)

    def _open_brackets(self, intent) -> int:
        """The intent's strategy's active brackets on its instrument (risk's BRACKET_OPEN)."""
        if not self.limits.max_brackets_per_instrument:
            return 0
        return sum(1 for b in self.desk.active_on(intent.instrument)
                   if b.strategy == intent.strategy)

    def _reachable(self, instrument: int) -> tuple[int, int]:
        if not 0 <= instrument < len(self.symbols):
            return 0, 0
        return self.desk.reachable(instrument, self.book)
