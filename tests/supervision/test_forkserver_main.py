"""A stage is a forkserver child: it must not run the supervisor's script again.

multiprocessing re-runs the parent's main script in every child (as `__mp_main__`) unless the
forkserver imported it already; a script has no .pyc, so each restart would compile supervisor.py
afresh (4-5 ms measured). Before Python 3.13 naming `__main__` in the preload list does not do it
(CPython gh-126631), so supervision/forkmain.py does. Shown with a script that counts how often its
top level runs: once in the parent, once in the forkserver, never in a child.
"""

import pathlib
import subprocess
import sys

import pytest

ROOT = str(pathlib.Path(__file__).resolve().parents[2])

SCRIPT = """
import os, sys
sys.path.insert(0, {root!r})
with open({mark!r}, "a") as f:
    f.write(f"{{os.getpid()}}\\n")          # this script's top level ran in this process


def child():
    pass


if __name__ == "__main__":
    import supervisor
    from supervision.process import forkserver_context, start_forkserver

    ctx = forkserver_context(supervisor.PRELOAD[:1] + ["config.cli"])
    start_forkserver()
    for _ in range(3):
        p = ctx.Process(target=child)
        p.start()
        p.join()
        assert p.exitcode == 0
"""


@pytest.mark.parametrize("how", ["script", "module"])
def test_stage_children_of_the_forkserver_do_not_run_the_main_script_again(tmp_path, how):
    mark, script = tmp_path / "runs", tmp_path / "main_script.py"
    script.write_text(SCRIPT.format(root=ROOT, mark=str(mark)))
    run = [str(script)] if how == "script" else ["-m", "main_script"]    # supervisor.py / -m
    subprocess.run([sys.executable, *run], check=True, timeout=120, cwd=tmp_path)
    runs = mark.read_text().split()
    assert len(runs) == 2, f"the main script ran in {len(runs)} processes: parent, forkserver " \
        "and (it must not) each child"
