"""The sweep's pictures (matplotlib, Agg: no display needed): a heatmap of a 2-D grid, and the
walk-forward out-of-sample equity.

The heatmap shows the objective for each (x, y) pair of the two swept paths: the cell's own value
for a plain sweep, the mean over folds of the train windows' values for a walk-forward. A pair with
no value (invalid, failed, undefined) is blank and marked with a cross, so a hole in the grid is
visible, not coloured as a poor result.
"""

from __future__ import annotations

import os

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def heatmap(
    out_dir: str, axes: dict, rows: list[dict], objective: str, name: str = "heatmap.png"
) -> str | None:
    """heatmap.png for exactly two swept paths; None otherwise. `rows`: the results table's rows."""
    if len(axes) != 2:
        return None
    (xp, xs), (yp, ys) = axes.items()
    sums, counts = np.zeros((len(ys), len(xs))), np.zeros((len(ys), len(xs)))
    for row in rows:
        if row["phase"] == "test" or row["objective"] is None:
            continue
        if row[xp] in xs and row[yp] in ys:
            i, j = ys.index(row[yp]), xs.index(row[xp])
            sums[i, j] += row["objective"]
            counts[i, j] += 1
    grid = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(xs), 1.0 + 0.6 * len(ys)), dpi=110)
    image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap="RdYlGn")
    fig.colorbar(image, ax=ax, label=objective)
    for i in range(len(ys)):
        for j in range(len(xs)):
            text = "×" if np.isnan(grid[i, j]) else f"{grid[i, j]:.3g}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(xs)), [str(v) for v in xs])
    ax.set_yticks(range(len(ys)), [str(v) for v in ys])
    ax.set_xlabel(xp)
    ax.set_ylabel(yp)
    ax.set_title(
        f"{objective}"
        + (" (mean over train windows)" if any(r["phase"] == "train" for r in rows) else "")
    )
    path = os.path.join(out_dir, name)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def oos_equity(
    out_dir: str, daily: list[dict], name: str = "walk_forward_equity.png"
) -> str | None:
    """The concatenated test windows' equity, one point a session, folds shaded apart."""
    if not daily:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=110)
    x = np.arange(len(daily))
    ax.plot(x, [d["equity_inr"] for d in daily], marker="o", markersize=3)
    folds = [d["fold"] for d in daily]
    for k in sorted(set(folds))[1::2]:
        idx = [i for i, f in enumerate(folds) if f == k]
        ax.axvspan(idx[0] - 0.5, idx[-1] + 0.5, color="0.92")
    step = max(1, len(daily) // 10)
    ax.set_xticks(
        x[::step], [d["date"] for d in daily][::step], rotation=30, ha="right", fontsize=7
    )
    ax.axhline(0, color="0.6", linewidth=0.8)
    ax.set_ylabel("out-of-sample equity, ₹")
    ax.set_title("Walk-forward: test windows concatenated")
    path = os.path.join(out_dir, name)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
