"""Walk-forward windows: rolling train/test splits over the sessions the data holds.

    folds = split(sessions, parse_spec("train=20d,test=5d"))

A session is an IST day with ticks in the file (holidays and weekends without data do not count),
so `20d` is twenty trading sessions, not twenty calendar days. Fold k trains on sessions
[k*test, k*test + train) and tests on the `test` sessions right after; the next fold moves by
`test`, so the test windows follow one another without gap or overlap and their out-of-sample P&L
concatenates into one equity curve. Sessions left over at the end (fewer than `test`) are not used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.errors import ConfigError

_PART = re.compile(r"(train|test)=(\d+)d")


@dataclass(frozen=True)
class Fold:
    index: int
    train: tuple[str, str]     # first and last session, inclusive (YYYY-MM-DD)
    test: tuple[str, str]


def parse_spec(spec: str) -> tuple[int, int]:
    """`train=20d,test=5d` → (20, 5) sessions."""
    found = {}
    for part in spec.split(","):
        m = _PART.fullmatch(part.strip())
        if not m:
            raise ConfigError(
                f"{part.strip()!r} is not train=Nd or test=Nd (N sessions)", path="--walk-forward"
            )
        found[m.group(1)] = int(m.group(2))
    if set(found) != {"train", "test"} or min(found.values()) < 1:
        raise ConfigError(
            f"{spec!r}: give both train=Nd and test=Nd, each at least 1d", path="--walk-forward"
        )
    return found["train"], found["test"]


def split(sessions: list[str], spec: tuple[int, int]) -> list[Fold]:
    """The folds over `sessions` (in order); ConfigError when not even one fits."""
    train, test = spec
    if len(sessions) < train + test:
        raise ConfigError(
            f"the data holds {len(sessions)} session(s); one fold needs train {train} + test "
            f"{test}",
            path="--walk-forward",
        )
    folds: list[Fold] = []
    start = 0
    while start + train + test <= len(sessions):
        tr, te = sessions[start:start + train], sessions[start + train:start + train + test]
        folds.append(Fold(len(folds), (tr[0], tr[-1]), (te[0], te[-1])))
        start += test
    return folds
