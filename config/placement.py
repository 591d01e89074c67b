"""Which CPU cores each stage (and the supervisor) runs on.

Automatic placement gives a core of its own to the stages that sit on the hot path, in order of
how much a shared core hurts them: signals (tick → intent), then orders (intent → broker), then
feed, then positions. With five or more cores the supervisor gets the first core and each stage its
own. With fewer, the hot stages take the last cores and everything else shares the first one, so a
2-core machine runs signals alone on core 1 and feed, orders, positions and the supervisor on core
0. Cores are positions in the affinity list, not core numbers: a process limited to {2, 5} places on
2 and 5. A stage with explicit `cores` keeps them; the others are placed automatically.

Each stage's wait mode (`stages.<name>.wait`) resolves here too: `spin` (poll, never sleep), `yield`
(signals on a shared core under `auto`: spin briefly, then give the core away) or `block` (sleep on
a doorbell). A spinner needs cores no other process of the run uses: `check_cores` refuses anything
else, before a single process starts.
"""

import os

import psutil

from common.errors import ConfigError
from config.schema import STAGE_NAMES, Config

SUPERVISOR = "supervisor"
# Who deserves a dedicated core first when there are not enough for everyone.
_HOT_FIRST = ("signals", "orders", "feed", "positions")
# The stages with a spinning wait (signals: its tick reader; orders: its intent ring and sockets).
CAN_SPIN = ("signals", "orders")
_COLLAPSE = ("two spinners (or a spinner and any other process) on one vCPU take turns by "
             "timeslice and throughput collapses 80-250x")


def available_cores() -> list[int]:
    """The cores this process may run on, sorted."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        pass
    try:
        return sorted(psutil.Process().cpu_affinity())
    except (AttributeError, psutil.Error):  # macOS has no affinity at all
        return list(range(psutil.cpu_count() or 1))


def check_cores(config: Config, available: list[int]) -> tuple[str, str] | None:
    """(field path, message) for the first configured core this process may not use, or the first
    wait mode the resulting placement cannot honour; else None."""
    problem = _check_core_list(config, available)
    if problem or not available:
        return problem
    return check_waits(config, resolve_cores(config, available), len(available))


def _check_core_list(config: Config, available: list[int]) -> tuple[str, str] | None:
    allowed = set(available)
    for stage in STAGE_NAMES:
        cores = getattr(config.stages, stage).cores or ()
        for i, core in enumerate(cores):
            if core not in allowed:
                return (f"stages.{stage}.cores[{i}]",
                        f"core {core} is not available to this process "
                        f"(available: {', '.join(map(str, sorted(allowed)))})")
    return None


def exclusive_stages(placement: dict[str, list[int]]) -> dict[str, bool]:
    """stage -> True when no other stage nor the supervisor shares any of its cores."""
    exclusive = {}
    for stage in STAGE_NAMES:
        others = set().union(*(set(c) for name, c in placement.items() if name != stage))
        exclusive[stage] = not (set(placement[stage]) & others)
    return exclusive


def resolve_wait(stage: str, requested: str, exclusive: bool) -> str:
    """The wait a stage runs with: "spin", "yield" or "block". "auto" is the rule from before the
    setting existed: signals spins alone on its cores and yields on shared ones, the rest block."""
    if requested != "auto":
        return requested
    if stage == "signals":
        return "spin" if exclusive else "yield"
    return "block"


def resolve_waits(config: Config, placement: dict[str, list[int]]) -> dict[str, str]:
    exclusive = exclusive_stages(placement)
    return {s: resolve_wait(s, getattr(config.stages, s).wait, exclusive[s]) for s in STAGE_NAMES}


def check_waits(config: Config, placement: dict[str, list[int]],
                usable: int) -> tuple[str, str] | None:
    """(field path, message) for the first `wait: spin` this placement cannot honour, else None.

    A spinner must be alone on its cores: no other stage, nor the supervisor, on any of them. That
    one rule also keeps two spinners apart on a small machine (each alone on its cores means on
    distinct cores), so two spinners on 2 cores, or on one, are refused here as well."""
    exclusive = exclusive_stages(placement)
    for stage in STAGE_NAMES:
        if getattr(config.stages, stage).wait != "spin":
            continue
        path = f"stages.{stage}.wait"
        if stage not in CAN_SPIN:
            return path, f"{stage} has no spinning wait (only {' and '.join(CAN_SPIN)} spin)"
        if not exclusive[stage]:
            mine = set(placement[stage])
            sharers = [name for name, c in placement.items() if name != stage and set(c) & mine]
            return path, (f"spin needs a core of its own, and {stage} shares core(s) "
                          f"{', '.join(map(str, sorted(mine)))} with {', '.join(sharers)} "
                          f"({usable} usable cores): {_COLLAPSE}; give it `cores` no other stage "
                          f"uses, or wait: block")
    return None


def resolve_cores(config: Config, available_cores: list[int]) -> dict[str, list[int]]:
    """Map every stage and the supervisor to the cores it should be pinned to."""
    cores = sorted(available_cores)
    if not cores:
        raise ConfigError("no CPU cores are available to this process", path="stages")
    problem = _check_core_list(config, cores)
    if problem:
        raise ConfigError(problem[1], path=problem[0])
    placement = _automatic(cores)
    for stage in STAGE_NAMES:
        explicit = getattr(config.stages, stage).cores
        if explicit is not None:
            placement[stage] = list(explicit)
    return placement


def _automatic(cores: list[int]) -> dict[str, list[int]]:
    if len(cores) > len(STAGE_NAMES):
        placement = {SUPERVISOR: [cores[0]]}
        placement.update({stage: [core] for stage, core in zip(STAGE_NAMES, cores[1:])})
        return placement
    # Fewer cores than stages + supervisor: the hottest stages take the last cores, one each,
    # and the rest share the first.
    dedicated = _HOT_FIRST[: len(cores) - 1]
    placement = {stage: [cores[-1 - rank]] for rank, stage in enumerate(dedicated)}
    for name in (*STAGE_NAMES, SUPERVISOR):
        placement.setdefault(name, [cores[0]])
    return {name: placement[name] for name in (*STAGE_NAMES, SUPERVISOR)}


def wait_mode(ctx) -> str:
    """The wait a stage's context asks for; a context built by hand ("auto") gets the auto rule."""
    if ctx.wait != "auto":
        return ctx.wait
    return resolve_wait(ctx.stage, "auto", ctx.exclusive_cores)


def helper_cores(ctx) -> tuple[int, ...]:
    """Where a stage's helper threads and processes (zmq I/O threads, the snapshot writer) run:
    a spinning stage's `io_cores`, since on its own core they would wait for the spinner to be
    preempted; otherwise the stage's own cores."""
    if wait_mode(ctx) == "spin" and ctx.io_cores:
        return tuple(ctx.io_cores)
    return tuple(ctx.cores)
