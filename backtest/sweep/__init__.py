"""Parameter sweeps and walk-forward on Ray (`python -m backtest.sweep`,
backtest/sweep/__main__.py).

Each cell is an in-process backtest (backtest/engine.py) of the base config with some parameters
set, on the whole replay file or on one walk-forward window. The file is read once and put once into
Ray's object store; every worker reads the same ticks zero-copy. Results stream into DIR/cells.csv
as cells finish, so a rerun skips what is done and a failed cell is a row, not the end of the sweep.

    space.py        --grid axes, grid / random cells, dotted paths into the JSON config
    data.py         the ticks read once; ArrayTape, the backtest's tape over them
    cell.py         plan (validate, key) and run one cell; its figures
    store.py        cells.csv: append per cell, atomic; what a rerun skips
    pool.py         Ray: local or a cluster, ray.put once, tasks
    search.py       run cells (grid, random) or Optuna trials; the progress bar
    walkforward.py  rolling train/test windows over the sessions
    tables.py       results table, walk-forward tables, best_config.json
    plots.py        heatmap.png, walk_forward_equity.png
    driver.py       the whole sweep
"""
