"""Running cells: skip what the store has, record what cannot run, keep the workers busy, drive
Optuna.

    runner = Runner(pool, store, plan, progress)
    records = runner.run_cells(cells)                                  # grid or random
    records = runner.run_optuna(axes, trials, window, "sharpe", seed)  # Optuna's ask/tell

At most two cells per worker are in flight (one running, one queued, so a worker never waits for
the driver), and each result is written to the store the moment it arrives. `ran`, `skipped` and
`failed` count what this run actually did: a rerun of a finished sweep runs nothing.

Optuna (TPE, seeded) proposes values from each axis as categorical choices, `workers` trials at a
time. A trial whose cell is invalid (the config loader's reason), errs, or has no objective (Sharpe
of one session) is told FAIL, and the reason is the cell's row in the table and the trial's
`reason` attribute; a proposal the store already holds is answered from it without running.
"""

from __future__ import annotations

import contextlib

from backtest.sweep.cell import OBJECTIVES
from common.progress import progress_bar as common_progress_bar


class Runner:
    def __init__(self, pool, store, plan, progress):
        self.pool, self.store, self.plan, self.progress = pool, store, plan, progress
        self.ran = self.skipped = self.failed = 0

    @property
    def limit(self) -> int:
        """Cells in flight: two per worker (the pool learns a cluster's CPUs when it joins it)."""
        return 2 * max(1, self.pool.workers)

    def _finish(self, cell, record: dict) -> dict:
        rec = self.store.append(cell, record)
        self.ran += record["status"] != "invalid"
        self.failed += record["status"] != "ok"
        self.progress(1, self.failed)
        return rec

    def _collect(self):
        cell, record = self.pool.next_done()
        return cell, self._finish(cell, record)

    def _ready(self, cell) -> bool:
        """True when `cell` needs a worker; otherwise it is answered here (stored, or invalid)."""
        if self.store.done(cell.key):
            self.skipped += 1
            self.progress(1, self.failed)
            return False
        if cell.config is None:
            self._finish(cell, {"status": "invalid", "error": cell.error})
            return False
        return True

    def run_cells(self, cells: list) -> list[dict]:
        """Every cell's record (in the order given), running only those the store does not hold."""
        submitted = set()
        for cell in cells:
            if cell.key in submitted or not self._ready(cell):
                continue
            while len(self.pool) >= self.limit:
                self._collect()
            self.pool.submit(cell)
            submitted.add(cell.key)
        while len(self.pool):
            self._collect()
        return [self.store.records[c.key] for c in cells]

    def run_optuna(
        self, axes: dict, trials: int, window: tuple, objective: str, seed: int, **tags
    ) -> list[dict]:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed)
        )
        waiting: dict[str, list] = {}       # cell key -> trials told when it finishes
        cells, asked = [], 0
        while asked < trials or len(self.pool):
            while asked < trials and len(self.pool) < self.pool.workers:
                trial = study.ask()
                asked += 1
                cell = self.plan(
                    {p: trial.suggest_categorical(p, v) for p, v in axes.items()}, window, **tags
                )
                cells.append(cell)
                # proposed again while it runs: one run answers both
                if cell.key in waiting:
                    waiting[cell.key].append(trial)
                    self.progress(1, self.failed)
                elif self._ready(cell):
                    waiting[cell.key] = [trial]
                    self.pool.submit(cell)
                else:
                    self._tell(study, trial, self.store.records[cell.key], objective)
            if len(self.pool):
                cell, rec = self._collect()
                for trial in waiting.pop(cell.key, []):
                    self._tell(study, trial, rec, objective)
        return [self.store.records[c.key] for c in cells]

    @staticmethod
    def _tell(study, trial, rec: dict, objective: str) -> None:
        import optuna

        value = rec.get(OBJECTIVES[objective]) if rec["status"] == "ok" else None
        if value is None:
            reason = (
                rec.get("error")
                or (rec.get("undefined") or {}).get(OBJECTIVES[objective])
                or "no value"
            )
            trial.set_user_attr("reason", reason)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, float(value))


@contextlib.contextmanager
def progress_bar(total: int, *, enabled: bool):
    """Yield `advance(n, failed)`: a bar of cells, failed ones counted, on stderr when enabled."""
    with common_progress_bar(
        total, enabled=enabled, label="sweep", unit="cells", fields={"failed": 0},
        shown=("{task.fields[failed]} failed",), eta_label=True, stderr=True,
    ) as advance:
        yield lambda n, failed: advance(n, failed=failed)
