"""The README's measured figures, regenerated from results JSON: `python -m benchmarks.readme`.

README.md holds generated blocks between markers,

    <!-- generated:firstrun:begin -->   ...   <!-- generated:firstrun:end -->
    <!-- generated:benchmarks:begin --> ...   <!-- generated:benchmarks:end -->

and this command rewrites each block from the latest results in benchmarks/results: the firstrun
block from `firstrun-<stamp>.json` (`python -m benchmarks.firstrun`), the benchmarks block from
`<stamp>.json` (`python -m benchmarks [--quick]`). Nothing in a block is typed by hand, and the text
around the blocks is never touched. Rendering is a pure function of the JSON, so running it twice
changes nothing the second time. `--only NAME` rewrites one block; `--firstrun FILE` / `--bench
FILE` take a given results file instead of the latest. A missing results file or marker is an error
that says which and how to make it (exit 2); the README is then left as it was.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys
import textwrap

import orjson

from benchmarks import table
from benchmarks.firstrun import PREFIX as FIRSTRUN_PREFIX
from benchmarks.firstrun import RESULTS_DIR, ROOT

BLOCKS = ("firstrun", "benchmarks")
MAKE = {"firstrun": "python -m benchmarks.firstrun", "benchmarks": "python -m benchmarks --quick"}
WIDTH = 100                       # the README's line length
_SUITE_NAME = re.compile(r"^\d{8}T\d{6}Z\.json$")


class ReadmeError(Exception):
    """A block cannot be regenerated: no results, unreadable results, or no markers."""


def markers(name: str) -> tuple[str, str]:
    return f"<!-- generated:{name}:begin -->", f"<!-- generated:{name}:end -->"


def latest_results(name: str, results_dir: str = RESULTS_DIR) -> str:
    """The newest results file for block `name` (file names sort by their UTC stamp)."""
    if name == "firstrun":
        paths = glob.glob(os.path.join(results_dir, f"{FIRSTRUN_PREFIX}*.json"))
    else:
        paths = [p for p in glob.glob(os.path.join(results_dir, "*.json"))
                 if _SUITE_NAME.match(os.path.basename(p))]
    if not paths:
        raise ReadmeError(f"no {name} results in {results_dir}: run `{MAKE[name]}` first")
    return max(paths, key=os.path.basename)


def load_results(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            doc = orjson.loads(f.read())
    except FileNotFoundError:
        raise ReadmeError(f"results file {path} not found") from None
    except (OSError, orjson.JSONDecodeError) as e:
        raise ReadmeError(f"results file {path} is unreadable: {e}") from None
    if not isinstance(doc, dict):
        raise ReadmeError(f"results file {path} is not a JSON object")
    return doc


def replace_block(text: str, name: str, body: str) -> str:
    """`text` with the block `name` holding `body`; ReadmeError unless its markers appear once
    each."""
    begin, end = markers(name)
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ReadmeError(f"README needs exactly one {begin} followed by one {end}")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body.strip(chr(10))}\n{end}{tail}"


def render(name: str, doc: dict) -> str:
    try:
        return render_firstrun(doc) if name == "firstrun" else render_benchmarks(doc)
    except (KeyError, TypeError, ValueError) as e:
        raise ReadmeError(
            f"{name} results lack a figure the README shows: {type(e).__name__}: {e}"
        ) from None


def render_firstrun(doc: dict) -> str:
    """The "What `make run` shows" figures, as one paragraph."""
    n, secs, ticks = doc["instruments"], float(doc["duration_s"]), int(doc["ticks"])
    roles = doc.get("orders_by_role", {})
    parts = [
        f"{roles[r]:,} {label}"
        for r, label in (
            ("ENTRY", "entries"),
            ("STOP", "stops"),
            ("TARGET", "targets"),
            ("SQUARE_OFF", "square-offs"),
            ("FLATTEN", "closes at the stop"),
        )
        if roles.get(r)
    ]
    denied = int(doc["denied"])
    reasons = ", ".join(f"{k} {v:,}" for k, v in doc.get("denied_by_reason", {}).items())
    share = 100.0 * float(doc["denied_share"])
    lat = doc.get("latency_us", {})
    first = (
        f"the first intent at {doc['first_intent_ist']}"
        if doc.get("first_intent_ist")
        else "no intent"
    )
    text = (
        f"Measured by `python -m benchmarks.firstrun` (`{doc['command']}` on the default, in a "
        "fresh run "
        f"directory and account home; {doc['started_utc'][:10]}, "
        f"{_machine(doc.get('machine', {}))}): "
        f"{ticks:,} ticks (about {ticks / secs:,.0f}/s over the {n} names), market time "
        f"{doc.get('market_start_ist') or '?'} → {doc.get('market_last_tick_ist') or '?'}, "
        f"{first}; "
        f"**{int(doc['intents']):,} intents, {denied:,} denied ({share:.1f} %)**"
        f"{_paren(reasons)}; {int(doc['orders']):,} orders{_paren(', '.join(parts))}; "
        f"{int(doc['fills']):,} fills; "
        f"realised ₹{float(doc['realised_pnl_inr']):,.2f}, unrealised "
        f"₹{float(doc['unrealised_pnl_inr']):,.2f}; "
        f"exit {doc['exit_code']}. Stage latency p50 / p99: signals {_pair(lat.get('signals'))}, "
        f"orders (tick → order handed to the broker) {_pair(lat.get('orders'))}."
    )
    return textwrap.fill(text, WIDTH, break_long_words=False, break_on_hyphens=False)


def render_benchmarks(doc: dict) -> str:
    """The suite's rows as a Markdown table, under a line naming the run and the machine."""
    rows = doc["rows"]
    # issue 14's columns, if any
    extra = [k for k in ("target", "pass") if any(k in r for r in rows)]
    head = ["benchmark", "metric", "measured", *extra, "note"]
    lines = [
        f"One `python -m benchmarks{' --quick' if doc.get('quick') else ''}` run, "
        f"{_stamp_day(doc['stamp'])}, "
        f"{doc.get('total_s', '?')} s, on {_machine(doc.get('machine', {}))}. {table.CAPTION}.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        name, metric, value, note = table._cells(r)
        cells = [f"`{name}`", metric, value, *(_text(r.get(k)) for k in extra), note]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _paren(text: str) -> str:
    return f" ({text})" if text else ""


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "pass" if value else "miss"
    return str(value)


def _pair(lat: dict | None) -> str:
    if not lat or not lat.get("p50_us"):
        return "—"
    return " / ".join(_us(lat[k]) for k in ("p50_us", "p99_us"))


def _us(us: float) -> str:
    return f"{us / 1000:.1f} ms" if us >= 1000 else f"{us:.0f} µs"


def _stamp_day(stamp: str) -> str:
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}" if len(stamp) >= 8 else stamp


def _machine(info: dict) -> str:
    if not info:
        return "machine not recorded"
    return (
        f"{info.get('cpu_model', '?')}, {info.get('usable_cores', info.get('cores', '?'))} usable "
        "cores, "
        f"Python {info.get('python', '?')}"
    )


def regenerate(readme: str, sources: dict[str, str]) -> bool:
    """Rewrite the blocks in `sources` (name -> results path) in `readme`; True if it changed.
    Every block is rendered before the file is written, so an error leaves it untouched."""
    with open(readme, encoding="utf-8") as f:
        before = f.read()
    text = before
    for name, path in sources.items():
        text = replace_block(text, name, render(name, load_results(path)))
    if text == before:
        return False
    tmp = f"{readme}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, readme)
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.readme", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--readme", default=os.path.join(ROOT, "README.md"), metavar="FILE")
    parser.add_argument(
        "--results",
        default=RESULTS_DIR,
        metavar="DIR",
        help="where the latest results are looked for",
    )
    parser.add_argument(
        "--only", choices=BLOCKS, action="append", help="rewrite only this block (repeatable)"
    )
    parser.add_argument(
        "--firstrun", metavar="FILE", help="firstrun results to use (default: the latest)"
    )
    parser.add_argument(
        "--bench", metavar="FILE", help="benchmark suite results to use (default: the latest)"
    )
    args = parser.parse_args(argv)
    given = {"firstrun": args.firstrun, "benchmarks": args.bench}
    try:
        sources = {
            name: given[name] or latest_results(name, args.results)
            for name in (args.only or BLOCKS)
        }
        changed = regenerate(args.readme, sources)
    except (ReadmeError, OSError) as e:
        print(f"readme: {e}", file=sys.stderr)
        return 2
    for name, path in sources.items():
        print(f"{name}: {os.path.relpath(path)}")
    print(f"{args.readme}: {'rewritten' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
