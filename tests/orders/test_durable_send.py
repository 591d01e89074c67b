"""With a durable journal policy the "about to send" record is on disk before the broker hears of
it.

The engine calls `flush` before every broker call and the orders stage's flush is the journal's;
this wires the engine to a real JournalWriter the same way and checks, inside the broker's `place`,
that the last fdatasync covered the order's OrderSubmitting record.
"""

import os

import msgspec
import pytest

import common.journal as journal_module
from common.journal import JournalWriter
from common.messages import OrderSubmitting
from orders.brokers.paper.broker import PaperBroker
from orders.engine import OrderEngine
from orders.fees import FeeSchedule
from tests.orders.risk_support import limits_of
from tests.orders.stubs import Tape, instruments, intent


class SyncWatchingBroker:
    """A paper broker that records, at each place(), whether the order's record was already
    synced."""

    def __init__(self, inner, path: str, synced_sizes: list):
        self.inner, self.path, self.synced_sizes = inner, path, synced_sizes
        self.durable_at_place: list[bool] = []
        self.capabilities = inner.capabilities

    def place(self, req):
        synced = self.synced_sizes[-1] if self.synced_sizes else 0
        with open(self.path, "rb") as f:
            on_disk = f.read(synced)
        record = b'"type":"OrderSubmitting"' in on_disk and req.client_order_id.encode() in on_disk
        self.durable_at_place.append(record)
        return self.inner.place(req)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.mark.parametrize("policy, durable", [("batch", True), ("always", True), ("never", False)])
def test_place_when_the_journal_policy_is_durable_then_the_submitting_record_was_synced_first(
        tmp_path, monkeypatch, policy, durable):
    synced_sizes: list[int] = []
    real = os.fdatasync

    def fdatasync(fd):
        real(fd)
        synced_sizes.append(os.fstat(fd).st_size)      # what this sync made durable
    monkeypatch.setattr(journal_module.os, "fdatasync", fdatasync)
    path = str(tmp_path / "orders.jsonl")
    writer = JournalWriter(path, policy)
    synced_sizes.clear()                                # opening may sync the new, empty file
    rows = instruments()
    broker = SyncWatchingBroker(
        PaperBroker(str(tmp_path / "paper.jsonl"), rows), path, synced_sizes
    )
    seq = iter(range(1, 1_000_000))
    engine = OrderEngine(
        rows,
        limits_of(enforce_session=False, leg_prices="signal"),
        FeeSchedule("zerodha"),
        broker,
        lambda msg: writer.append(msgspec.structs.replace(msg, seq=next(seq))),
        flush=writer.flush,
    )
    tape = Tape()
    tape.add(0, 100.0)
    tape.prices(0, [100.0, 100.5, 101.0])
    engine.advance(tape.array(1), [intent(1, stop_loss=95.0, target=110.0)])
    writer.close()
    broker.inner.close()
    assert broker.durable_at_place, "the scenario must place an order"
    assert all(broker.durable_at_place) is durable
    assert any(
        isinstance(m, OrderSubmitting) for m in journal_module.JournalReader(path).read_from(1)
    )
