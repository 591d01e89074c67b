"""OTrade's entry point: `python supervisor.py [--config FILE] [--env NAME] [...]`.

Validates the whole configuration before anything starts, then runs the pipeline. Command-line
flags are overrides of configuration fields and are validated with them (a bad --http-port is
reported as `command line: supervisor.http_port: ...`).

Exit codes: 0 normal end, 2 configuration error (or another supervisor holds the run dir or the
broker account), 3 trading halted, 4 the supervisor could not write its run log (supervisor.jsonl)
or the run's results: a full disk. On 4 trading was halted and every stage stopped through the
normal ladder before the exit; the cause is on stderr. 5: the run stopped with orders working or
positions open at a (live or local) broker, listed in summary.json `left_at_broker` and on stderr
(run.on_stop "leave", or a flatten the broker did not confirm in time). 6: a stage's stop drain did
not finish (it was killed); summary.json `drain` says which and what was left.

Private by default: the process sets umask 077 before it creates anything, so the run directory and
every file in it (logs, journals, positions, summary, report) are readable by their owner only, and
the stages (forked from a forkserver started here) inherit it.
"""

import argparse
import os
import sys
import time

from common.errors import ConfigError
from config.cli import EXIT_CONFIG_ERROR, check_config
from config.loader import LoadedConfig, load_config

EXIT_OK = 0
EXIT_HALTED = 3
EXIT_LOG_FAILED = 4
PRIVATE_UMASK = 0o077


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supervisor.py",
        description="Run the OTrade pipeline (feed, signals, orders, positions).",
        epilog="Exit codes: 0 normal, 2 configuration error or run dir/account in use, 3 trading "
        "halted, "
        "4 could not write the run log or results (disk full), 5 orders or positions left at the "
        "broker, 6 a stage's stop drain did not finish. Operator controls on a running session: "
        "supervisor.py ctl status|halt|resume|flatten|reconcile|adopt [--run-dir DIR].",
    )
    parser.add_argument("--config", metavar="FILE",
                        help="configuration file (default: the embedded config/default.json)")
    parser.add_argument(
        "--env",
        metavar="NAME",
        help="overlay env/NAME.json on top of the configuration (dev, staging, prod)",
    )
    parser.add_argument(
        "--run-dir", metavar="DIR", help="run directory (default: runs/<timestamp>)"
    )
    parser.add_argument("--duration", metavar="SECONDS", type=float,
                        help="stop after this many seconds (default: run until Ctrl-C)")
    parser.add_argument("--http-port", metavar="N", type=int,
                        help="port of /health and /metrics on 127.0.0.1 (0 = off)")
    parser.add_argument("--speed", metavar="N", type=float,
                        help="sim feed (realistic profile): run the market clock N times wall pace "
                             "(feed.sim.speed; default 1, 0 = as fast as possible)")
    parser.add_argument("--no-dashboard", action="store_true", help="no live status view")
    parser.add_argument("--check-config", action="store_true",
                        help="validate the configuration, print a summary and exit (0 or 2)")
    return parser


def overrides_from(args: argparse.Namespace) -> dict:
    """The configuration fields the command line sets, shaped like the JSON they override."""
    overrides: dict = {}
    if args.run_dir is not None:
        overrides.setdefault("run", {})["run_dir"] = args.run_dir
    if args.speed is not None:
        overrides["feed"] = {"sim": {"speed": args.speed}}
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
    os.umask(PRIVATE_UMASK)   # before any file, directory or process exists (issue 12.8)
    argv = sys.argv[1:] if argv is None else argv
    # `supervisor.py ctl status|halt|...`: act on a running session (issue 11.5)
    if argv[:1] == ["ctl"]:
        from supervision.ctl import ctl_main

        return ctl_main(argv[1:])
    # `python -m supervisor archive --older-than 30d DEST` (issue 16.3)
    if argv[:1] == ["archive"]:
        from supervision.archive import archive_main

        return archive_main(argv[1:])
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
# Imported once by the forkserver, so every (re)started stage is forked with compiled kernels in
# memory.
PRELOAD = [
    # first: this script itself, imported by the forkserver so its children do not run it again
    "supervision.forkmain",
    "numpy",
    "numba",
    "zmq",
    "config.loader",
    "config.cli",
    "common.ringbuffer",
    "common.warmup",
    "feed.warm",
    "signals.warm",
    "orders.warm",
    "positions.warm",
    "feed.stage",
    "signals.stage",
    "orders.stage",
    "positions.stage",
    # last: freeze what the template imported, so children do not re-scan it
    "common.gcfreeze",
]
# What a stage imports only for the broker or tick source in use (orders/brokers/__init__.py,
# feed/sources/__init__.py), imported once by the forkserver so that a restarted stage does not pay
# it again (measured: Kite's SDK and its Twisted stack 0.3-0.5 s, Upstox's 0.17 s). Never
# `kiteconnect` itself: importing it installs Twisted's reactor (an epoll fd and a waker pipe) in
# the forkserver, which every stage forked from it would then share. Its dependencies, which are
# the cost, install nothing (tests/supervision/test_warm.py holds both).
KITE_DEPENDENCIES = [
    "requests", "dateutil.parser", "OpenSSL.SSL", "cryptography.x509",
    "twisted.internet.epollreactor", "twisted.internet.tcp", "twisted.internet.ssl",
    "twisted.protocols.tls", "autobahn.twisted.websocket",
]
BROKER_MODULES = {"paper": ["orders.brokers.paper.broker"], "kite": KITE_DEPENDENCIES,
                  "upstox": ["orders.brokers.upstox.broker"]}
SOURCE_MODULES = {"sim": [], "replay": ["feed.sources.replay"], "kite": KITE_DEPENDENCIES,
                  "upstox": ["feed.sources.upstox.source"]}


def preload_for(config) -> list[str]:
    """PRELOAD plus the broker adapter and tick source `config` uses (gcfreeze stays last)."""
    extra = BROKER_MODULES.get(config.broker.name, []) + SOURCE_MODULES.get(config.feed.source, [])
    if config.broker.name == "upstox" and config.feed.upstox.order_updates:
        extra.append("feed.sources.upstox.orderstream")
    extra = [m for m in dict.fromkeys(extra) if m not in PRELOAD]
    return PRELOAD[:-1] + extra + PRELOAD[-1:]


def build_plan(config):
    """What this configuration runs: stages and cores, instrument rows, ring size, extra
    segments."""
    from common.instruments import instrument_rows
    from supervision.core import StageSpec
    from supervision.launcher import RunPlan
    from config.placement import available_cores, resolve_cores
    from orders.layout import segment_sizes as orders_segments
    from signals.layout import segment_sizes as signals_segments

    cores = resolve_cores(config, available_cores())
    rows = instrument_rows(config)
    return RunPlan(
        stages=[StageSpec(name, module, tuple(cores[name])) for name, module in STAGE_MODULES],
        instrument_rows=rows,
        ring_capacity=config.feed.ring_capacity,
        lossless=config.feed.source == "replay",
        preload=preload_for(config),
        segments={**signals_segments(config), **orders_segments(config)},
        supervisor_cores=tuple(cores["supervisor"]),
    )


def run(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    """Lock the run dir and the account, then start, watch and stop the stages; the exit code."""
    import msgspec

    from common import log
    from supervision.instancelock import LockHeld, release_all, take_instance_locks
    from supervision.registry import RegistryError

    log.configure(loaded.config.run.log_level)
    cfg = loaded.config
    run_dir = os.path.abspath(
        cfg.run.run_dir or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))
    )
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    cfg = msgspec.structs.replace(cfg, run=msgspec.structs.replace(cfg.run, run_dir=run_dir))
    try:   # before anything of the run is created or deleted (issue 11.4)
        locks = take_instance_locks(cfg, loaded.secrets, run_dir)
    except (LockHeld, RegistryError) as e:
        print(f"supervisor: {e}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    try:
        from supervision.dayopen import DayRefused, open_day

        try:
            day = open_day(cfg, loaded.secrets, run_dir)
        except DayRefused:
            return EXIT_CONFIG_ERROR
        return _run_locked(loaded, cfg, run_dir, day)
    finally:
        release_all(locks)


def _run_locked(loaded: LoadedConfig, cfg, run_dir: str, day) -> int:
    import msgspec

    from supervision.registry import RegistryError
    from supervision.session import Session
    # the rehearsal exchange, when the config asks for one
    from localvenue.venue import local_venue

    venue = local_venue(cfg, run_dir)
    try:
        if venue is not None:
            cfg = venue.start()
        loaded = msgspec.structs.replace(loaded, config=cfg)
        # report.html + PNGs in the run directory, unless run.report is false
        from reports.report import render_after_run, report_declined

        plan = build_plan(cfg)
        # the account's state and tick sequence (supervision/accountday.py)
        if day is not None:
            plan.state_dir, plan.first_tick_seq = day.dir, day.first_tick_seq
        finished = render_after_run if cfg.run.report else report_declined
        return Session(loaded, plan, on_finished=finished).run()
    except RegistryError as e:   # an untrusted run registry: nothing was started, nothing swept
        print(f"supervisor: {e}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    finally:
        if venue is not None:
            venue.stop()


if __name__ == "__main__":
    sys.exit(main())
