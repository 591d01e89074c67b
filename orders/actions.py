"""What the engine does at the broker: place, modify, cancel — and what it does when the broker fails.

A part of OrderEngine (orders/engine.py) in a file of its own: the engine inherits these methods and
they use its state — `book`, `throttle`, `stats`, `trading_state`, `broker_down`, `_retry_at`, the
journaling pair `_mark` / `_emit`, `_flush` (everything emitted durable before the broker hears of
anything), `_now` (the market clock) and `_set_state`. The rules they keep:

- placement: `OrderSubmitting` is journaled and flushed BEFORE `broker.place`; a retryable failure
  leaves the order in doubt (looked up by its client id before anything is re-sent), a rejection is an
  `OrderRejected` with the broker's reason, a refused session (BrokerFatal) is a FATAL rejection that
  halts trading and holds every further action (`broker_down`);
- the throttle defers placements, never drops them: the bracket is planned again when it has room;
- a modify or cancel the broker could not take is retried after ACTION_RETRY_NS of market time, not
  on every event tick (at square-off that would be every tick, against the broker's rate limit).
"""

from common.errors import BrokerError, BrokerFatal, BrokerRejected, BrokerRetryable
from common.messages import OrderAccepted, OrderCanceled, OrderInDoubt, OrderModified, OrderRejected, OrderSubmitting
from orders import statemachine as sm
from orders.brackets import Cancel, Modify, Place, coid_of
from orders.brokers.base import OrderRequest

ACTION_RETRY_NS = 250_000_000


class BrokerActions:
    """Mixin of OrderEngine: the broker calls and their outcomes (see the module docstring)."""

    def _execute(self, actions: list) -> None:
        if self.broker_down:
            # Each would fail the same way; a stop rejected for a dead token would also lose its
            # place in the bracket. The legs are planned again by the process that has a session.
            self.stats["held_actions"] += len(actions)
            return
        for a in actions:
            if isinstance(a, Place):
                venue = self._exchanges[a.instrument]
                if self.throttle.room(self._now(), venue) <= 0:
                    self._deferred.add(venue)  # exits wait for the throttle, never get dropped
                    self.stats["deferred_placements"] += 1
                    continue
                self._submit(a)
            elif isinstance(a, Modify):
                self._modify(a)
            elif isinstance(a, Cancel):
                self._cancel(a)

    def _submit(self, a: Place) -> None:
        self._mark()
        coid = coid_of(a.intent_id, a.role, a.n)
        self._emit(OrderSubmitting(
            ts_event_ns=self._now(), client_order_id=coid, intent_id=a.intent_id,
            strategy=a.strategy, bracket_id=a.bracket_id, role=a.role, instrument=a.instrument,
            symbol=self._symbols[a.instrument], side=a.side, qty=a.qty, order_type=a.order_type,
            price=a.price, trigger_price=a.trigger_price, tick_seq=self._seq))
        self._send(self.book.orders[coid])

    def _send(self, order) -> None:
        req = OrderRequest(order.client_order_id, order.instrument, order.symbol,
                           self._exchanges[order.instrument], order.side, order.qty,
                           order.order_type, order.price, order.trigger_price, after_seq=self._seq)
        coid, now = order.client_order_id, self._now()
        self._flush()               # the broker never hears of what the journal lacks
        try:
            ack = self._broker.place(req)
        except BrokerRejected as e:
            self._emit(OrderRejected(ts_event_ns=now, client_order_id=coid, reason=str(e),
                                     code=e.code or "REJECTED"))
        except BrokerRetryable as e:
            self._emit(OrderInDoubt(ts_event_ns=now, client_order_id=coid, reason=f"place: {e}"))
        except BrokerFatal as e:
            # Refused at the door (the session), so certainly not at the exchange: FATAL, not in doubt.
            self._emit(OrderRejected(ts_event_ns=now, client_order_id=coid, reason=str(e), code="FATAL"))
            self._broker_fatal(e)
        else:
            self._on_ack(order, ack.broker_order_id, ack.status, ack.reason, ack.code)

    def _on_ack(self, order, broker_order_id: str, status: str, reason: str, code: str) -> None:
        if status == sm.REJECTED:
            self._emit(OrderRejected(ts_event_ns=self._now(), client_order_id=order.client_order_id,
                                     broker_order_id=broker_order_id, reason=reason,
                                     code=code or "REJECTED"))
        else:
            self._emit(OrderAccepted(ts_event_ns=self._now(), client_order_id=order.client_order_id,
                                     broker_order_id=broker_order_id, status=status))

    def _modify(self, a: Modify) -> None:
        order = self.book.orders[a.client_order_id]
        if not order.broker_order_id or not order.working or self._backing_off(order):
            return
        self._mark()
        self._flush()               # the broker never hears of what the journal lacks
        price = order.price if a.price < 0 else a.price
        trigger = order.trigger_price if a.trigger_price < 0 else a.trigger_price
        try:
            self._broker.modify(order.broker_order_id, qty=a.qty,
                                price=None if a.price < 0 else price,
                                trigger_price=None if a.trigger_price < 0 else trigger)
        except BrokerFatal as e:
            self._broker_fatal(e)
            return
        except BrokerError:
            self._back_off(order)   # level-triggered: planned again once the backoff has passed
            return
        self._retry_at.pop(order.client_order_id, None)
        self._emit(OrderModified(ts_event_ns=self._now(), client_order_id=order.client_order_id,
                                 qty=a.qty, price=price, trigger_price=trigger))

    def _cancel(self, a: Cancel) -> None:
        order = self.book.orders[a.client_order_id]
        if not order.broker_order_id or not order.working or order.status == sm.CANCEL_PENDING:
            return
        if self._backing_off(order):
            return
        self._mark()
        self._flush()               # the broker never hears of what the journal lacks
        try:
            ack = self._broker.cancel(order.broker_order_id)
        except BrokerRejected:
            # Already final at the broker: its fill or cancel report is on the way. Ask no more.
            self.book.request_cancel(order)
            self._touch(order)
            return
        except BrokerFatal as e:
            self._broker_fatal(e)
            return
        except BrokerError:
            self._back_off(order)
            return
        self._retry_at.pop(order.client_order_id, None)
        if ack.status == sm.CANCELED:
            self._emit(OrderCanceled(ts_event_ns=self._now(), client_order_id=order.client_order_id,
                                     broker_order_id=order.broker_order_id, reason=a.reason))
        else:
            self.book.request_cancel(order)
            self._touch(order)

    def _broker_reachable(self) -> bool:
        """True unless our session is refused; then only once every probe interval (wall clock,
        at least 10 s: Kite may block an API key that keeps calling with a dead token), and that
        one call is the probe."""
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
            self.desk.touch_all()

    def _backing_off(self, order) -> bool:
        due = self._retry_at.get(order.client_order_id, 0)
        if due and self._now() < due:
            self.stats["backed_off_actions"] += 1
            return True
        return False

    def _back_off(self, order) -> None:
        self.stats["broker_errors"] += 1
        self._retry_at[order.client_order_id] = self._now() + ACTION_RETRY_NS
