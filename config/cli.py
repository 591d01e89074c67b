"""`supervisor.py --check-config`: validate a configuration without starting anything.

Prints `config OK` and a one-line summary on stdout and returns 0, or prints one error (file, dotted
field, reason) on stderr and returns EXIT_CONFIG_ERROR. A replay feed's file is opened and checked
too (config/replaycheck.py: columns, encoding, the first rows), naming the line and column at fault.
The summary names venues and counts only: no credential ever reaches the output, not even masked.
"""

import sys
from collections.abc import Mapping
from typing import TextIO

from common.errors import ConfigError
from config.loader import LoadedConfig, display_path, load_config
from config.placement import available_cores, resolve_cores, resolve_waits
from config.replaycheck import check_replay_file

EXIT_OK = 0
EXIT_CONFIG_ERROR = 2


def check_config(
    config_path: str | None,
    env: str | None,
    environ: Mapping[str, str] | None = None,
    *,
    overrides: Mapping | None = None,
    dotenv_path: str | None = ".env",
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Load and validate; report on `out` / `err` (stdout / stderr); return the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        loaded = load_config(config_path, env, environ, dotenv_path, overrides=overrides)
        replay = loaded.config.feed.replay
        if loaded.config.feed.source == "replay" and replay.path is not None:  # loader checked it
            check_replay_file(replay.path, replay.resolved_format())
    except ConfigError as e:
        print(f"config error: {e}", file=err)
        return EXIT_CONFIG_ERROR
    print("config OK", file=out)
    print(summary(loaded), file=out)
    return EXIT_OK


def summary(loaded: LoadedConfig) -> str:
    """One line: feed source, broker, strategies, instrument count and the files merged."""
    config = loaded.config
    broker: str = config.broker.name
    if broker != "paper" and config.broker.is_local(broker):
        broker += " (local server)"
    strategies = ", ".join(f"{s.name} ({s.kind})" for s in config.strategies) or "none"
    files = " + ".join(display_path(path) for path in loaded.sources)
    # The order rate a trader is held to (the retail-algo framework's threshold less the margin).
    rate = (f"orders/s: {config.risk.rate_per_sec} account, {config.risk.venue_rate_per_sec} per "
            f"exchange/segment")
    return (f"feed: {config.feed.source} | broker: {broker} | strategies: {strategies} | "
            f"instruments: {len(config.instruments)} | {rate} | {placement(loaded)} | "
            f"from: {files}")


def placement(loaded: LoadedConfig, cores: list[int] | None = None) -> str:
    """Each stage's cores and resolved wait mode on this machine (or on `cores`), e.g.
    `placement: feed 0 block, signals 1 spin, ...`: what a run here would start with."""
    cores = available_cores() if cores is None else cores
    where = resolve_cores(loaded.config, cores)
    waits = resolve_waits(loaded.config, where)
    stages = ", ".join(f"{s} {'+'.join(map(str, where[s]))} {waits[s]}" for s in waits)
    return f"placement ({len(cores)} usable cores): {stages}"
