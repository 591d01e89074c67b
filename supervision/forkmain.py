"""Preloaded first by the forkserver: imports the supervisor's main script there, once.

multiprocessing runs the parent's main script again in every child (as `__mp_main__`) unless the
forkserver imported it already, and a script has no .pyc: each restarted stage compiled
supervisor.py afresh (4-5 ms of every restart). Naming `__main__` in the preload list is meant to
prevent that, but before Python 3.13 the forkserver is never told the main script's path
(CPython gh-126631, gh-137996), so the supervisor passes it here in MAIN_PATH_VAR
(supervision/process.py `start_forkserver`). Harmless where the forkserver did it itself.
"""

import os
import sys
from multiprocessing import process, spawn

MAIN_PATH_VAR = "OTRADE_FORKSERVER_MAIN"


def _import_main() -> None:
    path = os.environ.pop(MAIN_PATH_VAR, "")      # not for the stages, which inherit our env
    if not path or getattr(sys.modules.get("__main__"), "__file__", None) == path:
        return
    me = process.current_process()
    setattr(me, "_inheriting", True)       # private: what multiprocessing sets around this call
    try:
        spawn.import_main_path(path)
    finally:
        delattr(me, "_inheriting")


_import_main()
