"""Benchmark suite: `python -m benchmarks [NAME ...] [--quick] [--out DIR] [--json FILE]`.

With no NAME every benchmark in REGISTRY runs, in its order (in-process micro-benchmarks first, the
peer comparison last); with names, only those. Each benchmark is a module with
`run(quick: bool) -> dict` (it prints its own lines as it goes) and `table_rows(result)`; adding one
is one line in REGISTRY. At the end: one table of every benchmark's figures,
`benchmarks/results/<UTC timestamp>.json` (the machine, elapsed times, results, rows) and PNG
figures in `benchmarks/results/<UTC timestamp>/` (benchmarks/suite.py). `--quick` runs everything in
under two minutes; the exit code is non-zero if any benchmark failed.
"""

import argparse
import os
import sys

from benchmarks.suite import run_suite

REGISTRY = {
    "micro": "benchmarks.micro",
    "gc": "benchmarks.gc_pause",
    "feed": "benchmarks.feed",
    "ring": "benchmarks.ring",
    "restart": "benchmarks.restart",
    "pipeline": "benchmarks.pipeline",
    "sweep": "benchmarks.sweep",
    "peers": "benchmarks.peers",
}
RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all): {', '.join(REGISTRY)}")
    parser.add_argument(
        "--quick", action="store_true", help="smaller counts: the whole suite in under 2 minutes"
    )
    parser.add_argument("--out", metavar="DIR", default=RESULTS_DIR,
                        help="where the results JSON and figures go (default: benchmarks/results)")
    parser.add_argument("--json", metavar="FILE", help="also write the results JSON to FILE")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in REGISTRY]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)} (choose from {', '.join(REGISTRY)})")
    names = list(dict.fromkeys(args.names)) or list(REGISTRY)
    return run_suite(names, args.quick, REGISTRY, args.out, args.json)


if __name__ == "__main__":
    sys.exit(main())
