"""Every message that crosses a process boundary: on the bus, in a journal, in a report.

Messages are frozen msgspec Structs, tagged with their class name in a "type" field, so one decoder
over the union of all of them (`common/codec.py`) turns bytes back into the right class. Commands
are imperative (`SetTradingState`), events past tense (`OrderFilled`).

Envelope (on every message, from `Message`):
    v            schema version of the message type (bump it when a field's meaning changes)
    source       the stage that produced it; stamped by the Publisher/Pusher
    seq          per-source sequence number (1, 2, ...); stamped by the Publisher/Pusher, continued
                 from the producer's journal after a restart. 0 means "not stamped yet".
    ts_event_ns  when the thing happened, wall clock ns (for tick-driven messages: the tick's)
    ts_init_ns   when this message object was created, wall clock ns (defaults to now)

Units are in the field names (`_inr`, `_ns`); prices are rupees, quantities are shares/units (not
lots), `side` is +1 buy / -1 sell. Float fields must never hold NaN or inf (JSON cannot carry them)
and int fields must hold ints: `JournalWriter` refuses a record it could not read back.

To add a message type: define the class below and add it to `ALL_MESSAGES` (the codec, the
journals and the tests all read that tuple). Imports only msgspec and the standard library.
"""

import time

import msgspec

# The values the str fields below may hold (a trading state's: common.tradingstate.NAMES). They are
# plain `str` on purpose: a decoder that rejected an unexpected value would turn a producer's typo
# into an unreadable journal record (a lost fill); consumers check the values they act on.

# The supervisor.jsonl kinds also published as SupervisorEvent (supervision/runlog.py); the others
# (running, ctl, health, signal, ...) stay in the journal only. "stopping" is a stage asked to stop.
SUPERVISOR_EVENT_KINDS = ("spawn", "ready", "not_ready", "hang", "exit", "restart",
                          "restart_denied", "give_up", "trading_halted", "stopping")


# kw_only is not inherited, so every subclass repeats it: messages are built by keyword only.
# frozen is inherited; subclasses repeat it for mypy, which does not carry it down.
# gc=False: messages hold only scalars, strings and lists of those or of other messages, so they
# cannot form reference cycles; untracked objects keep the garbage collector off the hot path.
class Message(msgspec.Struct, kw_only=True, frozen=True, tag_field="type", tag=True, gc=False):
    """The envelope every message carries (see the module docstring)."""

    v: int = 1
    source: str = ""
    seq: int = 0
    ts_event_ns: int
    ts_init_ns: int = msgspec.field(default_factory=time.time_ns)


# ---------------------------------------------------------------- signals -> orders

class SignalRaised(Message, frozen=True, kw_only=True):
    """A strategy wants a position change: an intent, not yet an order (risk has not seen it)."""

    intent_id: str
    strategy: str
    instrument: int
    symbol: str
    side: int
    qty: int
    order_type: str
    limit_price: float = 0.0
    stop_loss: float = 0.0   # absolute stop price, 0 = no stop leg
    target: float = 0.0      # absolute target price, 0 = no target leg
    tick_seq: int
    ts_recv_ns: int          # the triggering tick's receive time (latency is measured from it)
    reason: str = ""         # e.g. "fast crossed above slow"
    # The price stop_loss and target were set against, stamped by orders on the intent it approves
    # (the LIMIT price, or the last price on approval): legs keep their distance from the real fill.
    ref_price: float = 0.0


class TicksProcessed(Message, frozen=True, kw_only=True):
    """Watermark: every tick with seq < upto_seq is applied and all its intents were sent before.

    In orders' journal, the engine's marker of where its events happened. Between signals and orders
    the watermark is a word of the intent ring (common/intentring.py), not this message."""

    upto_seq: int
    intents_sent: int


# ---------------------------------------------------------------- commands

class SetTradingState(Message, frozen=True, kw_only=True):
    state: str
    reason: str = ""


class FlattenAll(Message, frozen=True, kw_only=True):
    reason: str = ""


class BracketsClosed(Message, frozen=True, kw_only=True):
    """orders' journal: the square-off took over every open bracket; none of their legs is placed
    again (the square-off closes the position), the next trading day included."""

    reason: str = ""


class RequestReconcile(Message, frozen=True, kw_only=True):
    """Ask a stage to compare its state with the broker's and publish what it finds. With `adopt`
    (orders only, `ctl adopt`): take the broker's view as the baseline (orders/reconciler.py)."""

    adopt: bool = False


class StopStage(Message, frozen=True, kw_only=True):
    reason: str = ""


# ---------------------------------------------------------------- order events

class OrderDenied(Message, frozen=True, kw_only=True):
    """Pre-trade risk refused an intent; `reason_code` is the risk engine's code."""

    intent_id: str
    client_order_id: str
    strategy: str
    instrument: int
    symbol: str
    side: int
    qty: int
    reason_code: int
    reason: str


class OrderSubmitting(Message, frozen=True, kw_only=True):
    """Journaled before the broker call: after a crash, this order may or may not exist there."""

    client_order_id: str
    intent_id: str
    strategy: str
    bracket_id: str
    role: str
    instrument: int
    symbol: str
    side: int
    qty: int
    order_type: str
    price: float
    trigger_price: float
    tick_seq: int


class OrderAccepted(Message, frozen=True, kw_only=True):
    """The broker took the order (HTTP 200); it is not filled."""

    client_order_id: str
    broker_order_id: str
    status: str


class OrderRejected(Message, frozen=True, kw_only=True):
    client_order_id: str
    broker_order_id: str = ""
    reason: str
    code: str


class OrderFilled(Message, frozen=True, kw_only=True):
    """One execution; `leaves_qty` is what remains open on the order after it."""

    client_order_id: str
    broker_order_id: str
    fill_id: str
    strategy: str
    bracket_id: str
    role: str
    instrument: int
    symbol: str
    side: int
    qty: int
    price: float
    fees_inr: float
    tick_seq: int
    leaves_qty: int


class OrderCanceled(Message, frozen=True, kw_only=True):
    client_order_id: str
    broker_order_id: str
    reason: str = ""


class OrderModified(Message, frozen=True, kw_only=True):
    client_order_id: str
    qty: int
    price: float
    trigger_price: float


class OrderInDoubt(Message, frozen=True, kw_only=True):
    """A placement whose outcome is unknown (timeout, crash): look it up before anything else."""

    client_order_id: str
    reason: str


class TradingStateChanged(Message, frozen=True, kw_only=True):
    state: str
    reason: str = ""


class BrokerOrderUpdate(Message, frozen=True, kw_only=True):
    """An order update the broker pushed on its market-data socket (KiteTicker's {"type": "order"}
    text message), forwarded unparsed by feed, which owns that socket, to orders, which owns order
    state. Never journaled: it only makes orders learn sooner what its polling of the order book
    would tell it anyway (the book stays the truth, also after a restart).

    ts_event_ns is the wall clock and ts_recv_ns the CLOCK_MONOTONIC time of receipt in feed.
    """

    broker: str              # "kite"
    payload: str             # the broker's order object as JSON text (Kite: an order-book row)
    ts_recv_ns: int


# ---------------------------------------------------------------- positions

class PositionChanged(Message, frozen=True, kw_only=True):
    instrument: int
    symbol: str
    qty: int                 # signed: > 0 long, < 0 short
    avg_price: float
    realised_pnl_inr: float
    unrealised_pnl_inr: float
    last_price: float


class PositionSnapshot(Message, frozen=True, kw_only=True):
    positions: list[PositionChanged]
    realised_pnl_inr: float
    unrealised_pnl_inr: float
    gross_exposure_inr: float
    last_fill_seq: int       # seq of the last orders-journal fill applied


class BrokerPositions(Message, frozen=True, kw_only=True):
    """The broker's own view of net positions, for reconciliation (orders asks the broker, positions
    compares). `as_of_seq` is the orders-journal seq when the broker was asked: compare only a book
    that has applied every fill up to it."""

    positions: list[PositionChanged]
    as_of_seq: int


# ---------------------------------------------------------------- lifecycle

class StageReady(Message, frozen=True, kw_only=True):
    stage: str
    pid: int
    cores: list[int]


class StageStopping(Message, frozen=True, kw_only=True):
    stage: str
    reason: str = ""


class SupervisorEvent(Message, frozen=True, kw_only=True):
    """A lifecycle line of supervisor.jsonl (a kind in SUPERVISOR_EVENT_KINDS), published on
    `supervisor_topic(kind)`; the fields a kind does not carry keep their defaults (a restart has
    no pid yet, a give-up no cores)."""

    kind: str
    stage: str
    pid: int = 0
    cores: list[int] = []
    restarts: int = 0
    reason: str = ""
    exit_code: int | None = None
    signal: int | None = None


ALL_MESSAGES: tuple[type[Message], ...] = (
    BrokerPositions,
    SignalRaised,
    TicksProcessed,
    SetTradingState,
    FlattenAll,
    BracketsClosed,
    RequestReconcile,
    StopStage,
    OrderDenied,
    OrderSubmitting,
    OrderAccepted,
    OrderRejected,
    OrderFilled,
    OrderCanceled,
    OrderModified,
    OrderInDoubt,
    BrokerOrderUpdate,
    TradingStateChanged,
    PositionChanged,
    PositionSnapshot,
    StageReady,
    StageStopping,
    SupervisorEvent,
)

# "OrderFilled" -> OrderFilled, for reports that hold a raw dict's "type".
MESSAGE_TYPES: dict[str, type[Message]] = {cls.__name__: cls for cls in ALL_MESSAGES}
