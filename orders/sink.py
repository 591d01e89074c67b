"""EventSink: where the orders engine's events go, as one named object instead of two loose
callables.

`emit(msg)` takes every event in order; the events must become durable in that order. `flush()` is
called right before every broker call (place, modify, cancel): everything emitted so far must be
durable when it returns. The orders stage's sink journals then publishes (orders/stage.py `emit`,
`flush`); a backtest's or a test's may keep the events in memory, with nothing to flush.
"""

from collections.abc import Callable


class EventSink:
    """The engine's output: `emit` each event, `flush` before the broker hears of any (see above).

    When `flush` is not given, `emit` itself must make each event durable.
    """

    __slots__ = ("emit", "flush")

    def __init__(self, emit: Callable[[object], None], flush: Callable[[], None] | None = None):
        self.emit = emit
        self.flush = flush or _nothing


def _nothing() -> None:
    pass
