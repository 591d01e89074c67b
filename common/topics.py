"""Every PUB/SUB topic and every endpoint name, defined once (they appear nowhere else).

ZeroMQ subscriptions match by byte prefix, so topics run from general to specific:
subscribing to `EVT` receives every event, `EVT_ORDER` every order event, and
`order_topic("ma_x")` only that strategy's. Each family ends with "." so one family is never a
prefix of another (`evt.fill.` does not match `evt.fills...`).

A leaf is NOT terminated, so a subscription to `fill_topic("INFY")` also receives `INFYBEES` fills.
A consumer that wants exactly one symbol or strategy compares the message's own field (`msg.symbol`)
after receiving; all current consumers subscribe to whole families.

Endpoint names (`Endpoints.endpoint(name)`) are plain strings: one PUB per producing stage
(`PUB_*`, bound by that stage) and one command socket per receiving stage (`CMD_*`, a PULL bound by
the receiver, PUSHed to by everyone else). Imports nothing.
"""

# ---- event topics (bytes: the first frame of every PUB message) ----
EVT = b"evt."
EVT_ORDER = b"evt.order."          # OrderSubmitting .. OrderInDoubt, per strategy
EVT_FILL = b"evt.fill."            # OrderFilled, per symbol
EVT_DENIAL = b"evt.risk.denied."   # OrderDenied, per strategy
EVT_TRADING_STATE = b"evt.risk.state"  # TradingStateChanged (a leaf: there is only one)
EVT_STAGE = b"evt.stage."          # StageReady, StageStopping, per stage
EVT_SUPERVISOR = b"evt.supervisor."  # SupervisorEvent, per kind (spawn, exit, give_up...)
EVT_SNAPSHOT = b"evt.snapshot."    # PositionSnapshot and other periodic full states, per kind
EVT_BROKER_ORDER = b"evt.broker.order."  # BrokerOrderUpdate (feed -> orders), per broker


def _leaf(family: bytes, name: str) -> bytes:
    if not name:
        raise ValueError(f"empty topic name under {family!r}")
    return family + name.encode()


def order_topic(strategy: str) -> bytes:
    return _leaf(EVT_ORDER, strategy)


def fill_topic(symbol: str) -> bytes:
    return _leaf(EVT_FILL, symbol)


def denial_topic(strategy: str) -> bytes:
    return _leaf(EVT_DENIAL, strategy)


def stage_topic(stage: str) -> bytes:
    return _leaf(EVT_STAGE, stage)


def supervisor_topic(kind: str) -> bytes:
    """Per kind, not per stage: an alerting script subscribes to `supervisor_topic("give_up")`."""
    return _leaf(EVT_SUPERVISOR, kind)


def snapshot_topic(kind: str) -> bytes:
    """E.g. snapshot_topic("positions") for PositionSnapshot."""
    return _leaf(EVT_SNAPSHOT, kind)


def broker_order_topic(broker: str) -> bytes:
    """E.g. broker_order_topic("kite") for the order updates KiteTicker pushes."""
    return _leaf(EVT_BROKER_ORDER, broker)


# ---- endpoint names (str: file names inside the run's private ipc directory) ----
STAGES = ("feed", "signals", "orders", "positions")

PUB_FEED = "feed.pub"             # BrokerOrderUpdate: order updates the market-data socket carried
PUB_ORDERS = "orders.pub"
PUB_POSITIONS = "positions.pub"
PUB_SUPERVISOR = "supervisor.pub"  # SupervisorEvent (supervision/events.py)

# SetTradingState, FlattenAll, RequestReconcile, StopStage (from the
CMD_ORDERS = "orders.cmd"
                                 # supervisor, operators, positions); intents travel through the
                                 # intent ring (common/intentring.py), not over this socket
CMD_POSITIONS = "positions.cmd"  # RequestReconcile, StopStage
# the operator's `ctl` channel: JSON lines on a unix socket, not zmq
CTL_SUPERVISOR = "supervisor.ctl"
