"""A chaos-harness Pipeline (tests/chaos/harness.py) that can run the supervisor through a wrapper
script (to inject a fault into the supervisor process itself) and with extra environment
variables."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.chaos.harness import ROOT, Pipeline

FAULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "faulty_supervisor.py")


class RunningPipeline(Pipeline):
    def __init__(self, tmp_path, overrides=None, *, script=None, env=None, run_dir=None, args=()):
        super().__init__(tmp_path, overrides, args=args)
        self.script = script or os.path.join(ROOT, "supervisor.py")
        self.extra_env = dict(env or {})
        if run_dir is not None:
            self.run_dir = str(run_dir)

    def __enter__(self) -> "RunningPipeline":
        env = dict(
            os.environ, OTRADE_REGISTRY_DIR=self.registry, PYTHONUNBUFFERED="1", **self.extra_env
        )
        cmd = [
            sys.executable,
            self.script,
            "--config",
            str(self.config_path),
            "--run-dir",
            self.run_dir,
            "--http-port",
            str(self.port),
            "--no-dashboard",
            *self.args,
        ]
        self.log = open(self.tmp / f"supervisor-{self.run_id}.out", "wb")
        self.proc = subprocess.Popen(
            cmd, cwd=str(self.tmp), env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        return self
