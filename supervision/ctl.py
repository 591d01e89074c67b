"""The client: `python supervisor.py ctl VERB [--run-dir DIR]`.

VERB is one of status, halt, resume, flatten, reconcile, adopt.

Finds the run's control socket (control.py): with --run-dir, the `supervisor.ctl` endpoint its
`run.json` names; without, the one live run of ours in the run registry (registry.py), or a list of
them to choose from. Prints the supervisor's answer as JSON (`status`: the same JSON as /health) and
exits 0 when the command took effect, 1 when it did not (the answer says why), 2 when no run could
be reached.
"""

from __future__ import annotations

import argparse
import os
import sys

import orjson

from common import rundir, topics
from supervision.control import COMMANDS, ControlError, request

EXIT_OK, EXIT_NO_EFFECT, EXIT_UNREACHABLE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="supervisor.py ctl",
                                     description="Act on a running OTrade session (owner only).")
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument(
        "--run-dir", metavar="DIR", help="the run to act on (default: the one live run of ours)"
    )
    parser.add_argument(
        "--reason", default="", help="why (journaled in ctl.jsonl and shown in the status)"
    )
    parser.add_argument("--timeout", type=float, default=90.0, metavar="S",
                        help="give up waiting for the supervisor's answer after this many seconds")
    return parser


def socket_of_run_dir(run_dir: str) -> str:
    """The control socket of the run in `run_dir`, from its run.json. Raises ControlError."""
    path = os.path.join(run_dir, rundir.RUN_INFO)
    try:
        with open(path, "rb") as f:
            endpoint = orjson.loads(f.read())["endpoints"][topics.CTL_SUPERVISOR]
    except FileNotFoundError:
        raise ControlError(
            f"{run_dir} holds no run.json: not a run directory, or the run never started"
        ) from None
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise ControlError(
            f"{path} names no control socket ({e!s}): a run of an older version?"
        ) from None
    return endpoint.removeprefix("ipc://")


def socket_of_live_run(runs: list[dict]) -> str:
    """The control socket of the one live run; ControlError listing them when there are none or
    many."""
    usable = [r for r in runs if isinstance(r.get("ipc_dir"), str)]
    if len(usable) == 1:
        return os.path.join(usable[0]["ipc_dir"], topics.CTL_SUPERVISOR)
    if not usable:
        raise ControlError(
            "no live OTrade run of yours found in the run registry; pass --run-dir DIR"
        )
    listed = "\n".join(
        f"  run {r.get('run_id')} (supervisor pid {r.get('pid')}), ipc {r['ipc_dir']}"
        for r in usable
    )
    raise ControlError(f"{len(usable)} live runs; pass --run-dir DIR of one of them:\n{listed}")


def ctl_main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.run_dir:
            path = socket_of_run_dir(os.path.abspath(args.run_dir))
        else:
            from supervision.registry import RegistryError, live_runs

            try:
                path = socket_of_live_run(live_runs())
            except RegistryError as e:
                raise ControlError(str(e)) from None
        answer = request(path, args.command, args.reason, timeout_s=args.timeout)
    except ControlError as e:
        print(f"ctl: {e}", file=sys.stderr)
        return EXIT_UNREACHABLE
    sys.stdout.write(
        orjson.dumps(answer.get("status", answer), option=orjson.OPT_INDENT_2).decode() + "\n"
    )
    if not answer.get("ok"):
        print(f"ctl {args.command}: {answer.get('error', 'no effect')}", file=sys.stderr)
        return EXIT_NO_EFFECT
    return EXIT_OK
