"""The files of a run directory, named once (as common/topics.py names the bus's endpoints).

Every stage, the supervisor, the backtest and the report find a run's files through these names, so
moving one (the journals will move to the account's home, see the issues) is a change in one place.
Imports nothing.
"""

# Journals: append-only, one checksummed JSON record a line (common/journal.py).
SIGNALS_JOURNAL = "signals.jsonl"        # every intent signals raised
ORDERS_JOURNAL = "orders.jsonl"          # every order event, denial, marker and approved intent
FILLS_JOURNAL = "fills.jsonl"            # the orders journal's fills, copied
PAPER_JOURNAL = "paper_broker.jsonl"     # the paper broker's own book
SUPERVISOR_LOG = "supervisor.jsonl"      # every spawn, exit, hang, restart and give-up
ORDERS_SNAPSHOT_ARGS = "orders.snapshotwriter.pickle"   # what the snapshot writer runs with
CTL_LOG = "ctl.jsonl"                    # every operator command and its result

# State and results.
RUN_INFO = "run.json"                    # pid, endpoints and segments of the running supervisor
# the account day this run traded (supervision/accountday.py)
ACCOUNT_INFO = "account.json"
CONFIG_EFFECTIVE = "config.effective.json"
# positions, replaced atomically every 500 ms and at the end
POSITIONS = "positions.json"
SUMMARY = "summary.json"
REPORT = "report.html"


def stage_summary(stage: str) -> str:
    """What a stage writes about itself at its end: "orders.summary.json"."""
    return f"{stage}.summary.json"
