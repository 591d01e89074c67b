"""The parameter space of a sweep: `--grid PATH=VALUES` axes, and the cells drawn from them.

    axes = parse_axes(["strategies.0.params.fast=5,10,20", "strategies.0.params.slow=30:50:10"])
    grid_cells(axes)             -> every combination, in axis order (the first axis varies slowest)
    random_cells(axes, 8, seed)  -> 8 distinct combinations, drawn with `seed`
    apply(raw_config, params)    -> a copy of the raw JSON config with each PATH set

PATH is a dotted path into the JSON config; a number is a list index (`strategies.0` is the first
strategy). VALUES is a comma list (`5,10,20`) or an inclusive integer range `start:stop[:step]`
(`30:50:10` is 30, 40, 50; a text with a colon is written quoted: '"15:00"'). Each value is read as
JSON where it parses (5 → int, 0.5 → float, true → bool, "ema" stays text), so the config's own
validation judges it exactly as it would in a file.
"""

from __future__ import annotations

import copy
import itertools
import random

import orjson

from common.errors import ConfigError


def parse_value(text: str):
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def parse_values(spec: str, path: str) -> list:
    if ":" in spec and "," not in spec and not spec.lstrip().startswith('"'):   # '"15:00"' is text
        try:
            parts = [int(p) for p in spec.split(":")]
        except ValueError:
            raise ConfigError(
                f"{spec!r} is not an integer range start:stop[:step]", path=f"--grid {path}"
            ) from None
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] <= 0) or parts[1] < parts[0]:
            raise ConfigError(
                f"{spec!r}: a range is start:stop[:step] with start <= stop and step > 0",
                path=f"--grid {path}",
            )
        start, stop, step = parts[0], parts[1], parts[2] if len(parts) == 3 else 1
        return list(range(start, stop + 1, step))
    values = [parse_value(v.strip()) for v in spec.split(",") if v.strip()]
    if not values:
        raise ConfigError("no value given", path=f"--grid {path}")
    return values


def parse_axes(specs: list[str]) -> dict[str, list]:
    """{path: values}, in the order given; ConfigError for a malformed or repeated axis."""
    axes: dict[str, list] = {}
    for spec in specs:
        path, sep, values = spec.partition("=")
        path = path.strip()
        if not sep or not path:
            raise ConfigError(f"{spec!r} is not PATH=VALUES", path="--grid")
        if path in axes:
            raise ConfigError(f"{path} is given twice", path="--grid")
        # a repeated value is one cell
        axes[path] = list(dict.fromkeys(parse_values(values, path)))
    if not axes:
        raise ConfigError("a sweep needs at least one --grid PATH=VALUES", path="--grid")
    return axes


def grid_cells(axes: dict[str, list]) -> list[dict]:
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*axes.values())]


def random_cells(axes: dict[str, list], trials: int, seed: int) -> list[dict]:
    """`trials` distinct combinations (all of them, in grid order, when the grid has no more)."""
    cells = grid_cells(axes)
    if trials >= len(cells):
        return cells
    return random.Random(seed).sample(cells, trials)


def _step(node, part: str, path: str):
    if isinstance(node, list):
        if not part.isdigit() or int(part) >= len(node):
            raise ConfigError(f"{part!r} is not an index of a list of {len(node)}", path=path)
        return int(part)
    if isinstance(node, dict):
        return part
    raise ConfigError(f"{part!r} is below a value that is neither an object nor a list", path=path)


def apply(raw: dict, params: dict) -> dict:
    """A deep copy of `raw` with each dotted path set; missing objects on the way are created (the
    config's defaults then fill the rest), list indices must exist."""
    out = copy.deepcopy(raw)
    for path, value in params.items():
        node, parts = out, path.split(".")
        for part in parts[:-1]:
            key = _step(node, part, path)
            if isinstance(node, dict) and key not in node:
                node[key] = {}
            node = node[key]
        node[_step(node, parts[-1], path)] = value
    return out


def label(params: dict) -> str:
    """A short human name of a cell: the last part of each path and its value."""
    return " ".join(f"{path.rsplit('.', 1)[-1]}={value}" for path, value in params.items())
