"""LiveBroker: the skeleton both live adapters (kite/broker.py, upstox/broker.py) share.

Events by polling. A live broker answers a placement before the exchange does; what happens next,
the exchange's accept or rejection, fills, cancels, is in its order book. So poll_events reads the
book at most every `poll_interval_ms` (settings), and the trade book only when a filled quantity
grew, through one OrderDiff (orderdiff.py) that also takes whatever the broker pushes
(`_pushed_events`, Kite's ticker order updates). A failed read is counted (`poll_failures`,
`last_poll_error`) and skipped: the next poll reads the same book.

Only our rows are read (orders/brokers/replies.py). An order-book row whose tag cannot be one of our
client ids (another app's, placed by hand) is ignored after reading its tag alone, and a trade of an
order that is not ours after reading its order_id alone: `orders()` and `trades()` return OTrade's
orders and executions only. A row of ours that does not validate is counted (`bad_rows`, per
endpoint in `bad_rows_by_endpoint`), logged once per field, and skipped, so one poison row can no
longer fail every poll and every recovery. A reply of the wrong shape (`data: null`, a string) is a
BrokerRetryable naming the endpoint. A BrokerFatal (the token) propagates: nothing can be read until
a human logs in again. A poll that cannot read the trade book yet (throttled) reports nothing and
comes due at once with the same order rows, reading only the trade book, so trades still come
before the orders they fill.

In-doubt lookups (`find_by_client_ids`) answer every order asked about with one read of the order
book: it is a request of the same API budget the polls need.

Checks before sending (`check_order`). A doomed order costs a request and a place in the broker's
rate limit, and its refusal would come back later as an RMS rejection; caught here, it is a
BrokerRejected at once with nothing on the wire. The rules are the same for Kite and Upstox (the tag
is our client id, so it must fit their 20-character alphanumeric tag; the exchange's freeze
quantity, lot size and tick size); the name in the message, the error code and how an instrument is
looked up are the caller's.

Secrets (`LiveCredentials`, `scrub`). The api key and access token never show: the credentials
mask them in repr, and every error message passes `scrub` with their `secret_values()` before it
is raised or logged. Each broker's credentials.py stays the only module that knows its environment
variables and its local server's fixed values.

Broker-specific parts: `config_key`, `settings_type` and `credentials_for` (what from_config
reads), and as hooks `_order_from_row(row)` and `_trade_from_row(row)` (that broker's parse.py with
its instrument lookup), `_note(order)` (what the adapter keeps of every order it sees) and
`_order_from_update(payload)` (a pushed order update), and `parse` (the broker's parse module:
`tag_of`, `order_id_of`). The throttle must offer `api_room()` and `take_api(name)`; the HTTP client
`orders()`, `trades()`, `close()`, `requests_sent`, and `blocked` and `call_bound_s` (every request
runs inside `blocked(call_bound_s)`: `bound_calls`).
"""

import collections
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import orjson

from common.errors import BrokerRejected, BrokerRetryable
from orders.brokers.base import ORDER_TYPES, Broker, BrokerOrder, BrokerTrade, OrderRequest
from orders.brokers.orderdiff import OrderDiff
from orders.brokers.replies import BadRow, RowChecker, is_client_id, rows_of

NS_PER_MS = 1_000_000
TAG_MAX_LEN = 20


# while a restarted engine catches up; the oldest go first (polls cover them)
MAX_QUEUED_UPDATES = 10_000
UPDATE_COUNTS = ("received", "applied", "duplicate", "ignored", "malformed", "fills", "dropped")


def _json_object(payload) -> dict | None:
    """The payload as a JSON object, None when it is not one (only to read its tag)."""
    try:
        msg = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return msg if isinstance(msg, dict) else None


class LiveBroker(Broker):
    """Parameters
    ----------
    http, throttle : the broker's client and client-side throttle (see the module docstring).
    settings : the broker's settings; `poll_interval_ms` is the least time between two book reads.
    clock : wall-clock ns, for the poll interval (the throttle keeps its own).
    """

    config_key = ""           # the section of config.broker: "kite", "upstox"
    settings_type: Any        # its settings class: from_config(section, **overrides)
    # staticmethod (secrets, local_server) -> the broker's credentials
    credentials_for: Callable[[Any, bool], Any]
    parse: ModuleType         # the broker's parse module (tag_of, order_id_of): each adapter's

    def __init__(self, http, throttle, settings, clock):
        self._http = http
        self._throttle = throttle
        self._settings = settings
        self._clock = clock
        self._client_ids: dict[str, str] = {}       # broker order id -> our client order id
        self._foreign: set[str] = set()              # order ids in the book that are not ours
        # tags of our rows skipped in the last book read (malformed, or on an instrument outside
        # the table): a lookup cannot tell their orders from absent
        self._bad_tags: set[str] = set()
        self._row_checker = RowChecker(self.config_key)
        self._diff = OrderDiff(self._our_trade)
        self._next_poll_ns = 0
        # The order rows of a poll whose trade-book read was throttled: the next poll offers them
        # again and reads only the trade book. Reading the order book again instead spent the one
        # free request each time: the trade book never fitted while anything else used the budget.
        self._owed: list[BrokerOrder] | None = None
        self.poll_failures = 0
        self.last_poll_error = ""
        self._ours: set[str] = set()                 # client ids we placed or were asked to find
        self._updates: collections.deque = collections.deque(maxlen=MAX_QUEUED_UPDATES)
        self._update_counts = dict.fromkeys(UPDATE_COUNTS, 0)

    # ---------------------------------------------------------------- pushed order updates

    def on_order_update(self, payload: str) -> None:
        """An order update the broker pushed (its own message, forwarded by feed): queued, and
        applied at the next poll_events through the same diff as polling, so a change seen both
        ways is one event. Not ours, or not readable: ignored and counted, never raised."""
        order = self._order_from_update(payload)
        counts = self._update_counts
        counts["received"] += 1
        if order is None or order.client_order_id not in self._ours:
            counts["ignored"] += 1
            if order is None and self.parse.tag_of(_json_object(payload)) in self._ours:
                # ours, but it does not validate: the poll reads the book
                counts["malformed"] += 1
            return
        self._client_ids.setdefault(order.broker_order_id, order.client_order_id)
        self._note(order)
        if len(self._updates) == self._updates.maxlen:
            counts["dropped"] += 1
        self._updates.append(order)

    def _order_from_update(self, payload: str) -> BrokerOrder | None:
        """The broker's pushed message as an order (None when it is not a readable one of ours)."""
        raise NotImplementedError

    def order_update_counts(self) -> dict[str, int]:
        return dict(self._update_counts)

    def _pushed_events(self) -> list:
        return self._guarded(self._drain_updates) if self._updates else []

    def _drain_updates(self) -> list:
        """The queued pushed updates as events. A failed read of the trade book drops them (the
        next poll finds the same), a throttled one keeps them for the next call."""
        orders = list(self._updates)
        self._updates.clear()
        events = self._diff.changes(orders, self._read_trades)
        if events is None:
            self._updates.extendleft(reversed(orders))
            return []
        changed = sum(isinstance(e, BrokerOrder) for e in events)
        counts = self._update_counts
        counts["applied"] += changed
        counts["duplicate"] += len(orders) - changed
        counts["fills"] += len(events) - changed
        return events

    @classmethod
    def from_config(cls, config, secrets, instruments, **overrides):
        """From the validated Config and Secrets; `overrides` replace the broker's settings
        fields. Against a local venue, the broker's rate limits hold per second of market time
        (see `rehearsal_pace`)."""
        settings = cls.settings_type.from_config(
            getattr(config.broker, cls.config_key), **overrides
        )
        if settings.local_server:
            settings = settings.at_pace(rehearsal_pace(config))
        return cls(instruments, settings, cls.credentials_for(secrets, settings.local_server))

    @property
    def requests_sent(self) -> int:
        return self._http.requests_sent

    def bound_calls(self, blocked) -> None:
        """Every request of the HTTP client inside `blocked(its connect + read timeout)`."""
        self._http.blocked = blocked

    # ---------------------------------------------------------------- lookups

    def find_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        """The first order in today's book tagged `client_order_id`, or None: the in-doubt lookup.

        None means "never received" and lets the engine send the order again, so a row with this
        tag that was skipped (malformed, or on an instrument outside the table) is not an absence:
        BrokerRetryable, the order stays in doubt and is looked up again later, never sent
        twice."""
        found = self.find_by_client_ids((client_order_id,))
        if client_order_id not in found:
            raise BrokerRetryable(
                f"{self.config_key} orders: the book's row for {client_order_id} cannot be "
                "read; cannot tell whether the order was received",
                code="BadResponse",
            )
        return found[client_order_id]

    def find_by_client_ids(self, client_order_ids: Iterable[str]) -> dict[str, BrokerOrder | None]:
        """`find_by_client_id` of every id with ONE read of today's book (one request of the API
        budget the fill polls need, however many orders are in doubt). An id whose row was skipped
        (malformed, or on an instrument outside the table) is left out of the answer: it cannot be
        told from absent."""
        wanted = set(client_order_ids)
        self._ours.update(wanted)         # a restarted engine asks about each of its orders
        found: dict[str, BrokerOrder | None] = dict.fromkeys(wanted)
        for order in self.orders():
            if order.client_order_id in wanted and found[order.client_order_id] is None:
                found[order.client_order_id] = order
        for coid in wanted & self._bad_tags:
            if found[coid] is None:
                del found[coid]
        return found

    def orders(self) -> list[BrokerOrder]:
        """Today's orders of ours (see the module docstring for the rows left out)."""
        self._throttle.take_api("orders")
        return self._remember(self._http.orders())

    def trades(self) -> list[BrokerTrade]:
        """Today's executions of our orders."""
        self._throttle.take_api("trades")
        rows = rows_of(self._http.trades(), self.config_key, "trades")
        ids = {self.parse.order_id_of(r) for r in rows}
        if any(oid and oid not in self._client_ids and oid not in self._foreign for oid in ids):
            self.orders()   # trades carry no tag: the order book says whose they are
        trades = (self._our_trade(r) for r in rows)
        return [t for t in trades if t is not None]

    @property
    def bad_rows(self) -> int:
        """Rows of ours skipped because they did not validate, since this adapter opened."""
        return self._row_checker.bad_rows

    @property
    def bad_rows_by_endpoint(self) -> dict[str, int]:
        return dict(self._row_checker.bad_by_endpoint)

    def close(self) -> None:
        self._http.close()

    # ---------------------------------------------------------------- events

    def poll_events(self) -> list:
        events = self._pushed_events()
        now = self._clock()
        if now < self._next_poll_ns or not self._throttle.api_room():
            return events
        self._next_poll_ns = now + self._settings.poll_interval_ms * NS_PER_MS
        return events + self._guarded(self._poll)

    def _guarded(self, read) -> list:
        try:
            return read()
        except (BrokerRetryable, BrokerRejected) as e:   # BrokerFatal (the token) propagates
            self.poll_failures += 1
            self.last_poll_error = str(e)
            return []

    def _poll(self) -> list:
        orders = self._owed
        if orders is None:
            self._throttle.take_api("orders")
            orders = [o for o in self._remember(self._http.orders()) if o.client_order_id]
        events = self._diff.changes(orders, self._read_trades)
        self._owed = orders if events is None else None
        if events is None:
            self._next_poll_ns = 0        # report nothing until the trades can come first
            return []
        return events

    def _read_trades(self) -> list[dict] | None:
        """The trade book's rows, or None when the throttle has no room for the request now."""
        if not self._throttle.api_room():
            return None
        self._throttle.take_api("trades")
        return rows_of(self._http.trades(), self.config_key, "trades")

    def _remember(self, reply) -> list[BrokerOrder]:
        """Our order-book rows as BrokerOrders (rows for instruments outside the table dropped),
        each one's client id and whatever `_note` keeps remembered. Rows not ours are read no
        further than their tag (and order id, so their trades are known not to be ours)."""
        out, self._bad_tags = [], set()
        for row in rows_of(reply, self.config_key, "orders"):
            if not isinstance(row, dict):
                self._row_checker.bad(
                    "orders", BadRow("", f"a {type(row).__name__}, not an object")
                )
                continue
            if not is_client_id(self.parse.tag_of(row)):
                if oid := self.parse.order_id_of(row):
                    self._foreign.add(oid)
                continue
            try:
                order = self._order_from_row(row)
            except BadRow as e:
                self._row_checker.bad("orders", e, self.parse.order_id_of(row))
                self._bad_tags.add(self.parse.tag_of(row))
                continue
            if order is None:
                # Ours by its tag, on an instrument outside the table (or none): it cannot be read
                # here, and a lookup must not take its order for absent (it would be sent twice).
                self._bad_tags.add(self.parse.tag_of(row))
                continue
            self._client_ids.setdefault(order.broker_order_id, order.client_order_id)
            self._note(order)
            out.append(order)
        return out

    def _our_trade(self, row) -> BrokerTrade | None:
        """A trade-book row of one of our orders as a BrokerTrade; None for anyone else's (read no
        further than its order id) and for a bad row (counted)."""
        oid = self.parse.order_id_of(row)
        if not self._client_ids.get(oid):
            if not isinstance(row, dict):
                self._row_checker.bad(
                    "trades", BadRow("", f"a {type(row).__name__}, not an object")
                )
            elif not oid:
                self._row_checker.bad("trades", BadRow("order_id", "missing or not an id"))
            return None
        try:
            return self._trade_from_row(row)
        except BadRow as e:
            self._row_checker.bad("trades", e, oid)
            return None

    def _bad_position(self, error: BadRow) -> None:
        self._row_checker.bad("positions", error)

    # ---------------------------------------------------------------- hooks

    def _note(self, order: BrokerOrder) -> None:
        """Keep what modify needs of an order seen in the book or in an update."""

    def _order_from_row(self, row: dict) -> BrokerOrder | None:
        raise NotImplementedError

    def _trade_from_row(self, row: dict) -> BrokerTrade | None:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class LiveCredentials:
    """An api key and, once logged in, the day's access token; subclassed per broker for its
    name."""

    api_key: str
    access_token: str | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_key=***, access_token=***)"

    __str__ = __repr__

    def secret_values(self) -> tuple[str, ...]:
        """Values that must never appear in a message (the api key is not secret by itself, but it
        is half of Kite's Authorization header, so it is scrubbed too)."""
        return tuple(v for v in (self.access_token, self.api_key) if v)


def rehearsal_pace(config) -> float:
    """Market seconds per wall second of the configured feed: a paced replay's or sim's `speed`
    when above 1, else 1.

    A rehearsal against a local venue replayed at 8x would otherwise meet the broker's per-second
    limits eight times as often as the same day live: a burst of exits the engine's own (market
    time) throttle allows is refused by the adapter's (wall clock), and entries held back so past
    the cut-off are never sent. Live there is no venue of ours and no pace: the limits are the
    broker's, per wall second."""
    feed = config.feed
    if feed.source == "replay":
        speed = feed.replay.speed
    elif feed.source == "sim" and feed.sim.profile == "realistic":
        speed = feed.sim.speed
    else:
        speed = 1.0
    return max(1.0, float(speed))


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with every (non-trivial) secret value replaced by ***."""
    for value in secrets:
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def check_order(req: OrderRequest, *, broker: str, code: str, instrument_problem: str,
                limits: Callable[[int], tuple[int, int, float]]) -> None:
    """Raise BrokerRejected(f"{broker} place_order <coid>: <problem>") for an order the broker would
    refuse. `instrument_problem` is "" when the instrument can be traded there; `limits(instrument)`
    gives its (freeze quantity, lot size, tick size) and is called only for an otherwise sane order.
    `code` is the broker's input-error code, for problems without a code of their own."""
    coid, problem = req.client_order_id, ""
    if not coid or len(coid) > TAG_MAX_LEN or not coid.isalnum():
        problem = f"client order id {coid!r} is not 1-{TAG_MAX_LEN} alphanumeric characters"
    elif req.side not in (1, -1) or req.order_type not in ORDER_TYPES or req.qty <= 0:
        problem = f"bad side {req.side}, order type {req.order_type!r} or quantity {req.qty}"
    elif instrument_problem:
        problem = instrument_problem
    elif req.order_type in ("LIMIT", "SL") and not req.price > 0:
        problem = f"{req.order_type} needs a positive price"
    elif req.order_type in ("SL", "SL-M") and not req.trigger_price > 0:
        problem = f"{req.order_type} needs a positive trigger price"
    else:
        problem, code = exchange_rule_violation(req, *limits(req.instrument), code=code)
    if problem:
        raise BrokerRejected(f"{broker} place_order {coid}: {problem}", code=code)


def exchange_rule_violation(req: OrderRequest, freeze: int, lot: int, tick: float, *,
                            code: str) -> tuple[str, str]:
    """(problem, code) for what the exchange would refuse, ("", code) when nothing. Above the freeze
    quantity the engine must slice: each slice gets its own client id, which is what keeps it
    findable after a crash (the brokers' own autoslice children carry no tag of ours)."""
    if freeze and req.qty > freeze:
        return (f"quantity {req.qty} is above the freeze quantity {freeze}: slice it into "
                f"orders of their own"), "ABOVE_FREEZE_QTY"
    if lot > 1 and req.qty % lot:
        return f"quantity {req.qty} is not a multiple of the lot size {lot}", "LOT_SIZE"
    for name, value in (("price", req.price), ("trigger price", req.trigger_price)):
        if off_tick(value, tick):
            return f"{name} {value} is not a multiple of the tick size {tick}", "TICK_SIZE"
    return "", code


def off_tick(price: float, tick_size: float) -> bool:
    """True when a non-zero price is not a whole number of ticks, beyond float noise."""
    if not price or tick_size <= 0:
        return False
    steps = price / tick_size
    return abs(steps - round(steps)) > 1e-6
