"""Run several benchmarks in one go: each in turn, one table at the end, a JSON file and PNGs beside
it.

    exit_code = run_suite(["micro", "ring"], quick=True, registry=REGISTRY,
                          out_dir="benchmarks/results")

A benchmark is a module (or any object) with `run(quick) -> dict` and, optionally,
`table_rows(result) -> list[dict]` (rows as benchmarks/table.py describes). One that raises is
reported with its exception and the rest still run; the exit code is 1 if any failed. A registered
module that is not installed (a benchmark someone is still writing) is skipped, not failed.

The results file, `<out_dir>/<UTC timestamp>.json`, holds the machine (cores, CPU, Python, library
versions, load average at the start), whether the run was quick, each benchmark's elapsed seconds,
its full result, and the table's rows; the figures go into `<out_dir>/<UTC timestamp>/`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import time
import traceback
from typing import Any

import orjson

from benchmarks import table
from benchmarks.stats import format_machine, machine_info

# Library versions the numbers depend on, besides those stats.machine_info imports.
EXTRA_LIBRARIES = (
    "msgspec",
    "orjson",
    "pyarrow",
    "kiteconnect",
    "nautilus_trader",
    "matplotlib",
    "rich",
)


def machine_description() -> dict:
    info = machine_info()
    for name in EXTRA_LIBRARIES:
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[name] = None
    info["loadavg_at_start"] = (
        [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    )
    return info


def _load(target):
    return importlib.import_module(target) if isinstance(target, str) else target


def _is_missing(error: ModuleNotFoundError, target) -> bool:
    """The benchmark's own module is absent (not some import inside it failing)."""
    return isinstance(target, str) and error.name is not None and target.startswith(error.name)


def run_one(name: str, target, quick: bool) -> dict:
    """One benchmark's {"status": ok | failed | skipped, "result", "rows", "elapsed_s", "error"}."""
    started = time.monotonic()
    outcome: dict[str, Any] = {"status": "ok", "result": None, "rows": [], "error": None}
    try:
        module = _load(target)
        if not hasattr(module, "run"):       # a package still being written: no entry point yet
            outcome.update(status="skipped", error=f"{target} has no run() yet")
        else:
            outcome["result"] = module.run(quick=quick)
            rows_of = getattr(module, "table_rows", None)
            outcome["rows"] = list(rows_of(outcome["result"])) if rows_of else []
    except ModuleNotFoundError as e:
        if _is_missing(e, target):
            outcome.update(status="skipped", error=f"{target} is not installed")
        else:
            record_failure(outcome, e)
    except Exception as e:  # noqa: BLE001 - one broken benchmark must not cost the others their run
        record_failure(outcome, e)
    outcome["elapsed_s"] = round(time.monotonic() - started, 1)
    if outcome["status"] == "failed":
        outcome["rows"] = [table.failure_row(name, outcome["error"])]
    elif outcome["status"] == "skipped":
        outcome["rows"] = [table.row(name, "skipped", None, "", outcome["error"])]
    return outcome


def record_failure(outcome: dict, error: BaseException) -> None:
    """Record `error` in `outcome` (status failed, the message, the traceback) and print the
    traceback."""
    outcome["status"] = "failed"
    outcome["error"] = f"{type(error).__name__}: {error}"
    outcome["traceback"] = traceback.format_exc()
    print(outcome["traceback"].rstrip())


def run_suite(
    names: list[str],
    quick: bool,
    registry: dict,
    out_dir: str,
    json_path: str | None = None,
    stamp: str | None = None,
) -> int:
    """Run `names` in order, print the table, write the JSON and the figures; 0 if none failed."""
    machine = machine_description()
    stamp = stamp or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    print(
        f"benchmarks {', '.join(names)}{' (quick)' if quick else ''} on {format_machine(machine)}"
    )
    started = time.monotonic()
    outcomes: dict[str, dict] = {}
    try:
        for name in names:
            print(f"\n== {name}{' (quick)' if quick else ''} ==")
            outcomes[name] = run_one(name, registry[name], quick)
            print(f"-- {name}: {outcomes[name]['status']} in {outcomes[name]['elapsed_s']} s")
    except KeyboardInterrupt:
        print("\ninterrupted: writing what finished")
    rows = [r for o in outcomes.values() for r in o["rows"]]
    total = round(time.monotonic() - started, 1)
    print()
    table.print_table(rows)
    document: dict[str, Any] = {
        "stamp": stamp,
        "machine": machine,
        "quick": quick,
        "benchmarks": list(outcomes),
        "elapsed_s": {name: o["elapsed_s"] for name, o in outcomes.items()},
        "total_s": total,
        "status": {name: o["status"] for name, o in outcomes.items()},
        "errors": {name: o["error"] for name, o in outcomes.items() if o["error"]},
        "results": {name: o["result"] for name, o in outcomes.items()},
        "rows": rows,
    }
    for path in [os.path.join(out_dir, f"{stamp}.json")] + ([json_path] if json_path else []):
        write_json(document, path)
        print(f"wrote {path}")
    write_figures(document["results"], os.path.join(out_dir, stamp))
    failed = [name for name, o in outcomes.items() if o["status"] == "failed"]
    print(f"done in {total} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed or len(outcomes) < len(names) else 0


def write_json(document: dict, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(
            orjson.dumps(
                document,
                default=str,
                option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
            )
        )


def write_figures(results: dict, directory: str) -> list[str]:
    """The PNGs; a figure that cannot be drawn is reported, never costs the JSON already written."""
    from benchmarks.plots import write_plots

    try:
        paths = write_plots({name: r for name, r in results.items() if r}, directory)
    except Exception as e:  # noqa: BLE001 - see the docstring
        print(f"figures not written: {type(e).__name__}: {e}")
        return []
    if paths:
        print(f"wrote {len(paths)} figures in {directory}")
    return paths
