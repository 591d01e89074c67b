"""One backtest, start to finish, as a function: what `python -m backtest` runs, and what a sweep's
cell (issue 15 item 4) would call.

    summary = run_backtest(config, run_dir="runs/bt1", first="2021-07-29", last="2021-07-30")

`config` is a validated config.schema.Config (config.loader.load_config). Raises ConfigError
(nothing run) when it cannot be backtested: a feed other than replay, a broker other than paper, an
unreadable replay file, a bad or inverted window, or a run directory that already holds a run's
journals.
"""

from __future__ import annotations

import os
import time

import msgspec

from common.errors import ConfigError
# the instrument table exactly as the pipeline builds it
from common.instruments import instrument_rows

from backtest.engine import JOURNALS, Backtest
from backtest.outputs import write_config, write_report, write_results
from backtest.progress import progress_bar
from backtest.tape import ist_day_number


def check_backtestable(
    config, first: str | None, last: str | None
) -> tuple[int | None, int | None]:
    """ConfigError unless this configuration can be backtested; the window as IST day numbers."""
    if config.feed.source != "replay":
        raise ConfigError(f"a backtest replays a file: feed.source must be 'replay', not "
                          f"{config.feed.source!r}", path="feed.source")
    if not config.feed.replay.path:
        raise ConfigError("a backtest needs the replay file", path="feed.replay.path")
    if config.broker.name != "paper":
        raise ConfigError(f"a backtest fills on the paper broker: broker.name must be 'paper', not "
                          f"{config.broker.name!r}", path="broker.name")
    first_day = ist_day_number(first, "--from") if first else None
    last_day = ist_day_number(last, "--to") if last else None
    if first_day is not None and last_day is not None and first_day > last_day:
        raise ConfigError(f"--from {first} is after --to {last}", path="--from")
    return first_day, last_day


def fresh_run_dir(run_dir: str | None, config) -> str:
    """The run directory, created; ConfigError if it already holds a run's journals (a backtest
    appended to them would rebuild the paper broker's book from the earlier run's orders)."""
    run_dir = os.path.abspath(run_dir or config.run.run_dir
                              or os.path.join("runs", time.strftime("backtest-%Y%m%d-%H%M%S")))
    used = [name for name in JOURNALS if os.path.exists(os.path.join(run_dir, name))]
    if used:
        raise ConfigError(
            f"{run_dir} already holds a run ({', '.join(used)}): give a new --run-dir",
            path="--run-dir",
        )
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    return run_dir


def run_backtest(
    config,
    run_dir: str | None = None,
    first: str | None = None,
    last: str | None = None,
    *,
    progress: bool = False,
    report: bool | None = None,
) -> dict:
    """Run one backtest into `run_dir` (default: config.run.run_dir, else runs/backtest-<time>) and
    return its summary.json document (with `run_dir` added). `first`/`last`: IST days YYYY-MM-DD
    (inclusive), None = open. `progress`: draw the terminal bar. `report`: render report.html and
    its charts (seconds of matplotlib; a sweep cell may skip it); None: as `run.report` says."""
    window = check_backtestable(config, first, last)
    run_dir = fresh_run_dir(run_dir, config)
    config = msgspec.structs.replace(
        config, run=msgspec.structs.replace(config.run, run_dir=run_dir)
    )
    bt = Backtest(config, run_dir, instrument_rows(config), first_day=window[0], last_day=window[1])
    write_config(run_dir, config)
    started = time.perf_counter()
    try:
        with progress_bar(bt.tape.total_rows, enabled=progress) as advance:
            bt.run(advance)
        elapsed = time.perf_counter() - started
        summary = write_results(bt, run_dir, config.run.run_id or os.path.basename(run_dir),
                                {"from": first, "to": last}, elapsed, 0)
    finally:
        bt.close()
    summary["run_dir"] = run_dir
    if config.run.report if report is None else report:
        write_report(run_dir)
    return summary
