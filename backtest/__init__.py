"""In-process backtests on the engine that trades live (`python -m backtest`, backtest/__main__.py).

The same signal kernels, order engine, risk gate, brackets, paper broker, fees and position book as
`python supervisor.py`, driven in one process over a replay file (backtest/engine.py), with the
ticks the pipeline's ring would carry (backtest/tape.py). It may import the stages' engines, as
supervisor.py does; no stage imports it.

Identical to a pipeline run on the same file, line by line: signals.jsonl, orders.jsonl,
fills.jsonl, paper_broker.jsonl, and positions.json's positions and P&L. What differs, by design:
- `ts_init_ns` (when a message object was made: wall clock), `ts_recv_ns` (when a tick was handed
  over: CLOCK_MONOTONIC of the process that read it) and `crc` (the line's seal, which covers them):
  readings of a process's clocks, different in every run, pipeline or not;
- positions.json `last_reconcile.as_of_seq`: positions' start-up check against the broker, made
  when the pipeline's orders stage answers it (a race with the first ticks; 0 here, as it is when
  the check wins, which it does on an idle machine).
"""
