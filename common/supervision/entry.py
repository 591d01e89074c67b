"""The function every stage process starts in (it runs inside a child of the forkserver).

It imports the stage package by name, so `common` never imports a stage, configures logging into the
run directory (stage logs must not scribble over the supervisor's status view) and turns the stage's
return value or exception into the process exit code the supervisor records.
"""

from __future__ import annotations

import importlib
import os
import sys

from common import log


def _release_forkserver_alive_fd() -> None:
    """Drop our copy of the forkserver's "alive" pipe.

    multiprocessing hands every forkserver child the write end of the pipe the forkserver watches to
    know its clients are gone. While a stage holds it, a SIGKILLed supervisor leaves the forkserver
    running, and then the stages' parent-death signal never fires. Closing it makes the forkserver
    exit with the supervisor, and the kernel then kills every stage (common/stage.py).
    """
    from multiprocessing import forkserver

    fd = getattr(forkserver._forkserver, "_forkserver_alive_fd", None)
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass
        forkserver._forkserver._forkserver_alive_fd = None


def stage_main(module: str, ctx) -> None:
    _release_forkserver_alive_fd()
    logs = os.path.join(ctx.run_dir, "logs")
    os.makedirs(logs, exist_ok=True)
    stream = open(os.path.join(logs, f"{ctx.stage}.log"), "a", buffering=1)
    log.configure(getattr(ctx.config.run, "log_level", "INFO"), stream=stream)
    logger = log.get_logger(ctx.stage)
    code = 1
    try:
        code = int(importlib.import_module(module).run(ctx) or 0)
    except SystemExit as e:
        code = int(e.code or 0)
    except BaseException as e:  # noqa: BLE001 - the process boundary: record, then exit non-zero
        logger.exception("stage crashed", error=type(e).__name__)
        code = 1
    finally:
        logger.info("stage exiting", code=code)
        stream.flush()
    sys.stdout.flush()
    os._exit(code)
