"""Where the pipeline benchmark's stages ran, and the spinning-orders case (issue 14.5).

The live-pace tick → order figure depends on placement: on 2 usable cores only signals may spin
(orders shares core 0 with feed, positions and the supervisor, so it blocks on its doorbell). With
4 or more, automatic placement gives orders a core of its own and `stages.orders.wait: spin` lets it
poll its intent ring without ever sleeping. That case is run only where the cores exist; elsewhere
the result records why it was not measured, never a number.
"""

from __future__ import annotations

from config.loader import load_config
from config.placement import available_cores, resolve_cores, resolve_waits

# The "≥ 4-core placement": automatic placement gives signals and orders a core each and
# leaves feed a third, positions and the supervisor a fourth.
SPINNERS_NEED_CORES = 4
# The override that turns the default placement into the spinning-orders one.
SPINNING_ORDERS = {"stages": {"orders": {"wait": "spin"}}}


def describe(config: dict, cores: list[int] | None = None) -> dict:
    """Each stage's cores and resolved wait mode for `config` on this machine (or on `cores`)."""
    cores = available_cores() if cores is None else cores
    resolved = load_config(None, None, None, None, overrides=config, available_cores=cores).config
    where = resolve_cores(resolved, cores)
    waits = resolve_waits(resolved, where)
    return {"usable_cores": len(cores),
            "stages": {s: {"cores": where[s], "wait": waits[s]} for s in waits},
            "supervisor_cores": where["supervisor"]}


def not_measurable(usable: int) -> str | None:
    """Why the spinning-orders case cannot run on `usable` cores, or None when it can."""
    if usable < SPINNERS_NEED_CORES:
        return f"not measurable here: {usable} usable cores"
    return None


def label(placement: dict) -> str:
    """`signals 1 spin, orders 0 block, ...`: one line for the printout."""
    return ", ".join(f"{name} {'+'.join(map(str, s['cores']))} {s['wait']}"
                     for name, s in placement["stages"].items())


def table_row(spinning: dict | str) -> dict:
    """The suite table's row for the spinning-orders live run: its tick → order latency, or no
    value and the reason it was not measured."""
    from benchmarks import table

    metric = "live tick → entry order at broker, orders spinning (≥ 4 cores)"
    if isinstance(spinning, str):
        return table.row("pipeline", metric, None, table.LATENCY_UNIT, spinning)
    return table.latency_row("pipeline", metric, spinning["latency"]["tick_to_order"],
                             label(spinning["placement"]))
