"""Ray for a sweep: start (or join) it, put the ticks in its object store once, run cells as tasks.

    with RayPool(workers=2, address=None) as pool:
        pool.share(data)                  # ray.put(ticks) once, when the first cell is submitted
        pool.submit(cell); cell, record = pool.next_done()

Local by default: `ray.init(num_cpus=workers)` starts a private Ray on this machine (about 6 s on a
2-core box), with no dashboard, no usage report, and an object store sized to the data rather than
30 % of RAM; it is shut down at the end, which stops its raylet and workers. `address` joins an
existing cluster instead (`auto` on a cluster node, or `ray://head:10001` through Ray Client, which
needs `pip install 'ray[client]'`); the cluster is left running, its CPUs set how many cells are in
flight, and the project directory is shipped as the job's working_dir so that workers on other hosts
import the same code (the venv's packages must already be on them). If Ray is already initialised in
this process (a test module sharing one session), the pool uses it and leaves it running.

Before the first cell, each worker runs it once on the file's first ticks (`_warm`): start-up cost
is Ray's, not the cells'. Each task gets the ticks as an ObjectRef argument, which Ray hands to the
worker as a read-only numpy array mapped from the shared object store: one copy per host, not one
per cell (backtest/sweep/data.py copies a chunk at a time out of it).
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING

from common.errors import ConfigError

from backtest.sweep.cell import run_cell

if TYPE_CHECKING:     # Ray is imported when a sweep first needs a worker
    from ray import ObjectRef

    from backtest.sweep.data import TickData

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUIET_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0"}
WARM_TICKS = 2000
MIN_STORE_BYTES = 96 * 1024 * 1024      # Ray's floor is ~75 MB; room for the ticks and the results
EXCLUDES = [".venv", ".git", "runs", "tests", "**/__pycache__", "*.parquet", "*.csv"]


def store_size(wanted: int) -> int:
    """The local object store: `wanted` bytes, at least Ray's floor, at most half the machine's
    memory (Ray spills what does not fit to disk rather than fail)."""
    import psutil

    return int(max(MIN_STORE_BYTES, min(wanted, psutil.virtual_memory().total // 2)))


class RayPool:
    def __init__(self, workers: int, address: str | None = None, store_bytes: int = 0):
        self.workers, self.address, self.store_bytes = workers, address, store_bytes
        self.owned = False
        self.start_s = 0.0        # seconds Ray took to start (0: not started)
        self.data: TickData | None = None
        self.in_flight: dict = {}
        self.ticks_ref: ObjectRef | None = None

    def __enter__(self) -> "RayPool":
        return self

    def _start(self) -> None:
        """Ray and the shared ticks, at the first cell that needs a worker (a rerun with nothing
        left to run never starts Ray)."""
        for name, value in QUIET_ENV.items():
            os.environ.setdefault(name, value)
        import ray

        started = time.perf_counter()
        if not ray.is_initialized():
            if self.address:
                self._join(ray)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False,
                         logging_level=logging.WARNING, log_to_driver=False,
                         object_store_memory=store_size(self.store_bytes))
            self.owned = True
        self._remote = ray.remote(num_cpus=1, max_retries=0)(run_cell)
        self.ticks_ref = ray.put(self._shared().ticks)
        self.start_s = time.perf_counter() - started

    def _join(self, ray) -> None:
        """Connect to the cluster at `address`; its CPUs, not --workers, set how many cells are in
        flight."""
        try:
            ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False,
                     runtime_env={"working_dir": ROOT, "excludes": EXCLUDES})
        # ray:// is Ray Client, which needs grpcio: the ray[client] extra
        except ImportError as e:
            raise ConfigError(f"{self.address} needs Ray Client: pip install 'ray[client]' ({e})",
                              path="--address") from None
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ConfigError(
                f"cannot join the Ray cluster at {self.address}: {e}", path="--address"
            ) from None
        self.workers = max(1, int(ray.cluster_resources().get("CPU", self.workers)))

    def _warm(self, cell) -> None:
        """Every worker runs `cell` once on the file's first WARM_TICKS ticks, all at once, before
        the sweep's clock starts: a worker's first cell pays its imports and numba's cache loads
        (seconds), which would otherwise be counted as the cells' time and hide how the sweep
        scales."""
        import ray

        started = time.perf_counter()
        data = self._shared()
        few = data.ticks[:WARM_TICKS].copy()
        ray.get([self._remote.remote(cell.config, few, data.source_drops, None, None)
                 for _ in range(self.workers)])
        self.start_s += time.perf_counter() - started

    def __exit__(self, *exc) -> None:
        self.in_flight.clear()
        self.ticks_ref = None
        if self.owned:
            import ray

            self.owned = False
            ray.shutdown()

    def _shared(self) -> TickData:
        if self.data is None:
            raise RuntimeError("RayPool: share(data) before the first submit")
        return self.data

    def share(self, data) -> None:
        """The ticks every cell reads: put into the object store once, when Ray starts."""
        self.data = data

    def submit(self, cell) -> None:
        if self.ticks_ref is None:
            self._start()
            self._warm(cell)
        drops = self._shared().source_drops
        ref = self._remote.remote(cell.config, self.ticks_ref, drops, *cell.window)
        self.in_flight[ref] = cell

    def next_done(self):
        """(cell, record) of the next task to finish; a task Ray itself lost (worker killed, node
        gone) is the cell's error, not the sweep's."""
        import ray

        ready, _ = ray.wait(list(self.in_flight), num_returns=1)
        cell = self.in_flight.pop(ready[0])
        try:
            return cell, ray.get(ready[0])
        except ray.exceptions.RayError as e:
            return cell, {
                "status": "error",
                "error": f"{type(e).__name__}: {str(e).splitlines()[0]}",
            }

    def __len__(self) -> int:
        return len(self.in_flight)
