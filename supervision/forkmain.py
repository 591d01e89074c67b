"""Preloaded first by the forkserver: imports the supervisor's main script (or module) there, once.

multiprocessing runs the parent's main script again in every child (as `__mp_main__`) unless the
forkserver imported it already, and a script has no .pyc: each restarted stage compiled
supervisor.py afresh (4-5 ms of every restart; `python -m supervisor` re-ran the module likewise).
Naming `__main__` in the preload list is meant to prevent that, but before Python 3.13 the
forkserver is never told the main script's path (CPython gh-126631, gh-137996), so the supervisor
passes it here in MAIN_VAR (supervision/process.py `start_forkserver`), as multiprocessing's own
preparation data names it: ("path", file) or ("name", module). Harmless where the forkserver did
it itself: a child skips the main that is already this process's.
"""

import os
import sys
from multiprocessing import process, spawn

MAIN_VAR = "OTRADE_FORKSERVER_MAIN"


def main_of_parent() -> str:
    """What a child would run again, as MAIN_VAR holds it ("" for nothing: an interactive parent,
    or a `__main__` module, which children skip)."""
    data = spawn.get_preparation_data("forkserver")
    if data.get("init_main_from_path"):
        return "path:" + data["init_main_from_path"]
    if data.get("init_main_from_name"):
        return "name:" + data["init_main_from_name"]
    return ""


def _import_main() -> None:
    kind, _, where = os.environ.pop(MAIN_VAR, "").partition(":")   # not for the stages' env
    main = sys.modules.get("__main__")
    if kind == "path" and getattr(main, "__file__", None) != where:
        run = spawn.import_main_path
    elif kind == "name" and getattr(getattr(main, "__spec__", None), "name", None) != where:
        run = getattr(spawn, "_fixup_main_from_name")   # private: what a child calls with it
    else:
        return
    me = process.current_process()
    setattr(me, "_inheriting", True)       # private: what multiprocessing sets around this call
    try:
        run(where)
    finally:
        delattr(me, "_inheriting")


_import_main()
