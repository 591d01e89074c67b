"""Opening the broker account's trading day for a run (issue 11.1): the step between the locks and
the stages. The day itself, its files and its rules are in supervision/accountday.py; this is what
`python supervisor.py` says about it on stderr (resumed or started, what an earlier day left) and
the refusals that end a start with exit 2."""

from __future__ import annotations

import sys


class DayRefused(Exception):
    """The account's day cannot be opened for this run; the reason is already on stderr."""


def open_day(cfg, secrets, run_dir: str):
    """The broker account's trading day this run resumes or starts (issue 11.1), linked from the run
    dir; None for a replay, the sim or a run-private venue (their state stays in the run dir).
    Raises DayRefused (said on stderr) on a conflict or an untrusted account home."""
    from supervision.accountday import (
        InstrumentsChanged,
        RunDirConflict,
        check_instruments,
        check_run_dir,
        home_root,
        keeps_account_day,
        link_run_dir,
        open_account_day,
        run_dir_high_water,
    )
    from supervision.instancelock import account_key
    from supervision.registry import RegistryError

    key = account_key(cfg, secrets)
    if key is None or not keeps_account_day(cfg, key):      # no key: no account day either
        return None
    paper, root = cfg.broker.name == "paper", home_root(cfg)
    try:
        # before the day is created or an earlier one settled
        check_run_dir(run_dir, key, paper=paper)
        day = open_account_day(root, key)
        day.first_tick_seq = max(day.first_tick_seq, run_dir_high_water(run_dir) + 1)
        check_instruments(day, cfg.instruments)
        link_run_dir(run_dir, day, paper=paper)
    except (RunDirConflict, InstrumentsChanged) as e:
        print(f"supervisor: {e}", file=sys.stderr)
        raise DayRefused from None
    # a planted symlink, another user's dir, a full disk: no traceback
    except (RegistryError, OSError) as e:
        print(f"supervisor: cannot open account {key}'s home in {root}: {e}", file=sys.stderr)
        raise DayRefused from None
    if day.settled:
        left = {k: day.settled[k] for k in ("open_positions", "working_orders") if day.settled[k]}
        print(f"supervisor: settled the account's previous day {day.settled['day']}: "
              f"{left or 'nothing was left open'} ({day.settled['note']})", file=sys.stderr)
        # what the settlement says is left may be short of the truth
        if day.settled["unreadable_lines"]:
            print(
                f"supervisor: WARNING: {day.settled['unreadable_lines']} line(s) of day "
                f"{day.settled['day']}'s "
                "orders.jsonl are damaged: its settlement may miss what they held; check the "
                "broker's "
                f"book for that day",
                file=sys.stderr,
            )
    verb = "resuming" if day.resumed else "starting"
    print(
        f"supervisor: {verb} account {day.key} day {day.day} in {day.dir} (ticks from "
        f"{day.first_tick_seq})",
        file=sys.stderr,
    )
    return day
