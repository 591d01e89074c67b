"""`python -m backtest --config FILE [--env NAME] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--run-dir
DIR]`.

Exit codes: 0 the replay ran to its end; 2 a configuration error (a bad file or field, a feed other
than replay, a broker other than paper, a replay file that cannot be read, --from after --to, or a
run directory that already holds a run's journals). A progress bar is drawn only when stdout is a
terminal; the one-line result goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys

from common.errors import ConfigError
from config.cli import EXIT_CONFIG_ERROR
from config.loader import load_config

from backtest.runner import run_backtest

PRIVATE_UMASK = 0o077       # as supervisor.py: the run's files are the owner's only


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m backtest",
        description="Replay a file through OTrade's signal kernels, order engine, risk, brackets, "
        "paper "
        "broker and fees in one process; writes the same run directory as supervisor.py.",
        epilog="Exit codes: 0 done, 2 configuration error (feed.source must be replay, broker.name "
        "paper).",
    )
    parser.add_argument("--config", metavar="FILE", required=True, help="configuration file")
    parser.add_argument(
        "--env", metavar="NAME", help="overlay env/NAME.json on top of the configuration"
    )
    parser.add_argument(
        "--from", dest="first", metavar="YYYY-MM-DD", help="first session (IST day) to replay"
    )
    parser.add_argument(
        "--to", dest="last", metavar="YYYY-MM-DD", help="last session (IST day) to replay"
    )
    parser.add_argument(
        "--run-dir", metavar="DIR", help="run directory (default: runs/backtest-<timestamp>)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    os.umask(PRIVATE_UMASK)
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config, args.env).config
        from common import log

        log.configure(config.run.log_level)
        summary = run_backtest(
            config, args.run_dir, args.first, args.last, progress=sys.stdout.isatty()
        )
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    feed, pnl, speed = summary["stages"]["feed"]["counters"], summary["pnl"], summary["speed"]
    print(
        f"backtest: {feed['ticks']} ticks in {speed['elapsed_s']:.2f} s, {summary['fills']} fills, "
        "realised "
        f"P&L {pnl['realised_pnl_inr']:.2f} INR; results in {summary['run_dir']}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
