"""PNG figures of a suite run: latency percentiles per stage and metric, and throughputs side by
side.

The figures are found in the results, not declared by the benchmarks: any dict holding percentiles
(`p50_us`/`p99_us`/`p99_9_us`, or the restart benchmark's `p50_ms`/`p99_ms`/`max_ms`) with a count
is a latency distribution, and any positive number under a key ending in `ticks_per_s` is a
throughput. So a new benchmark, or a new figure in an old one, is drawn without touching this file.

- `latency_<benchmark>.png`: one line per distribution, its percentiles as markers on a log axis
  (the ladder p50 → p99 → p99.9 → max shows the tail at a glance);
- `throughput.png`: one panel per benchmark, one bar per system or transport (OTrade's blue, peers'
  grey), on a log axis when the panel spans 20x or more.
"""

from __future__ import annotations

import math
import os

# (key suffix, label, marker) per unit family; µs first, the restart benchmark's ms second.
_PERCENTILES_US = (("p50_us", "p50", "o"), ("p99_us", "p99", "s"), ("p99_9_us", "p99.9", "^"),
                   ("max_us", "max", "x"))
_PERCENTILES_MS = (("p50_ms", "p50", "o"), ("p99_ms", "p99", "s"), ("max_ms", "max", "x"))
_COLORS = {"p50": "tab:green", "p99": "tab:orange", "p99.9": "tab:red", "max": "0.3"}
_SKIP = {"targets"}                       # declared goals, not measurements
_NOISE = {"latency", "throughput", "systems"}   # path parts that say nothing in a label
OURS, PEER = "tab:blue", "0.6"
MAX_LINES = 40      # per latency figure: beyond this the labels no longer read


def _walk(node, path=()):
    """(path, dict) for every dict in a nested results structure, depth first."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if key not in _SKIP:
                yield from _walk(value, path + (str(key),))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _walk(value, path + (str(i),))


def latency_series(result) -> list[tuple[str, dict[str, float]]]:
    """(label, {percentile: µs}) for every latency distribution with samples in one benchmark's
    result."""
    out = []
    for path, node in _walk(result):
        if not node.get("count"):
            continue
        for keys, scale in ((_PERCENTILES_US, 1.0), (_PERCENTILES_MS, 1000.0)):
            if keys[0][0] in node and keys[1][0] in node:
                values = {label: float(node[key]) * scale for key, label, _ in keys
                          if isinstance(node.get(key), (int, float)) and node[key] > 0}
                if values:
                    out.append((_label(path) or "latency", values))
                break
    return out


def throughput_series(result) -> list[tuple[str, float]]:
    out = []
    for path, node in _walk(result):
        for key, value in node.items():
            if key.endswith("ticks_per_s") and isinstance(value, (int, float)) and value > 0:
                label = key[:-len("ticks_per_s")].rstrip("_")
                out.append((_label(path + ((label,) if label else ())) or key, float(value)))
    return out


def _label(path) -> str:
    return " ".join(p for p in path if p not in _NOISE)


def is_ours(benchmark: str, label: str) -> bool:
    """OTrade's own bar (blue) or a peer's (grey): the ring, anything named otrade, the whole
    pipeline."""
    return benchmark == "pipeline" or "otrade" in label.lower() or label.split()[0] == "ring"


def write_plots(results: dict, directory: str) -> list[str]:
    """Every figure of `results` ({benchmark: result}) as a PNG in `directory`; returns the
    paths."""
    import matplotlib

    matplotlib.use("Agg")
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name, result in results.items():
        series = latency_series(result)
        if series:
            paths.append(
                _latency_figure(
                    name, series[:MAX_LINES], os.path.join(directory, f"latency_{name}.png")
                )
            )
    panels = {name: s for name, result in results.items() if (s := throughput_series(result))}
    if panels:
        paths.append(_throughput_figure(panels, os.path.join(directory, "throughput.png")))
    return paths


def _latency_figure(name: str, series, path: str) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 1.4 + 0.32 * len(series)))
    markers = {label: marker for _, label, marker in _PERCENTILES_US + _PERCENTILES_MS}
    for y, (_, values) in enumerate(series):
        xs = list(values.values())
        ax.plot([min(xs), max(xs)], [y, y], color="0.75", linewidth=1, zorder=1)
        for label, x in values.items():
            ax.scatter(
                [x], [y], marker=markers[label], color=_COLORS[label], s=28, zorder=2, label=label
            )
    ax.set_yticks(range(len(series)), [label for label, _ in series], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("latency (µs, log scale)")
    ax.set_title(f"{name}: latency percentiles")
    ax.grid(axis="x", which="both", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    ax.legend(seen.values(), seen.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _throughput_figure(panels: dict, path: str) -> str:
    import matplotlib.pyplot as plt

    heights = [0.8 + 0.3 * len(s) for s in panels.values()]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, sum(heights) + 0.6),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (name, series) in zip(axes[:, 0], panels.items()):
        labels, values = zip(*series)
        ax.barh(
            range(len(values)),
            values,
            color=[OURS if is_ours(name, lab) else PEER for lab in labels],
        )
        ax.set_yticks(range(len(values)), labels, fontsize=7)
        ax.invert_yaxis()
        # Bars on a log axis exaggerate small gaps: a panel within 20x of itself is drawn from zero.
        log = max(values) / min(values) >= 20
        if log:
            ax.set_xscale("log")
            ax.set_xlim(left=10 ** math.floor(math.log10(min(values) / 2)))
        ax.set_title(f"{name}: throughput (ticks/s{', log scale' if log else ''})", fontsize=9)
        ax.grid(axis="x", which="both", alpha=0.3)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:,.0f}", va="center", fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
