"""Which CPU cores each stage (and the supervisor) runs on.

Automatic placement gives a core of its own to the stages that sit on the hot path, in order of
how much a shared core hurts them: signals (tick → intent), then orders (intent → broker), then
feed, then positions. With five or more cores the supervisor gets the first core and each stage its
own. With fewer, the hot stages take the last cores and everything else shares the first one, so a
2-core machine runs signals alone on core 1 and feed, orders, positions and the supervisor on core
0. Cores are positions in the affinity list, not core numbers: a process limited to {2, 5} places on
2 and 5. A stage with explicit `cores` keeps them; the others are placed automatically.
"""

import os

import psutil

from common.errors import ConfigError
from config.schema import STAGE_NAMES, Config

SUPERVISOR = "supervisor"
# Who deserves a dedicated core first when there are not enough for everyone.
_HOT_FIRST = ("signals", "orders", "feed", "positions")


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
    """(field path, message) for the first configured core this process may not use, else None."""
    allowed = set(available)
    for stage in STAGE_NAMES:
        cores = getattr(config.stages, stage).cores or ()
        for i, core in enumerate(cores):
            if core not in allowed:
                return (f"stages.{stage}.cores[{i}]",
                        f"core {core} is not available to this process "
                        f"(available: {', '.join(map(str, sorted(allowed)))})")
    return None


def resolve_cores(config: Config, available_cores: list[int]) -> dict[str, list[int]]:
    """Map every stage and the supervisor to the cores it should be pinned to."""
    cores = sorted(available_cores)
    if not cores:
        raise ConfigError("no CPU cores are available to this process", path="stages")
    problem = check_cores(config, cores)
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
