"""A stage whose journal is damaged exits as fatal (not restarted) and leaves the cause for the
supervisor.

Restarting it would meet the same damaged line, so the process takes the same exit as a
configuration error (supervision/entry.py): STAGE_FATAL_EXIT, with the refusal (file, line,
what to do) in `logs/<stage>.fatal`, which the supervisor names when it gives up.
"""

import multiprocessing
from types import SimpleNamespace

from common.journal import JournalWriter
from common.messages import TicksProcessed
from supervision.entry import STAGE_FATAL_EXIT, read_fatal, stage_main

SPAWN = multiprocessing.get_context("spawn")


def test_stage_when_its_journal_is_damaged_mid_file_then_it_exits_fatal_naming_file_and_line(
    tmp_path,
):
    path = tmp_path / "orders.jsonl"
    with JournalWriter(str(path), "never") as writer:
        for seq in (1, 2, 3):
            writer.append(
                TicksProcessed(seq=seq, ts_event_ns=seq, upto_seq=seq + 1, intents_sent=1)
            )
    path.write_bytes(path.read_bytes().replace(b'"upto_seq":3', b'"upto_seq":9'))
    ctx = SimpleNamespace(
        stage="orders",
        run_dir=str(tmp_path),
        config=SimpleNamespace(run=SimpleNamespace(log_level="INFO")),
    )
    child = SPAWN.Process(target=stage_main, args=("tests.common.corrupt_journal_stage", ctx))
    child.start()
    child.join(60)
    assert child.exitcode == STAGE_FATAL_EXIT
    cause = read_fatal(str(tmp_path), "orders")
    assert cause.startswith("orders.jsonl line 2: checksum mismatch") and "move it aside" in cause
