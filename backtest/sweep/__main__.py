"""`python -m backtest.sweep --config FILE --grid PATH=VALUES [--grid ...] --out DIR [options]`.

    python -m backtest.sweep --config base.json --grid strategies.0.params.fast=5,10,20 \\
        --grid strategies.0.params.slow=30,50 --objective sharpe --workers 2 --out sweeps/ema

Exit codes: 0 the sweep ran and at least one cell has an objective (best_config.json written);
1 it ran but no cell has one (every cell failed, was invalid or undefined: see results.csv);
2 a configuration or argument error (nothing run). The one-line result goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys

from common.errors import ConfigError
from config.cli import EXIT_CONFIG_ERROR

from backtest.sweep import space, walkforward
from backtest.sweep.cell import OBJECTIVES
from backtest.sweep.driver import Options, run_sweep

PRIVATE_UMASK = 0o077


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m backtest.sweep",
        description="Run in-process backtests of a base config over a parameter grid (or random / "
        "Optuna "
        "search), optionally walk-forward, on Ray; results stream into DIR/cells.csv.",
        epilog="Exit codes: 0 done, 1 no cell has an objective, 2 configuration or argument error.",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        required=True,
        help="base configuration (replay feed, paper broker)",
    )
    p.add_argument(
        "--grid",
        metavar="PATH=VALUES",
        action="append",
        default=[],
        required=True,
        help="a swept path and its values: a,b,c or an inclusive integer range start:stop[:step]",
    )
    p.add_argument("--search", choices=("grid", "random", "optuna"), default="grid")
    p.add_argument("--trials", type=int, default=0, help="random/optuna: cells per window")
    p.add_argument("--seed", type=int, default=0, help="random/optuna: the draw's seed")
    p.add_argument("--walk-forward", metavar="train=Nd,test=Md",
                   help="rolling windows of N train and M test sessions (trading days in the data)")
    p.add_argument(
        "--objective",
        choices=tuple(OBJECTIVES),
        default="sharpe",
        help="maximised (default sharpe)",
    )
    p.add_argument(
        "--address",
        metavar="auto|ray://HOST:10001",
        help="an existing Ray cluster (default: local)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="local Ray's CPUs (default: all cores)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        required=True,
        help="output directory (a rerun skips its finished cells)",
    )
    return p


def options(args: argparse.Namespace) -> Options:
    if args.search != "grid" and args.trials < 1:
        raise ConfigError(f"--search {args.search} needs --trials N (N >= 1)", path="--trials")
    if args.workers < 1:
        raise ConfigError("must be at least 1", path="--workers")
    address = None if args.address in (None, "", "local") else args.address
    return Options(
        config=args.config,
        axes=space.parse_axes(args.grid),
        out_dir=os.path.abspath(args.out),
        search=args.search,
        trials=args.trials,
        seed=args.seed,
        walk_forward=walkforward.parse_spec(args.walk_forward) if args.walk_forward else None,
        objective=args.objective,
        address=address,
        workers=args.workers,
        progress=sys.stderr.isatty(),
    )


def main(argv: list[str] | None = None) -> int:
    os.umask(PRIVATE_UMASK)
    args = build_parser().parse_args(argv)
    try:
        doc = run_sweep(options(args))
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    best = doc["best"]
    print(
        f"sweep: {doc['cells_run']} cells run, {doc['cells_skipped']} skipped (already in the "
        "table), "
        f"{doc['cells_failed']} failed; {doc['cells_per_s']} cells/s on {doc['workers']} "
        "worker(s); best "
        f"{doc['objective']} {best['objective'] if best else None} at "
        f"{best['params'] if best else None}; "
        f"results in {args.out}",
        file=sys.stderr,
    )
    return 0 if best else 1


if __name__ == "__main__":
    sys.exit(main())
