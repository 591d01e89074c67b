"""Sets up one run and tears it down: run directory, shared memory, endpoints, stage contexts.

`supervisor.py` describes the stages (module, cores, extra segments, warm modules) in a `RunPlan`;
the launcher owns everything that must be created before the first stage and removed after the last:
every shared-memory segment (the creator unlinks; stages only attach), the ipc directory, the run's
registry entry. A SIGKILLed supervisor leaves these behind; the next start's `sweep_dead_runs`
removes them.
"""

from __future__ import annotations

import os
import secrets as pysecrets
import time
from dataclasses import dataclass, field

import numpy as np
import orjson

from common import intentring, rundir
from common import stagetable as st
from common import topics
from common.bus import Endpoints
from common.dtypes import TICK_DTYPE
from common.instruments import InstrumentTable
from common.ringbuffer import ShmRing
from common.shm import create_segment
from common.stage import StageContext, pin_to_cores
from config.placement import resolve_wait
from supervision import registry
from supervision.core import Limits, StageSpec, SupervisorCore
from supervision.policy import RestartPolicy
from supervision.process import (StageProcess, forkserver_context, start_forkserver,
                                          start_resource_tracker)
from supervision.runlog import RunLog

# Ring readers: (name, gating). Gating readers hold a lossless (replay) writer back; positions only
# marks to market, so it may be lapped without harm.
RING_READERS = [("signals", True), ("orders", True), ("positions", False)]


@dataclass
class RunPlan:
    stages: list[StageSpec]                  # in start order
    instrument_rows: np.ndarray              # INSTRUMENT_DTYPE
    ring_capacity: int
    lossless: bool
    preload: list[str]                       # modules the forkserver imports before any fork
    segments: dict[str, int] = field(default_factory=dict)   # extra segments: logical name -> bytes
    endpoint_names: tuple[str, ...] = (topics.CMD_ORDERS, topics.PUB_ORDERS, topics.PUB_POSITIONS,
                                       topics.CMD_POSITIONS, topics.PUB_FEED,
                                       # lifecycle events (supervision/events.py)
                                       topics.PUB_SUPERVISOR,
                                       # ctl's socket: in run.json and swept if left
                                       topics.CTL_SUPERVISOR)
    supervisor_cores: tuple[int, ...] = (0,)
    state_dir: str = ""                      # the account day's directory ("" = the run dir)
    # the ring's first sequence (above the account's journals)
    first_tick_seq: int = 1


def new_run_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + pysecrets.token_hex(2)


def stage_placement(plan: RunPlan, spec: StageSpec, config) -> tuple[bool, tuple[int, ...], str]:
    """(alone on its cores, where its zmq I/O threads go, its resolved wait mode) for one stage:
    what its StageContext carries. The wait mode follows `stages.<name>.wait`, the loader having
    refused a `spin` the placement cannot honour (config/placement.py)."""
    others = set(plan.supervisor_cores).union(
        *(set(o.cores) for o in plan.stages if o is not spec)
    )
    exclusive = not (set(spec.cores) & others)
    wait = resolve_wait(spec.name, getattr(config.stages, spec.name).wait, exclusive)
    # A spinning stage's I/O threads go elsewhere: on its own core they would wait for the spinner
    return exclusive, tuple(sorted(others)) if exclusive else (), wait


class Launcher:
    def __init__(self, loaded, plan: RunPlan, run_dir: str | None = None):
        cfg = loaded.config
        self.loaded = loaded
        self.plan = plan
        self.run_id = cfg.run.run_id or new_run_id()
        self.run_dir = os.path.abspath(
            run_dir or cfg.run.run_dir or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))
        )
        self.prefix = f"otrade_{self.run_id}_"
        self._owned: list = []    # objects with close() (owner unlinks), in creation order
        self.swept: list[dict] = []
        self._registered = False

    def segment_name(self, what: str) -> str:
        return self.prefix + what

    def setup(self):
        pin_to_cores(self.plan.supervisor_cores)
        start_resource_tracker()     # before the first segment; immune to a terminal's SIGHUP
        self.swept = registry.sweep_dead_runs()
        os.makedirs(self.run_dir, mode=0o700, exist_ok=True)
        self.endpoints = Endpoints(self.run_dir)
        # Registered before anything is created, with the exact names, so a SIGKILL at any point of
        # set-up is swept by the next start and nothing of another run ever matches (registry.py).
        segments = [
            self.segment_name(w)
            for w in ("stages", "instruments", "ticks", "intents", *self.plan.segments)
        ]
        registry.register(
            self.run_id,
            segments,
            self.endpoints.dir,
            [os.path.basename(self.endpoints.path(n)) for n in self.plan.endpoint_names],
        )
        self._registered = True
        self.runlog = RunLog(os.path.join(self.run_dir, rundir.SUPERVISOR_LOG))
        for doc in self.swept:
            self.runlog.event("swept_dead_run", "", **doc)
        self.table = self._own(st.StageTable.create(self.segment_name("stages"), os.getpid()))
        self.instruments = self._own(
            InstrumentTable.create(self.segment_name("instruments"), self.plan.instrument_rows)
        )
        self.ring = self._own(
            ShmRing.create(
                self.segment_name("ticks"),
                self.plan.ring_capacity,
                TICK_DTYPE,
                readers=RING_READERS,
                lossless=self.plan.lossless,
                first_seq=self.plan.first_tick_seq,
            )
        )
        # signals -> orders: lossless, orders gating, every page written now (common/intentring.py)
        self.intent_ring = self._own(intentring.create(self.segment_name("intents")))
        extra = {}
        for what, size in self.plan.segments.items():
            seg = self._own(_ZeroedSegment(self.segment_name(what), size))
            extra[what] = seg.name
        endpoints = {n: self.endpoints.endpoint(n) for n in self.plan.endpoint_names}
        handle = self.ring.handle()
        for spec in self.plan.stages:
            exclusive, io_cores, wait = stage_placement(self.plan, spec, self.loaded.config)
            spec.stage_ctx = StageContext(
                stage=spec.name,
                run_id=self.run_id,
                run_dir=self.run_dir,
                cores=tuple(spec.cores),
                config=self.loaded.config,
                secrets=self.loaded.secrets,
                ring=handle,
                instruments_segment=self.instruments_name,
                stagetable_segment=self.segment_name("stages"),
                endpoints=endpoints,
                segments=extra,
                supervisor_pid=os.getpid(),
                exclusive_cores=exclusive,
                wait=wait,
                io_cores=io_cores,
                state_dir=self.plan.state_dir,
                intent_ring=self.intent_ring.handle(),
            )
        self._write_manifest(endpoints, extra)
        return self

    @property
    def instruments_name(self) -> str:
        return self.segment_name("instruments")

    def _own(self, obj):
        self._owned.append(obj)
        return obj

    def _write_manifest(self, endpoints: dict, extra: dict) -> None:
        doc = {
            "run_id": self.run_id,
            "pid": os.getpid(),
            "config_sources": list(self.loaded.sources),
            "endpoints": endpoints,
            "segments": {
                "stages": self.segment_name("stages"),
                "instruments": self.instruments_name,
                "ticks": self.segment_name("ticks"),
                "intents": self.segment_name("intents"),
                **extra,
            },
            "stages": {s.name: list(s.cores) for s in self.plan.stages},
        }
        with open(os.path.join(self.run_dir, rundir.RUN_INFO), "wb") as f:
            f.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2))

    def make_core(self, limits: Limits, on_status=None) -> SupervisorCore:
        rcfg = self.loaded.config.supervisor.restart
        mpctx = forkserver_context(self.plan.preload)
        start_forkserver()
        procs = [
            StageProcess(
                mpctx,
                s.name,
                s.module,
                s.stage_ctx,
                RestartPolicy(
                    rcfg.max_restarts, rcfg.window_s, rcfg.backoff_initial_ms, rcfg.backoff_max_ms
                ),
                spares=True,      # a restart starts from a parked spare (supervision/spare.py)
            )
            for s in self.plan.stages
        ]
        core = SupervisorCore(procs, self.table, self.runlog, limits, on_status=on_status)
        # what a stage killed in its drain left (stopladder.record_incomplete)
        core.ring = self.ring
        return core

    def teardown(self) -> None:
        """Remove what setup created, even if setup stopped half-way."""
        for obj in reversed(self._owned):
            try:
                obj.close()
                if getattr(obj, "creator", False):   # ring and instrument table: close, then unlink
                    obj.unlink()
            except Exception:  # noqa: BLE001 - teardown must reach every segment
                pass
        self._owned.clear()
        if hasattr(self, "endpoints"):
            self.endpoints.cleanup()
        if self._registered:
            registry.unregister(self.run_id)
        if hasattr(self, "runlog"):
            self.runlog.close()


class _ZeroedSegment:
    """An extra segment a stage asked for (e.g. signals' indicator state), zero-filled, owned
    here."""

    def __init__(self, name: str, size: int):
        self.name = name
        self.shm = create_segment(name, size)
        np.frombuffer(self.shm.buf, dtype=np.uint8)[:] = 0

    def close(self) -> None:
        self.shm.close()
        self.shm.unlink()
