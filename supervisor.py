"""OTrade's entry point: `python supervisor.py [--config FILE] [--env NAME] [...]`.

Validates the whole configuration before anything starts, then runs the pipeline. Command-line
flags are overrides of configuration fields and are validated with them (a bad --http-port is
reported as `command line: supervisor.http_port: ...`).

Exit codes: 0 normal end, 2 configuration error, 3 trading halted.
"""

import argparse
import os
import sys
import time

import numpy as np

from common.dtypes import TICK_DTYPE

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
PRELOAD = ["numpy", "numba", "zmq", "config.loader", "config.cli", "common.ringbuffer", "common.warmup",
           "feed.warm", "signals.warm", "orders.warm", "positions.warm",
           "feed.stage", "signals.stage", "orders.stage", "positions.stage",
           "common.gcfreeze"]   # last: freeze what the template imported, so children do not re-scan it


def build_plan(config):
    """What this configuration runs: stages and cores, instrument rows, ring size, extra segments."""
    from common.supervision.core import StageSpec
    from common.supervision.launcher import RunPlan
    from config.placement import available_cores, resolve_cores
    from orders.layout import segment_sizes as orders_segments
    from signals.layout import segment_sizes as signals_segments

    cores = resolve_cores(config, available_cores())
    rows = build_plan_rows(config)
    return RunPlan(
        stages=[StageSpec(name, module, tuple(cores[name])) for name, module in STAGE_MODULES],
        instrument_rows=rows, ring_capacity=config.feed.ring_capacity,
        lossless=config.feed.source == "replay", preload=PRELOAD, segments={**signals_segments(config), **orders_segments(config)},
        supervisor_cores=tuple(cores["supervisor"]))


def build_plan_rows(config) -> np.ndarray:
    """The instrument table's rows (INSTRUMENT_DTYPE) from config.instruments."""
    from common.dtypes import INSTRUMENT_DTYPE

    rows = np.zeros(len(config.instruments), dtype=INSTRUMENT_DTYPE)
    for i, inst in enumerate(config.instruments):
        rows[i] = (inst.token, inst.exchange_token, inst.tick_size, inst.lot_size, inst.freeze_qty,
                   _price_divisor(inst), inst.symbol.encode(), inst.exchange.encode(), inst.broker_key.encode())
    return rows


def _price_divisor(inst) -> float:
    """Kite's binary feed sends paise; currency derivatives in 1e-7 rupees (brokers.md, KiteTicker)."""
    return 10_000_000.0 if inst.exchange == "CDS" else 100.0


def run(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    """Start, watch and stop the stages. Returns EXIT_OK, or EXIT_HALTED when trading halted."""
    import msgspec

    from common import log
    from common.supervision.session import Session

    log.configure(loaded.config.run.log_level)
    cfg = loaded.config
    run_dir = os.path.abspath(cfg.run.run_dir or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S")))
    os.makedirs(run_dir, exist_ok=True)
    cfg = msgspec.structs.replace(cfg, run=msgspec.structs.replace(cfg.run, run_dir=run_dir))
    venue = LocalKiteVenue(cfg, run_dir) if cfg.broker.name == "kite" and cfg.broker.kite.local_server else None
    try:
        if venue is not None:
            cfg = venue.start()
        loaded = msgspec.structs.replace(loaded, config=cfg)
        from positions.report import render_after_run   # report.html + PNGs in the run directory

        return Session(loaded, build_plan(cfg), on_finished=render_after_run).run()
    finally:
        if venue is not None:
            venue.stop()


class LocalKiteVenue:
    """A local Kite "exchange" for rehearsals (`broker.kite.local_server`): the ticker websocket streams
    sim prices in KiteTicker's binary format, the REST server takes orders in Kite's wire format and fills
    them on the same prices with the paper broker's fill model. Runs on threads of the supervisor, so a
    stage crash never takes the venue with it; the stages reach it only over loopback, as they would Kite.
    """

    TICKS_PER_INTERVAL = 40

    def __init__(self, config, run_dir: str):
        import msgspec

        from feed.sources.sim import SimSource

        self.config = config
        self.tokens = np.array([i.token for i in config.instruments], dtype=np.int64)
        self.rows = build_plan_rows(config)
        sim = msgspec.structs.replace(config.feed.sim, tick_rate_hz=0.0, max_ticks=None)
        self.sim = SimSource(sim, [i.ref_price for i in config.instruments])
        self.sim.open(_TickSizes(self.rows))
        self.buf = np.zeros(self.TICKS_PER_INTERVAL, dtype=TICK_DTYPE)
        self.seq = 0
        self.run_dir = run_dir

    def _provide(self, tokens):
        """Called by the ticker server each interval: advance the sim, fill orders, return quotes."""
        from feed.sources.kite.frames import DepthLevel, KiteQuote

        n = self.sim.read(self.buf, timeout_s=0.0)
        rows = self.buf[:n]
        rows["seq"] = self.seq + 1 + np.arange(n)
        self.seq += n
        rows["ts_event_ns"] = time.time_ns()
        self.rest.on_ticks(rows)
        wanted = set(tokens)
        now_s = int(time.time())
        return [KiteQuote(token=int(self.tokens[r["instrument"]]), last_price=float(r["price"]),
                          last_qty=int(r["qty"]), volume=int(r["volume"]), exchange_ts=now_s, last_trade_time=now_s,
                          bids=(DepthLevel(float(r["bid"]), 10),), asks=(DepthLevel(float(r["ask"]), 10),))
                for r in rows if int(self.tokens[r["instrument"]]) in wanted]

    def start(self):
        """Start both servers; return the config with the stages pointed at them."""
        import msgspec

        from feed.localserver.kite_ticker import KiteTickerServer
        from orders.brokers.kite.credentials import LOCAL_ACCESS_TOKEN
        from orders.brokers.kite.localserver import KiteLocalServer

        self.rest = KiteLocalServer(instruments=self.rows, paper_journal=os.path.join(self.run_dir, "venue_kite.jsonl"))
        self.rest.start()
        self.ticker = KiteTickerServer(access_token=LOCAL_ACCESS_TOKEN, tick_provider=self._provide, interval_s=0.05)
        self.ticker.start()
        cfg = self.config
        feed = msgspec.structs.replace(cfg.feed, kite=msgspec.structs.replace(cfg.feed.kite, root=self.ticker.url))
        broker = msgspec.structs.replace(cfg.broker, kite=msgspec.structs.replace(cfg.broker.kite, root=self.rest.url))
        return msgspec.structs.replace(cfg, feed=feed, broker=broker)

    def stop(self) -> None:
        for server in (getattr(self, "ticker", None), getattr(self, "rest", None)):
            if server is not None:
                server.stop()


class _TickSizes:
    def __init__(self, rows):
        self.rows = rows


if __name__ == "__main__":
    sys.exit(main())
