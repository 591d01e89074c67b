"""The function every stage process starts in (it runs inside a child of the forkserver), and the
one a spare waits in until it is made a stage (supervision/spare.py).

It imports the stage package by name, so `common` never imports a stage, configures logging into the
run directory (stage logs must not scribble over the supervisor's status view) and turns the stage's
return value or exception into the process exit code the supervisor records.

A stage that cannot run because of its configuration or its input (a replay file that cannot be
read, a token missing from the instrument table) raises `common.errors.ConfigError`: restarting it
would fail the same way, so it exits with STAGE_FATAL_EXIT and leaves the reason in
`<run_dir>/logs/<stage>.fatal`. The supervisor gives up on such a stage at once and names the reason
(core._on_exit).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from dataclasses import replace
from typing import IO

from common import log
from common.errors import ConfigError
from common.stage import die_with_parent
from common.journalline import JournalCorrupt

STAGE_FATAL_EXIT = 78   # sysexits' EX_CONFIG: "do not restart me, the cause is in <stage>.fatal"


def fatal_path(run_dir: str, stage: str) -> str:
    return os.path.join(run_dir, "logs", f"{stage}.fatal")


def read_fatal(run_dir: str, stage: str) -> str:
    """The reason a stage left for its fatal exit ("" if it could not write one)."""
    try:
        with open(fatal_path(run_dir, stage), encoding="utf-8", errors="replace") as f:
            return f.read(2000).strip()
    except OSError:
        return ""


def _write_fatal(run_dir: str, stage: str, reason: str) -> None:
    try:
        with open(fatal_path(run_dir, stage), "w", encoding="utf-8") as f:
            f.write(reason + "\n")
    except OSError:   # a full disk: the exit code alone still stops the restarts
        pass


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
        setattr(forkserver._forkserver, "_forkserver_alive_fd", None)   # private, as read above


def stage_main(module: str, ctx) -> None:
    _run(module, ctx, _prepare(ctx))


def spare_main(module: str, ctx, parked) -> None:
    """A spare (supervision/spare.py): prepared as a stage is, then parked on `parked` (the read
    end of its pipe) until the supervisor sends the restart count; it then runs as that restart.
    EOF (the supervisor dropped it, or died) ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C is the supervisor's, as in a stage
    die_with_parent(os.getppid())     # the forkserver, as a stage: gone with it
    try:    # woken on its own cores (StageRuntime.enter pins it for good, and checks)
        os.sched_setaffinity(0, ctx.cores)
    except OSError:
        pass
    stream = _prepare(ctx)
    try:
        restarts = int(parked.recv_bytes())
    except (EOFError, OSError, ValueError):
        os._exit(0)
    finally:
        parked.close()
    _run(module, replace(ctx, restarts=restarts), stream)


def _prepare(ctx) -> IO[str]:
    """What a stage process does before its stage: private files, the forkserver's pipe dropped,
    logging into the run directory. Returns the log stream."""
    # Private by default (issue 12.8): every file a stage creates is its owner's only, whatever the
    # forkserver inherited.
    os.umask(0o077)
    _release_forkserver_alive_fd()
    logs = os.path.join(ctx.run_dir, "logs")
    os.makedirs(logs, exist_ok=True)
    stream = open(os.path.join(logs, f"{ctx.stage}.log"), "a", buffering=1)
    log.configure(getattr(ctx.config.run, "log_level", "INFO"), stream=stream)
    return stream


def _run(module: str, ctx, stream: IO[str]) -> None:
    logger = log.get_logger(ctx.stage)
    code = 1
    try:
        code = int(importlib.import_module(module).run(ctx) or 0)
    except SystemExit as e:
        code = int(e.code or 0)
    except (ConfigError, JournalCorrupt) as e:   # a damaged journal is input a restart cannot fix
        logger.error("stage cannot run: configuration or input error", error=str(e))
        _write_fatal(ctx.run_dir, ctx.stage, str(e))
        code = STAGE_FATAL_EXIT
    except BaseException as e:  # noqa: BLE001 - the process boundary: record, then exit non-zero
        logger.exception("stage crashed", error=type(e).__name__)
        code = 1
    finally:
        logger.info("stage exiting", code=code)
        stream.flush()
    sys.stdout.flush()
    os._exit(code)
