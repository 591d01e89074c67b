"""BrokerGateway: what the orders engine does at the broker — place, modify, cancel, poll — what it
journals of what the broker reports (fills with their charges, acks, cancels), and what it does when
the broker fails.

The engine (orders/engine.py) holds one and calls it; the gateway holds the broker. Everything it
needs from the engine is named in its constructor: the order book it reads, the throttle, the
engine's journal (`EngineJournal`: the tick marker, emit-then-apply, flush), the market clock, and
three reactions (`touch` an order's bracket, `halt` trading, `replan_all` brackets). It changes the
engine's state by emitting events through that journal (and marks a cancel in flight on the book).
The rules it keeps:

- placement: `OrderSubmitting` is journaled and flushed BEFORE `broker.place`; a retryable failure
  leaves the order in doubt (looked up by its client id before anything is re-sent:
  orders/recovery.py), a rejection is an `OrderRejected` with the broker's reason, a refused session
  (BrokerFatal) is a FATAL rejection that halts trading and holds every further action
  (`broker_down`);
- the throttle defers placements, never drops them: the bracket is planned again when it has room;
  exits come first (the engine acts on them before any entry of the settle), and while an exit
  waits for room no entry is placed in that settle, on any exchange (`exit_waits`): an entry would
  take the account's room the waiting stop needs;
- a modify or cancel the broker could not take is retried after ACTION_RETRY_NS of market time, not
  on every event tick (at square-off that would be every tick, against the broker's rate limit);
- while the session is refused, nothing is sent, looked up or polled but one probe every probe
  interval (wall clock, at least 10 s: Kite may block an API key that keeps calling with a dead
  token).
"""

from collections.abc import Callable
from dataclasses import dataclass

from common.errors import BrokerError, BrokerFatal, BrokerRejected, BrokerRetryable, throttled
from common.messages import (OrderAccepted, OrderCanceled, OrderFilled, OrderInDoubt, OrderModified,
                             OrderRejected, OrderSubmitting)
from orders import statemachine as sm
from orders.actions import Cancel, Modify, Place, coid_of
from orders.brokers.base import BrokerOrder, BrokerTrade, OrderRequest
from orders.exposure import NEVER_NS

ACTION_RETRY_NS = 250_000_000


def order_of(book, client_order_id: str, broker_order_id: str):
    """Our order a broker report is about, by our id or (a report without it) the broker's."""
    return book.orders.get(client_order_id) or book.by_broker_id.get(broker_order_id)


@dataclass(frozen=True, slots=True)
class EngineJournal:
    """The engine's journal as the gateway (and recovery) write to it.

    mark:  journal "the events that follow belong to the tick being settled", once per tick
    emit:  journal one event, then apply it to the engine's state (the only way that state changes)
    flush: make everything emitted durable; called before every broker call
    """

    mark: Callable[[], None]
    emit: Callable[[object], None]
    flush: Callable[[], None]


class BrokerGateway:
    """The broker calls and their outcomes (see the module docstring).

    Parameters
    ----------
    broker : an orders.brokers.base.Broker.
    book : the engine's orders.orderbook.OrderBook: changed through `journal.emit`, except a
        cancel in flight (`request_cancel`, not journaled: the cancel's outcome is, when the broker
        reports it).
    throttle : the engine's orders.orderrate.OrderRate (room for a placement, per exchange).
    journal : EngineJournal.
    clock : the market clock, ns.
    venues, symbols : each instrument's exchange and trading symbol, by instrument index.
    fees : orders.fees.FeeSchedule: the charges journaled with each fill.
    stats : the engine's counters, incremented here by name.
    touch : an order changed: its bracket is planned again.
    halt : the session was refused: trading HALTED with this reason (if not already so).
    replan_all : every bracket is planned again (calls resume after a refused session).
    wall_ns, probe_interval_ns : the wall clock and the interval of the refused session's probe.
    """

    def __init__(self, broker, book, throttle, journal: EngineJournal, clock: Callable[[], int], *,
                 venues: list[str], symbols: list[str], fees, stats: dict, touch: Callable,
                 halt: Callable[[str], None], replan_all: Callable[[], None],
                 wall_ns: Callable[[], int], probe_interval_ns: int):
        self.broker, self.book, self.throttle = broker, book, throttle
        self._journal, self._now = journal, clock
        self._venues, self._symbols, self._fees, self.stats = venues, symbols, fees, stats
        self._touch, self._halt, self._replan_all = touch, halt, replan_all
        # Set when the broker refused our session (a dead token): nothing is sent, looked up or
        # polled but one probe every probe interval, until a call goes through again (a new token,
        # a new process). Not journaled: it is a fact about this process's session.
        self.broker_down = ""
        self._wall_ns, self._probe_interval_ns = wall_ns, probe_interval_ns
        self._next_probe_ns = 0
        self.deferred: set[str] = set()       # exchanges whose placements the throttle deferred
        # market ns at which the first exit the throttle held back in this settle has room (0: none)
        self.exit_wait_ns = 0
        self.retry_at: dict[str, int] = {}    # client order id -> market ns: modify/cancel backoff

    # ---------------------------------------------------------------- actions

    def new_settle(self) -> None:
        """A settle begins: what the throttle deferred in the last one is planned afresh."""
        self.deferred.clear()
        self.exit_wait_ns = 0

    def exit_waits(self, free_ns: int) -> None:
        """An exit (stop, target, square-off, flatten) waits for throttle room until `free_ns`:
        no entry is placed before it for the rest of the settle."""
        self.exit_wait_ns = min(self.exit_wait_ns or free_ns, free_ns)

    def execute(self, actions: list, seq: int) -> None:
        """Act on the planned actions at tick `seq` (the tick being settled); once the session is
        refused, the rest are held (a new intent's entry slices are executed together, and the
        refusal of the first halts trading and ends them)."""
        for i, a in enumerate(actions):
            if self.broker_down:
                # Each would fail the same way; a stop rejected for a dead token would also lose
                # its place in the bracket. The legs are planned again by the process that has a
                # session.
                self.stats["held_actions"] += len(actions) - i
                return
            if isinstance(a, Place):
                # One reading of the market clock serves the whole placement: nothing in it moves
                # the clock (its tick marker is stamped with this same time), and it was read four
                # times per placement before.
                now = self._now()
                venue = self._venues[a.instrument]
                entry = a.role == "ENTRY"
                if entry and self.exit_wait_ns:
                    self.stats["deferred_placements"] += 1   # after the exit that waits
                    continue
                if self.throttle.room(now, venue) <= 0:
                    self.deferred.add(venue)  # exits wait for the throttle, never get dropped
                    self.stats["deferred_placements"] += 1
                    if not entry:
                        self.exit_waits(self.throttle.next_free_ns(now, venue))
                    continue
                self._submit(a, seq, now, venue)
            elif isinstance(a, Modify):
                self._modify(a)
            elif isinstance(a, Cancel):
                self._cancel(a)

    def _submit(self, a: Place, seq: int, now: int, venue: str) -> None:
        self._journal.mark()
        coid = coid_of(a.intent_id, a.role, a.n)
        self._journal.emit(OrderSubmitting(
            ts_event_ns=now, client_order_id=coid, intent_id=a.intent_id,
            strategy=a.strategy, bracket_id=a.bracket_id, role=a.role, instrument=a.instrument,
            symbol=self._symbols[a.instrument], side=a.side, qty=a.qty, order_type=a.order_type,
            price=a.price, trigger_price=a.trigger_price, tick_seq=seq))
        order = self.book.orders[coid]
        order.unsent = True         # a new order of this process: nothing of it has gone out yet
        self._send(order, seq, now, venue)

    def send(self, order, seq: int) -> None:
        """Place a journaled order (its OrderSubmitting emitted) and journal the outcome."""
        self._send(order, seq, self._now(), self._venues[order.instrument])

    def _send(self, order, seq: int, now: int, venue: str) -> None:
        """`send` at market time `now`, on `venue` (the order's exchange)."""
        req = OrderRequest(order.client_order_id, order.instrument, order.symbol, venue,
                           order.side, order.qty, order.order_type, order.price,
                           order.trigger_price, after_seq=seq)
        coid, emit = order.client_order_id, self._journal.emit
        self._journal.flush()       # the broker never hears of what the journal lacks
        try:
            ack = self.broker.place(req)
        except BrokerRejected as e:
            emit(OrderRejected(ts_event_ns=now, client_order_id=coid, reason=str(e),
                               code=e.code or "REJECTED"))
        except BrokerRetryable as e:
            emit(OrderInDoubt(ts_event_ns=now, client_order_id=coid, reason=f"place: {e}"))
            # Refused before sending by the adapter's own rate limit: `unsent` stays as it was
            # (true while every attempt of this process's new order was refused so), and such an
            # order's retry sends without a lookup. Lookups read the whole order book from the API
            # budget the fill polls need; a burst of throttled legs looked up every second starved
            # the trade-book read and left filled entries without their stops for seconds.
            if throttled(e):
                self.stats["throttled"] += 1
            else:
                order.unsent = False
            return
        except BrokerFatal as e:
            # Refused at the door (the session), so certainly not at the exchange: FATAL, not in
            # doubt.
            emit(OrderRejected(ts_event_ns=now, client_order_id=coid, reason=str(e), code="FATAL"))
            self.refused(e)
        else:
            self._acknowledge(order, ack.broker_order_id, ack.status, ack.reason, ack.code, now)
        order.unsent = False

    def acknowledge(self, order, broker_order_id: str, status: str, reason: str, code: str) -> None:
        """Journal the broker's answer to a placement: rejected, or accepted with its status."""
        self._acknowledge(order, broker_order_id, status, reason, code, self._now())

    def _acknowledge(self, order, broker_order_id: str, status: str, reason: str, code: str,
                     now: int) -> None:
        """`acknowledge` at market time `now`."""
        if status == sm.REJECTED:
            self._journal.emit(
                OrderRejected(
                    ts_event_ns=now,
                    client_order_id=order.client_order_id,
                    broker_order_id=broker_order_id,
                    reason=reason,
                    code=code or "REJECTED",
                )
            )
        else:
            self._journal.emit(
                OrderAccepted(
                    ts_event_ns=now,
                    client_order_id=order.client_order_id,
                    broker_order_id=broker_order_id,
                    status=status,
                )
            )

    def _modify(self, a: Modify) -> None:
        order = self.book.orders[a.client_order_id]
        if not order.broker_order_id or not order.working or self._backing_off(order):
            return
        self._journal.mark()
        self._journal.flush()       # the broker never hears of what the journal lacks
        price = order.price if a.price < 0 else a.price
        trigger = order.trigger_price if a.trigger_price < 0 else a.trigger_price
        try:
            self.broker.modify(order.broker_order_id, qty=a.qty,
                               price=None if a.price < 0 else price,
                               trigger_price=None if a.trigger_price < 0 else trigger)
        except BrokerFatal as e:
            self.refused(e)
            return
        except BrokerError as e:
            self._back_off(order, e)   # level-triggered: planned again once the backoff has passed
            return
        self.retry_at.pop(order.client_order_id, None)
        self._journal.emit(
            OrderModified(
                ts_event_ns=self._now(),
                client_order_id=order.client_order_id,
                qty=a.qty,
                price=price,
                trigger_price=trigger,
            )
        )

    def _cancel(self, a: Cancel) -> None:
        order = self.book.orders[a.client_order_id]
        if not order.broker_order_id or not order.working or order.status == sm.CANCEL_PENDING:
            return
        if self._backing_off(order):
            return
        self._journal.mark()
        self._journal.flush()       # the broker never hears of what the journal lacks
        try:
            ack = self.broker.cancel(order.broker_order_id)
        except BrokerRejected:
            # Already final at the broker: its fill or cancel report is on the way. Ask no more.
            self.book.request_cancel(order)
            self._touch(order)
            return
        except BrokerFatal as e:
            self.refused(e)
            return
        except BrokerError as e:
            self._back_off(order, e)
            return
        self.retry_at.pop(order.client_order_id, None)
        if ack.status == sm.CANCELED:
            self._journal.emit(
                OrderCanceled(
                    ts_event_ns=self._now(),
                    client_order_id=order.client_order_id,
                    broker_order_id=order.broker_order_id,
                    reason=a.reason,
                )
            )
        else:
            self.book.request_cancel(order)
            self._touch(order)

    # ---------------------------------------------------------------- reports and the session

    def reports(self) -> list:
        """The broker's new fills and order updates. A fatal error (the session or token died) halts
        trading with its reason, as a fatal placement does, instead of crashing the stage; while
        the session is refused only a probe every probe interval asks."""
        if not self._reachable():
            return []
        try:
            events = self.broker.poll_events()
        except BrokerFatal as e:
            self.refused(e)
            return []
        self._session_back()
        return events

    def on_report(self, report, seq: int) -> None:
        """Journal one of `reports()` at tick `seq`: a BrokerTrade or a BrokerOrder."""
        if isinstance(report, BrokerTrade):
            self.on_trade(report, seq)
        else:
            self.on_order(report)

    def on_trade(self, t: BrokerTrade, seq: int) -> None:
        """A fill, journaled with its charges once (a fill id already in the book is skipped)."""
        if t.trade_id in self.book.fill_ids:
            return
        order = order_of(self.book, t.client_order_id, t.broker_order_id)
        if order is None:
            self.stats["unknown_fills"] += 1   # not ours (placed by hand): positions reconciles it
            return
        self._journal.mark()
        fees = self._fees.fill_charges(order.side, t.qty, t.price, order.filled_value,
                                       order.instrument)
        self._journal.emit(OrderFilled(
            ts_event_ns=t.ts_event_ns or self._now(), client_order_id=order.client_order_id,
            broker_order_id=t.broker_order_id or order.broker_order_id, fill_id=t.trade_id,
            strategy=order.strategy, bracket_id=order.bracket_id, role=order.role,
            instrument=order.instrument, symbol=order.symbol, side=order.side, qty=t.qty,
            price=t.price, fees_inr=fees, tick_seq=t.tick_seq or seq,
            leaves_qty=max(0, order.qty - order.filled_qty - t.qty)))

    def on_order(self, bo: BrokerOrder) -> None:
        """The broker's record of one of our orders: what the journal lacks of it (its ack, its
        rejection, its cancel at the broker) is journaled; an order already final is left alone.
        An order whose placement was in doubt may be found already canceled (by the exchange, by
        hand): accepted, then canceled, never left working in the book for ever.
        A stop the broker reports triggered is marked so (not journaled: the broker says it again
        after a restart) and its bracket planned again: its target must go before the market turns
        back through both exits."""
        order = order_of(self.book, bo.client_order_id, bo.broker_order_id)
        if order is None or order.status in sm.TERMINAL:
            return
        if bo.triggered and not order.triggered:
            order.triggered = True
            self._touch(order)
        if order.status in (sm.SUBMITTING, sm.IN_DOUBT) and bo.status != sm.REJECTED:
            self._journal.mark()
            self.acknowledge(order, bo.broker_order_id, sm.ACCEPTED, "", "")
        if bo.status == sm.REJECTED:
            self._journal.mark()
            self.acknowledge(order, bo.broker_order_id, sm.REJECTED, bo.reason, "REJECTED")
        elif bo.status == sm.CANCELED:
            self._journal.mark()
            self._journal.emit(
                OrderCanceled(
                    ts_event_ns=self._now(),
                    client_order_id=order.client_order_id,
                    broker_order_id=bo.broker_order_id,
                    reason=bo.reason or "canceled at the broker",
                )
            )

    def refused(self, e: BrokerFatal) -> None:
        """The broker refused our session: halt with its reason and hold every further action,
        every lookup and every poll but one probe each probe interval."""
        self.broker_down = self.broker_down or str(e)
        self._next_probe_ns = self._wall_ns() + self._probe_interval_ns
        self._halt(f"broker fatal error: {e}")

    def _reachable(self) -> bool:
        """True unless our session is refused; then only once every probe interval, and that one
        call is the probe."""
        if not self.broker_down:
            return True
        now = self._wall_ns()
        if now < self._next_probe_ns:
            return False
        self._next_probe_ns = now + self._probe_interval_ns
        self.stats["probes"] += 1
        return True

    def _session_back(self) -> None:
        """A call went through after the session was refused: calls resume (held legs are planned
        again); trading stays HALTED, as resuming is the operator's call."""
        if self.broker_down:
            self.broker_down = ""
            self._replan_all()

    # ---------------------------------------------------------------- pacing

    def throttled_until(self, order) -> int:
        """0 when the order-rate throttle has room for another placement of `order` now, else the
        market ns at which it will (recovery's resends wait for it, as placements do). An entry
        also waits for an exit that waits (`exit_waits`)."""
        now, venue = self._now(), self._venues[order.instrument]
        if order.role == "ENTRY" and self.exit_wait_ns:
            return max(self.exit_wait_ns, now + 1)
        if self.throttle.room(now, venue) > 0:
            return 0
        return max(self.throttle.next_free_ns(now, venue), now + 1)

    def next_due_ns(self) -> int:
        """When a deferred placement has throttle room or a backed-off action is due (NEVER_NS if
        none). Drops the backoff of orders that are final: they need no more modify or cancel."""
        now, due = self._now(), NEVER_NS
        for venue in self.deferred:
            due = min(due, self.throttle.next_free_ns(now, venue))
        if self.retry_at:
            live = {c: t for c, t in self.retry_at.items() if self.book.orders[c].working}
            self.retry_at = live
            if live:
                due = min(due, min(live.values()))
        return due

    def _backing_off(self, order) -> bool:
        due = self.retry_at.get(order.client_order_id, 0)
        if due and self._now() < due:
            self.stats["backed_off_actions"] += 1
            return True
        return False

    def _back_off(self, order, e: BrokerError) -> None:
        self.count_failure(e)
        self.retry_at[order.client_order_id] = self._now() + ACTION_RETRY_NS

    def count_failure(self, e: BrokerError) -> None:
        """A call that did not go through: `throttled` when our own rate limit refused it before
        sending (nothing reached the broker; a square-off meets the limit hundreds of times), else
        `broker_errors` (what the broker answered or failed to)."""
        self.stats["throttled" if throttled(e) else "broker_errors"] += 1
