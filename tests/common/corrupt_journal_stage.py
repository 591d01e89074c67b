"""A stand-in stage for test_journal_refusal.py: its `run` recovers from `<run_dir>/orders.jsonl`
the way the orders and positions stages do (JournalReader.read_from(1))."""

import os

from common.journal import JournalReader


def run(ctx) -> int:
    with JournalReader(os.path.join(ctx.run_dir, "orders.jsonl")) as reader:
        for _ in reader.read_from(1):
            pass
    return 0
