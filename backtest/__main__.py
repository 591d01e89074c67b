"""`python -m backtest --config FILE [--env NAME] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--run-dir DIR]`.

Exit codes: 0 the replay ran to its end; 2 a configuration error (a bad file or field, a feed other
than replay, a broker other than paper, a replay file that cannot be read, --from after --to, or a
run directory that already holds a run's journals).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import msgspec

from common.errors import ConfigError
from config.cli import EXIT_CONFIG_ERROR
from config.loader import load_config
from supervisor import build_plan_rows   # the instrument table exactly as the pipeline builds it

from backtest.engine import JOURNALS, Backtest
from backtest.outputs import write_config, write_report, write_results
from backtest.progress import progress_bar
from backtest.tape import ist_day_number

PRIVATE_UMASK = 0o077       # as supervisor.py: the run's files are the owner's only


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m backtest",
        description="Replay a file through OTrade's signal kernels, order engine, risk, brackets, paper "
                    "broker and fees in one process; writes the same run directory as supervisor.py.",
        epilog="Exit codes: 0 done, 2 configuration error (feed.source must be replay, broker.name paper).")
    parser.add_argument("--config", metavar="FILE", required=True, help="configuration file")
    parser.add_argument("--env", metavar="NAME", help="overlay env/NAME.json on top of the configuration")
    parser.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first session (IST day) to replay")
    parser.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last session (IST day) to replay")
    parser.add_argument("--run-dir", metavar="DIR", help="run directory (default: runs/backtest-<timestamp>)")
    return parser


def check_backtestable(config, first: str | None, last: str | None) -> tuple[int | None, int | None]:
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
        raise ConfigError(f"{run_dir} already holds a run ({', '.join(used)}): give a new --run-dir",
                          path="--run-dir")
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    return run_dir


def main(argv: list[str] | None = None) -> int:
    os.umask(PRIVATE_UMASK)
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config, args.env).config
        window = check_backtestable(config, args.first, args.last)
        run_dir = fresh_run_dir(args.run_dir, config)
        config = msgspec.structs.replace(config, run=msgspec.structs.replace(config.run, run_dir=run_dir))
        bt = Backtest(config, run_dir, build_plan_rows(config), first_day=window[0], last_day=window[1])
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    from common import log

    log.configure(config.run.log_level)
    run_id = config.run.run_id or os.path.basename(run_dir)
    write_config(run_dir, config)
    started = time.perf_counter()
    try:
        with progress_bar(bt.tape.total_rows, enabled=sys.stdout.isatty()) as advance:
            bt.run(advance)
        elapsed = time.perf_counter() - started
        summary = write_results(bt, run_dir, run_id, {"from": args.first, "to": args.last}, elapsed, 0)
    finally:
        bt.close()
    write_report(run_dir)
    pnl = summary["pnl"]
    print(f"backtest: {bt.ticks} ticks in {elapsed:.2f} s, {summary['fills']} fills, realised P&L "
          f"{pnl['realised_pnl_inr']:.2f} INR; results in {run_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
