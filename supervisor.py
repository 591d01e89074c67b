"""OTrade's entry point: `python supervisor.py [--config FILE] [--env NAME] [...]`.

Validates the whole configuration before anything starts, then runs the pipeline. Command-line
flags are overrides of configuration fields and are validated with them (a bad --http-port is
reported as `command line: supervisor.http_port: ...`).

Exit codes: 0 normal end, 2 configuration error, 3 trading halted.
"""

import argparse
import sys

import numpy as np

from common.errors import ConfigError
from config.cli import EXIT_CONFIG_ERROR, check_config
from config.loader import LoadedConfig, load_config

EXIT_OK = 0
EXIT_HALTED = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supervisor.py",
        description="Run the OTrade pipeline (feed, signals, orders, positions).",
        epilog="Exit codes: 0 normal, 2 configuration error, 3 trading halted.",
    )
    parser.add_argument("--config", metavar="FILE",
                        help="configuration file (default: the embedded config/default.json)")
    parser.add_argument("--env", metavar="NAME",
                        help="overlay env/NAME.json on top of the configuration (dev, staging, prod)")
    parser.add_argument("--run-dir", metavar="DIR", help="run directory (default: runs/<timestamp>)")
    parser.add_argument("--duration", metavar="SECONDS", type=float,
                        help="stop after this many seconds (default: run until Ctrl-C)")
    parser.add_argument("--http-port", metavar="N", type=int,
                        help="port of /health and /metrics on 127.0.0.1 (0 = off)")
    parser.add_argument("--no-dashboard", action="store_true", help="no live status view")
    parser.add_argument("--check-config", action="store_true",
                        help="validate the configuration, print a summary and exit (0 or 2)")
    return parser


def overrides_from(args: argparse.Namespace) -> dict:
    """The configuration fields the command line sets, shaped like the JSON they override."""
    overrides: dict = {}
    if args.run_dir is not None:
        overrides.setdefault("run", {})["run_dir"] = args.run_dir
    supervisor = {}
    if args.duration is not None:
        supervisor["duration_s"] = args.duration
    if args.http_port is not None:
        supervisor["http_port"] = args.http_port
    if args.no_dashboard:
        supervisor["dashboard"] = False
    if supervisor:
        overrides["supervisor"] = supervisor
    return overrides


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = overrides_from(args)
    if args.check_config:
        return check_config(args.config, args.env, overrides=overrides)
    try:
        loaded = load_config(args.config, args.env, overrides=overrides)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    return run(loaded, args)


# Stages in start order: consumers first, so nothing is produced before its consumer is listening.
STAGE_MODULES = (("positions", "positions.stage"), ("orders", "orders.stage"),
                 ("signals", "signals.stage"), ("feed", "feed.stage"))
# Imported once by the forkserver, so every (re)started stage is forked with compiled kernels in memory.
PRELOAD = ["numpy", "numba", "zmq", "common.ringbuffer", "common.warmup", "feed.warm", "signals.warm", "orders.warm",
           "positions.warm"]


def build_plan(config):
    """What this configuration runs: stages and cores, instrument rows, ring size, extra segments."""
    from common.dtypes import INSTRUMENT_DTYPE
    from common.supervision.core import StageSpec
    from common.supervision.launcher import RunPlan
    from config.placement import available_cores, resolve_cores
    from orders.layout import segment_sizes as orders_segments
    from signals.layout import segment_sizes as signals_segments

    cores = resolve_cores(config, available_cores())
    rows = np.zeros(len(config.instruments), dtype=INSTRUMENT_DTYPE)
    for i, inst in enumerate(config.instruments):
        rows[i] = (inst.token, inst.exchange_token, inst.tick_size, inst.lot_size, inst.freeze_qty,
                   _price_divisor(inst), inst.symbol.encode(), inst.exchange.encode(), inst.broker_key.encode())
    return RunPlan(
        stages=[StageSpec(name, module, tuple(cores[name])) for name, module in STAGE_MODULES],
        instrument_rows=rows, ring_capacity=config.feed.ring_capacity,
        lossless=config.feed.source == "replay", preload=PRELOAD, segments={**signals_segments(config), **orders_segments(config)},
        supervisor_cores=tuple(cores["supervisor"]))


def _price_divisor(inst) -> float:
    """Kite's binary feed sends paise; currency derivatives in 1e-7 rupees (brokers.md, KiteTicker)."""
    return 10_000_000.0 if inst.exchange == "CDS" else 100.0


def run(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    """Start, watch and stop the stages. Returns EXIT_OK, or EXIT_HALTED when trading halted."""
    from common import log
    from common.supervision.session import Session

    log.configure(loaded.config.run.log_level)
    return Session(loaded, build_plan(loaded.config)).run()


if __name__ == "__main__":
    sys.exit(main())
