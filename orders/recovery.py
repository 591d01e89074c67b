"""Recovery: finding out at the broker what the journal does not know.

Three questions, each asked by client order id (the broker carries ours in the order's tag):

- an order in doubt (`OrderSubmitting` journaled, the broker's answer lost: a crash, a timeout) is
  looked up, after a restart and then every IN_DOUBT_RETRY_NS of market time: found, its status
  is journaled; never received, it is sent (again) — never before the lookup says so, and only
  as the order-rate throttle has room; a lookup that cannot answer waits for the next retry. An
  absence counts only once the attempt is IN_DOUBT_RETRY_NS old on the engine's clock (the
  request may still be on its way to the broker), after a restart too: a younger one waits for
  its retry. Exits are sent again at once; entries only after the settle's exits have had their
  turn at the throttle (`send_entries`), only while entries are open, and never once a halt or
  REDUCING met their bracket (orders/brackets.py "HALTED", "REDUCING");
- fills the broker made that the journal lacks (a crash between the fill and its event);
- working orders the broker has since canceled or rejected, and stops it has since triggered.

The orders asked about at once share one read of the broker's book (`find_by_client_ids`), however
many they are: the in-doubt retries of a settle, the questions of a restart.

The engine (orders/engine.py `resolve_in_doubt`, `_settle`) decides when to ask; this module asks
through the gateway (orders/gateway.py) and journals through the engine's journal; what it finds is
journaled by the gateway as a polled broker report would be (`on_order`, `on_trade`).
"""

from collections.abc import Callable, Collection, Sequence

from common.errors import BrokerError, BrokerFatal
from common.messages import OrderCanceled, OrderInDoubt, OrderRejected, OrderSubmitting
from orders import statemachine as sm
from orders.brokers.base import BrokerOrder, BrokerTrade
from orders.exposure import NEVER_NS
from orders.gateway import BrokerGateway, EngineJournal, order_of
from orders.orderbook import Order

IN_DOUBT_RETRY_NS = 1_000_000_000
# Why a lookup whose read went through could not settle an order: the broker's book has a row of
# ours it cannot read (orders/brokers/live.py `find_by_client_ids`): it cannot be told from absent.
UNREADABLE = "the broker's book cannot tell whether it was received (its row cannot be read)"
# OrderRejected.code of an entry the broker never received and that is not sent again: entries had
# closed (the cut-off, a halt, a square-off or flatten, the day) by the time it was known absent.
NOT_SENT = "NOT_SENT"


class Recovery:
    """The in-doubt lookups and the restart's questions to the broker (see the module docstring).

    Every lookup of one call shares ONE read of the broker's book (`find_by_client_ids`): a live
    broker's book read is a request of the API budget the fill polls need (Kite: 10 a second for
    everything but placements), and a blip that left a dozen orders in doubt spent a second of it
    on a dozen reads of the same book, leaving fills unread — positions without their stops.

    Parameters
    ----------
    gateway : the engine's BrokerGateway (its broker, its refused-session state, `send`,
    `on_order`). book : the engine's orders.orderbook.OrderBook.
    journal : the engine's EngineJournal.
    clock : the market clock, ns.
    stats : the engine's counters.
    entry_closed : order -> why that entry, never received by the broker, may not be sent now ("":
        it may): the engine's trading state, a halt met while the entry was in doubt, the session
        phase and day, its bracket.
    """

    def __init__(
        self,
        gateway: BrokerGateway,
        book,
        journal: EngineJournal,
        clock: Callable[[], int],
        *,
        stats: dict,
        entry_closed: Callable[[object], str],
    ):
        self.gateway, self.book, self._journal, self._now = gateway, book, journal, clock
        self.stats, self._entry_closed = stats, entry_closed
        # client order id -> market ns before which it is not looked up again: a lookup that could
        # not answer (the read failed, the order's row was malformed) waits for its next retry,
        # as an order newly in doubt does. Not journaled: a restarted engine simply asks again.
        self._held: dict[str, int] = {}
        # Client ids whose last lookup read the book but not their row (UNREADABLE): in doubt
        # until the book shows them, or the operator releases them (`release_unreadable`).
        self.unreadable: set[str] = set()
        # Entries a lookup found absent, sent once the settle's exits have had the throttle
        # (`send_entries`): protective orders get the order-rate room first.
        self._entries: dict[str, Order] = {}

    def retry_due(self, seq: int, *, now_too: Collection[str] = ()) -> None:
        """At tick `seq`: look up again each order in doubt for IN_DOUBT_RETRY_NS or longer, all
        with one read of the broker's book.

        `now_too`: client ids of orders in doubt to look up at once, before their retry is due
        (the entries a halt has just met): found at the broker, each is journaled at once (a
        working entry is then canceled as the halt's); known never sent (refused by the adapter's
        own throttle), it is settled at once; absent from the book, it waits for its retry, as an
        absence is trusted only that long after the attempt (a request still in flight may yet
        arrive).
        """
        if self.gateway.broker_down:
            return                        # no lookup with a refused session: they wait for it
        now = self._now()
        due, early = [], []
        for order in self.book.unresolved():
            if order.status != sm.IN_DOUBT:
                continue
            if now >= self._due_ns(order):
                due.append(order)
            elif order.client_order_id in now_too:
                early.append(order)
        if due or early:
            self.resolve(due, seq, early=early)

    def next_due_ns(self) -> int:
        """When the next order in doubt is due for its lookup (NEVER_NS if none). Forgets the
        holds of orders no longer in doubt."""
        due = self._now() if self._entries and not self.gateway.broker_down else NEVER_NS
        unresolved = self.book.unresolved()
        for order in unresolved:
            if order.status == sm.IN_DOUBT:
                due = min(due, self._due_ns(order))
        if self._held or self.unreadable:
            left = {o.client_order_id for o in unresolved}
            self._held = {c: t for c, t in self._held.items() if c in left}
            self.unreadable &= left
        return due

    def _due_ns(self, order) -> int:
        return max(order.settled_ns + IN_DOUBT_RETRY_NS, self._held.get(order.client_order_id, 0))

    def resolve(self, orders: Sequence, seq: int, *, early: Sequence = ()) -> None:
        """Look orders of unknown outcome up by client id, with one read of the broker's book for
        all of them; send each only if the broker never received it — never before the lookup says
        so. An order IN_DOUBT is sent as a new attempt (its own OrderSubmitting); one SUBMITTING
        (a restart: the dead process journaled "about to send" and no answer) as that attempt.
        `early`: orders looked up before their retry is due (see `retry_due`): only what the book
        shows of them is acted on, and one known never sent (`unsent`) is settled.

        A read that fails leaves every order in doubt (journaled so for one still SUBMITTING) and
        holds every lookup until its next retry; a refused session (BrokerFatal) halts and they
        wait for it, as does every order after a resend the session refused.

        An absence counts only once the attempt (its OrderSubmitting) is IN_DOUBT_RETRY_NS old on
        the engine's clock: a younger request may still reach a broker across a network
        (`_in_flight`), and a second one sent now would be a duplicate (a second stop can close a
        position twice and leave it short). Such an order waits for its retry (`_too_soon`). This
        matters after a restart, whose lookups are made at once: on a replay's market clock the
        dead process's last attempt is moments old; on a live feed the stage has moved the clock to
        the wall's (orders/stage.py `finish_recovery`), and an attempt made before the crash
        usually is not."""
        gw = self.gateway
        if gw.broker_down:
            return                        # they stay in doubt until the session works again
        asked = [o.client_order_id for o in (*orders, *early) if not o.unsent]
        found, error = self._look_up(asked)
        for order in orders:
            if gw.broker_down:
                break                     # a resend met a refused session: the rest wait for it
            coid = order.client_order_id
            if order.unsent:              # every attempt refused before sending: nothing to find
                self._absent(order, seq)
            elif coid not in found:
                if not error:
                    self.unreadable.add(coid)
                self._unanswered(order, error or UNREADABLE)
            elif found[coid] is not None:
                self.unreadable.discard(coid)
                gw.on_order(found[coid])
            elif self._in_flight(order):
                self.unreadable.discard(coid)
                self._too_soon(order)
            else:
                self.unreadable.discard(coid)
                self._absent(order, seq)
        for order in early:
            if gw.broker_down:
                break
            coid = order.client_order_id
            if not order.unsent and coid not in found and not error:
                self.unreadable.add(coid)
            answer = found.get(coid)
            if answer is not None:
                self.unreadable.discard(coid)
                gw.on_order(answer)
            elif order.unsent:
                self._absent(order, seq)

    def _look_up(self, client_order_ids: list[str]) -> tuple[dict, str]:
        """(client id -> the broker's record or None, "") from one read of its book; ({}, why)
        when the read failed, every lookup then held until its next retry."""
        if not client_order_ids:
            return {}, ""
        try:
            return self.gateway.broker.find_by_client_ids(client_order_ids), ""
        except BrokerError as e:
            if isinstance(e, BrokerFatal):
                self.gateway.refused(e)
            until = self._now() + IN_DOUBT_RETRY_NS
            for order in self.book.unresolved():
                if not order.unsent:
                    self._held[order.client_order_id] = until
            return {}, str(e)

    def _in_flight(self, order) -> bool:
        """`order`'s last attempt, absent from the broker's book, may still reach it: younger than
        a retry interval on the engine's clock, at a broker across a network (`book_is_ours`: the
        paper broker's book is in this process, and nothing is ever in flight to it)."""
        return (self._now() < order.submitted_ns + IN_DOUBT_RETRY_NS
                and not self.gateway.broker.book_is_ours)

    def _too_soon(self, order) -> None:
        """Not in the broker's book, but the attempt is younger than a retry interval: it may still
        arrive. The order waits for its retry (journaled in doubt if it was still SUBMITTING: a
        restart's question about the dead process's last attempt)."""
        self._held[order.client_order_id] = order.submitted_ns + IN_DOUBT_RETRY_NS
        if order.status != sm.IN_DOUBT:
            self._journal.mark()
            self._journal.emit(OrderInDoubt(
                ts_event_ns=self._now(), client_order_id=order.client_order_id,
                reason="lookup: not in the broker's book yet, and the attempt is under a retry "
                       "interval old (it may still be on its way)"))

    def _absent(self, order, seq: int) -> None:
        """The broker never received `order`: an exit is sent again now; an entry waits for
        `send_entries`, after the settle's exits (one that may not go is rejected now)."""
        if order.role == "ENTRY" and not self._entry_closed(order):
            self._entries[order.client_order_id] = order
        else:
            self._resend(order, seq)

    def send_entries(self, seq: int) -> None:
        """Send the entries the lookups found absent, once the settle's exits have had their turn
        at the order-rate throttle (orders/engine.py `_plan_and_execute`). Each is judged again
        (`_resend`): entries may have closed since. With the session refused they stay queued."""
        if not self._entries:
            return
        todo, self._entries = self._entries, {}
        for coid, order in todo.items():
            if self.gateway.broker_down:
                self._entries[coid] = order
            elif order.status in (sm.SUBMITTING, sm.IN_DOUBT):
                self._resend(order, seq)

    def release_unreadable(self, reason: str) -> list[str]:
        """The operator's way out of entries in doubt for good (their row in the broker's book
        cannot be read): each is journaled canceled — the operator has checked it at the broker
        (canceled it there if it was working, closed there what it filled) — and is looked up no
        more. Entries only: an exit's fill decides whether its position is still open, and giving
        one up could close that position twice. Returns the client ids released."""
        released = []
        for order in self.book.unresolved():
            coid = order.client_order_id
            if order.role != "ENTRY" or coid not in self.unreadable:
                continue
            self._journal.mark()
            self._journal.emit(OrderCanceled(
                ts_event_ns=self._now(), client_order_id=coid, broker_order_id="",
                reason=f"released by the operator ({reason}): the broker's book cannot show it"))
            self.unreadable.discard(coid)
            self._held.pop(coid, None)
            released.append(coid)
        return released

    def _unanswered(self, order, why: str) -> None:
        """The lookup could not tell: the order stays in doubt and is asked again at its next
        retry."""
        self._held[order.client_order_id] = self._now() + IN_DOUBT_RETRY_NS
        if order.status != sm.IN_DOUBT:
            self._journal.mark()
            self._journal.emit(OrderInDoubt(ts_event_ns=self._now(), reason=f"lookup: {why}",
                                            client_order_id=order.client_order_id))

    def _resend(self, order, seq: int) -> None:
        """Send an order the broker is known not to have. An entry is sent only while
        `entry_closed` has nothing against it (trading active and no halt met while it was in
        doubt, before the cut-off of its day, its bracket open): one in doubt across the cut-off,
        a halt, a flatten or the night would otherwise open a position the session no longer
        allows; it is rejected here instead, with why, and its bracket ends as any refused entry's
        does.

        A new attempt waits for room in the order-rate throttle, as any placement does (the
        account's windows, the exchange's ops threshold): the orders found absent by one read are
        sent as the throttle lets them, the rest held until it has room, and looked up again then
        (one that never left, `unsent`, is simply sent); an entry also waits while an exit does
        (orders/gateway.py `exit_waits`). A SUBMITTING order is the attempt its journal entry
        already counted."""
        why = self._entry_closed(order) if order.role == "ENTRY" else ""
        if not why and order.status == sm.IN_DOUBT:
            free_ns = self.gateway.throttled_until(order)
            if free_ns:
                self._held[order.client_order_id] = free_ns
                self.stats["deferred_placements"] += 1
                if order.role != "ENTRY":
                    self.gateway.exit_waits(free_ns)
                return
        self._journal.mark()
        if why:
            self._journal.emit(OrderRejected(
                ts_event_ns=self._now(), client_order_id=order.client_order_id, code=NOT_SENT,
                reason=f"not sent again: never received by the broker, and entries have closed "
                       f"since ({why})"))
            return
        if order.status == sm.IN_DOUBT:   # a new attempt after a failed one: its "about to send"
            self._journal.emit(OrderSubmitting(
                ts_event_ns=self._now(), client_order_id=order.client_order_id,
                intent_id=order.intent_id, strategy=order.strategy, bracket_id=order.bracket_id,
                role=order.role, instrument=order.instrument, symbol=order.symbol, side=order.side,
                qty=order.qty, order_type=order.order_type, price=order.price,
                trigger_price=order.trigger_price, tick_seq=seq))
        self.gateway.send(order, seq)

    def missing_fills(self) -> list[BrokerTrade]:
        """Fills of our orders the broker made that the journal lacks, in tick order."""
        missing = [t for t in self.gateway.broker.trades() if t.trade_id not in self.book.fill_ids
                   and order_of(self.book, t.client_order_id, t.broker_order_id) is not None]
        return sorted(missing, key=lambda t: t.tick_seq)

    def final_statuses(self) -> list[BrokerOrder]:
        """Working orders the broker has canceled or rejected, or stops it has triggered (news to a
        restarted engine, which cannot have heard it), from one read of its book, in book order.
        A read that fails is counted and finds nothing (the polls report them); a refused session
        halts and raises."""
        working = self.book.working()
        if not working:
            return []
        try:
            found = self.gateway.broker.find_by_client_ids([o.client_order_id for o in working])
        except BrokerFatal as e:
            self.gateway.refused(e)
            raise
        except BrokerError as e:
            self.gateway.count_failure(e)
            return []
        news = []
        for order in working:
            bo = found.get(order.client_order_id)
            if bo is not None and (bo.status in (sm.CANCELED, sm.REJECTED)
                                   or bo.triggered and not order.triggered):
                news.append(bo)
        return news
