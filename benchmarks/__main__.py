"""Benchmark dispatcher: `python -m benchmarks NAME [--quick] [--json FILE]`.

Each benchmark is a module with `run(quick: bool) -> dict`: it prints its own human-readable lines as
it goes and returns its numbers. Adding one is one line in REGISTRY. The JSON file holds the machine
description (benchmarks/stats.py) next to the numbers, so runs on different machines stay comparable.
"""

import argparse
import importlib
import sys
import time

import orjson

from benchmarks.stats import format_machine, machine_info

REGISTRY = {
    "ring": "benchmarks.ring",
    "feed": "benchmarks.feed",
    "restart": "benchmarks.restart",
    "pipeline": "benchmarks.pipeline",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(REGISTRY), help="which benchmark to run")
    parser.add_argument("--quick", action="store_true", help="smaller counts: finishes in under 30 s")
    parser.add_argument("--json", metavar="FILE", help="also write the results to FILE")
    args = parser.parse_args(argv)
    machine = machine_info()
    print(f"benchmark {args.name}{' (quick)' if args.quick else ''} on {format_machine(machine)}")
    started = time.monotonic()
    results = importlib.import_module(REGISTRY[args.name]).run(quick=args.quick)
    elapsed = round(time.monotonic() - started, 1)
    print(f"done in {elapsed} s")
    if args.json:
        document = {"benchmark": args.name, "quick": args.quick, "elapsed_s": elapsed,
                    "machine": machine, "results": results}
        with open(args.json, "wb") as out:
            out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
