"""The broker account's home: its durable state per IST trading day, outliving every run (issue
11.1).

Before, the order and fill journals lived in the run dir. A start with a fresh run dir (the default)
began the day from nothing: the brackets an earlier run left working were nobody's, the daily loss
limit and the day's order counts started from zero, and on the old run dir the new ring's tick
sequence restarted at 1 below the journal's marks (no exit managed for ~21 s, 559 intents dropped as
"redelivered"). Now:

    <account home>/<account key>/<YYYY-MM-DD IST>/
        orders.jsonl  fills.jsonl  paper_broker.jsonl  reconcile.baseline.json  the day's state
        settlement.json                                              written when the day is settled
    <account home>/<account key>/account.lock                         one supervisor per account

The account home is `run.account_home`, else $OTRADE_ACCOUNT_HOME, else
~/.local/state/otrade/accounts. Any start on the same account and IST day resumes that day: the
orders stage restores the engine from the day's journal (working orders and brackets adopted, day
P&L and counts continued), and the ring starts above every tick sequence the account's journals
hold, so the new run's ticks and intent ids never meet the old run's. The run dir keeps the run's
own files (signals.jsonl, logs, status, summary, report) and points at the account day:
`account.json`, and links named like the old files (orders.jsonl -> the day's), so every reader of a
run dir reads the day it traded.

A start on a new day settles the latest earlier day first: what its journal shows still open (net
positions, working orders) is written to that day's settlement.json and said on stderr. Intraday
products are squared off by the broker (15:20) and day orders expire at the close, so nothing of
that day is sent today; positions the broker still holds today (delivery, NRML) are reconciled at
start and keep trading HALTED, named, until the operator adopts or flattens them.

Not used (the run dir holds the state, as before) by a replay or the sim — markets of their own, not
the account's today — or by a local venue the supervisor starts for one run (it dies with the run).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field

import msgspec
import orjson

from common import rundir
from common.atomicfile import write_atomic
from common.clock import ist_date
from common.journalline import problem

ACCOUNT_INFO = rundir.ACCOUNT_INFO  # in the run dir: the account day this run traded
# in a day dir: what the day left, written when a later day started
SETTLEMENT = "settlement.json"
# The day's journals; the run dir links each under the same name (the paper book only for paper).
DAY_FILES = (rundir.ORDERS_JOURNAL, rundir.FILLS_JOURNAL, rundir.PAPER_JOURNAL)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# How a refusal names the account home and where to point it elsewhere (not the run registry's).
HOME_NAMES = ("account home", "run.account_home or $OTRADE_ACCOUNT_HOME")
_CHUNK = 1 << 20


def home_root(config) -> str:
    configured = config.run.account_home or os.environ.get("OTRADE_ACCOUNT_HOME")
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(state, "otrade", "accounts")


# Feeds that are markets of their own: a replay replays past days, the sim makes one up and opens it
# at its session start in every run. Resuming the account's real day on them would put a day's
# journal, whose market clock is where an earlier run ended, under a market that starts again at
# 09:15: the engine's clock (it never goes back) would stand still; orders paced on it would wait.
OWN_MARKET_FEEDS = ("replay", "sim")


def keeps_account_day(config, key: str | None) -> bool:
    """Does this run trade the account's real day? A live feed (Kite, Upstox) on a broker account,
    paper included; not a replay or the sim (their state stays in the run dir), not a run-private
    venue."""
    return key is not None and config.feed.source not in OWN_MARKET_FEEDS


@dataclass
class AccountDay:
    key: str                      # "paper-default", "kite-<hash of the API key>"
    day: str                      # IST date, "2026-12-07"
    dir: str                      # <home>/<key>/<day>
    # the run's ring starts here: above every sequence the account used
    first_tick_seq: int = 1
    resumed: bool = False         # the day's journal already held records
    # what the previous day left (settlement.json), when this start settled it
    settled: dict | None = None
    # the day journal's last record before this run: this run's are after it
    orders_seq_at_start: int = 0

    @property
    def account_dir(self) -> str:
        return os.path.dirname(self.dir)

    def describe(self) -> dict:
        return {
            "account": self.key,
            "day": self.day,
            "dir": self.dir,
            "first_tick_seq": self.first_tick_seq,
            "resumed": self.resumed,
            "orders_seq_at_start": self.orders_seq_at_start,
            "settled_previous_day": self.settled,
        }


def open_account_day(root: str, key: str, now_ns: int | None = None) -> AccountDay:
    """The account's day for a start at `now_ns` (IST date), created 0700; the previous day
    settled."""
    from supervision.registry import ensure_private_dir

    today = ist_date(time.time_ns() if now_ns is None else now_ns).isoformat()
    os.makedirs(root, mode=0o700, exist_ok=True)
    account = os.path.join(root, key)
    ensure_private_dir(account, *HOME_NAMES)
    days = sorted(d for d in os.listdir(account) if _DAY.fullmatch(d) and d <= today)
    day_dir = os.path.join(account, today)
    journal = os.path.join(day_dir, rundir.ORDERS_JOURNAL)
    resumed = os.path.exists(journal) and os.path.getsize(journal) > 0
    ensure_private_dir(day_dir, *HOME_NAMES)
    earlier = [d for d in days if d < today]
    settled = settle(os.path.join(account, earlier[-1])) if earlier else None
    # Sequences continue across days too: the brokers' books reset daily, but a tag (client order
    # id, derived from the intent id and so from the tick seq) never repeats for one account. The
    # latest earlier day counts even when today's journal exists: a start that died before
    # journaling a record leaves today's empty, and the next start must not number from 1 again.
    latest = [os.path.join(account, earlier[-1])] if earlier else []
    states = [journal_state(os.path.join(d, rundir.ORDERS_JOURNAL)) for d in latest + [day_dir]]
    high = max((st.high_water for st in states), default=0)
    # The paper broker's book (a paper account) skips every tick at or below the last one it
    # matched, which its journal's records carry as "seq": a trigger the engine did not act on,
    # or a fill or trigger the orders stage died before journaling, leaves it above every seq the
    # orders journal names. A ring numbered below it would reach that broker with nothing.
    for d in latest + [day_dir]:
        high = max(high, journal_state(os.path.join(d, rundir.PAPER_JOURNAL)).last_seq)
    return AccountDay(
        key=key,
        day=today,
        dir=day_dir,
        first_tick_seq=high + 1,
        resumed=resumed,
        settled=settled,
        orders_seq_at_start=states[-1].last_seq,
    )


@dataclass
class JournalState:
    """What an orders journal says is left, folded from its records alone (no engine needed)."""

    high_water: int = 0                            # the highest tick sequence any record names
    # the highest record sequence (orders' event stamp)
    last_seq: int = 0
    net_qty: dict = field(default_factory=dict)    # symbol -> signed quantity from fills
    working: dict = field(default_factory=dict)    # client order id -> "SYMBOL ROLE side qty"
    unreadable_lines: int = 0


class _Record(msgspec.Struct):
    type: str = ""
    seq: int = 0
    tick_seq: int = 0
    upto_seq: int = 0
    intent_id: str = ""
    client_order_id: str = ""
    symbol: str = ""
    role: str = ""
    side: int = 0
    qty: int = 0
    leaves_qty: int = -1


_decode = msgspec.json.Decoder(_Record).decode
_TERMINAL = {"OrderCanceled", "OrderRejected"}


def journal_state(path: str) -> JournalState:
    state = JournalState()
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return state
    with f:
        tail = b""
        while chunk := f.read(_CHUNK):
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()           # a torn last line is not a record yet
            for line in lines:
                _fold(state, line)
    return state


def _fold(state: JournalState, line: bytes) -> None:
    if not line.strip():
        return
    damaged = bool(problem(line))    # damaged or unsealed: counted, never fatal to a start
    try:
        # the seal's "crc" field is skipped like every other unknown one
        rec = _decode(line)
    except msgspec.DecodeError:
        rec = None
    if rec is not None:
        # Even a damaged record's sequence counts for the high-water mark: numbering above it is
        # never wrong, numbering below it could repeat a tag the broker already holds.
        state.high_water = max(
            state.high_water, rec.tick_seq, rec.upto_seq - 1, _intent_seq(rec.intent_id)
        )
        state.last_seq = max(state.last_seq, rec.seq)
    if damaged or rec is None:
        state.unreadable_lines += 1
        return
    if rec.type == "OrderSubmitting":
        state.working[rec.client_order_id] = (
            f"{rec.symbol} {rec.role} {'BUY' if rec.side > 0 else 'SELL'} {rec.qty}"
        )
    elif rec.type == "OrderFilled":
        state.net_qty[rec.symbol] = state.net_qty.get(rec.symbol, 0) + rec.side * rec.qty
        if rec.leaves_qty == 0:
            state.working.pop(rec.client_order_id, None)
    elif rec.type in _TERMINAL:
        state.working.pop(rec.client_order_id, None)


def _intent_seq(intent_id: str) -> int:
    """The tick sequence inside an intent id ("ma_x:3:1042" -> 1042; common/ids.intent_id)."""
    tail = intent_id.rpartition(":")[2]
    return int(tail) if tail.isdigit() else 0


def settle(day_dir: str) -> dict | None:
    """Write what an earlier day left into its settlement.json (once); the document, or None if the
    day was already settled."""
    path = os.path.join(day_dir, SETTLEMENT)
    if os.path.exists(path):
        return None
    state = journal_state(os.path.join(day_dir, rundir.ORDERS_JOURNAL))
    doc = {
        "day": os.path.basename(day_dir),
        "settled_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "open_positions": {s: q for s, q in sorted(state.net_qty.items()) if q},
        "working_orders": dict(sorted(state.working.items())),
        "unreadable_lines": state.unreadable_lines,
        "note": "intraday (MIS) positions are squared off by the broker at 15:20 and day orders "
        "expire at "
        "the close: nothing of this day is sent again. Anything the broker still holds today "
        "(delivery, NRML) is found by the start's reconcile, which keeps trading HALTED until "
        "`supervisor.py ctl adopt` or `ctl flatten`.",
    }
    write_atomic(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return doc


def link_run_dir(run_dir: str, day: AccountDay, *, paper: bool) -> None:
    """account.json and a link per day journal in the run dir (a link of an earlier day is
    replaced). Each journal is created first, so no link dangles (a reader of the run dir opens
    every file).

    A run dir that holds a journal of its own (a replay's, or one from before account homes) is not
    silently shadowed: RunDirConflict names it.
    """
    check_run_dir(run_dir, day.key, paper=paper)
    for name in DAY_FILES if paper else DAY_FILES[:2]:
        link = os.path.join(run_dir, name)
        if os.path.islink(link):
            os.unlink(link)
        target = os.path.join(day.dir, name)
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600))
        os.symlink(target, link)
    write_atomic(
        os.path.join(run_dir, ACCOUNT_INFO),
        orjson.dumps(day.describe(), option=orjson.OPT_INDENT_2),
    )


def check_run_dir(run_dir: str, key: str, *, paper: bool) -> None:
    """RunDirConflict if the run dir holds a day journal of its own. Called before the account's day
    is opened, so a refused start creates no day and settles no earlier one (a settlement written by
    a refused start would never be shown: the next start finds the day already settled)."""
    for name in DAY_FILES if paper else DAY_FILES[:2]:
        link = os.path.join(run_dir, name)
        if os.path.lexists(link) and not os.path.islink(link):
            raise RunDirConflict(
                f"run dir {run_dir} holds its own {name} (a replay's, or one written before "
                f"account homes): use another run dir for trading account {key}"
            )


def run_dir_high_water(run_dir: str) -> int:
    """The highest tick sequence the run dir's own signals journal names. A start on an old run dir
    must number its ticks above it too: the intents signals journaled there that orders had not yet
    journaled in the day (orders died with them buffered) carry ids the new run's ticks would
    repeat."""
    return journal_state(os.path.join(run_dir, rundir.SIGNALS_JOURNAL)).high_water


# in a day dir: the instrument table the day's journal numbers by position
INSTRUMENTS = "instruments.json"


def check_instruments(day: AccountDay, instruments) -> None:
    """Refuse a start whose instrument table would renumber the day's instruments; record it
    otherwise.

    The journal names an instrument by its position in the table (the engine's and the positions
    book's index). A second run the same day with the list reordered or shortened restored run 1's
    positions onto other instruments: its flatten sold TATASTEEL for RELIANCE's +2 and showed the
    book flat. Appending instruments keeps every position, so that is allowed.
    """
    table = [[i.symbol, i.exchange, int(i.token)] for i in instruments]
    path = os.path.join(day.dir, INSTRUMENTS)
    try:
        with open(path, "rb") as f:
            traded = orjson.loads(f.read())["instruments"]
    except FileNotFoundError:
        traded = None
    # an empty day binds nothing
    if traded is not None and day.resumed and table[:len(traded)] != traded:
        moved = next(k for k, row in enumerate(traded) if k >= len(table) or table[k] != row)
        now = table[moved][0] if moved < len(table) else "nothing"
        raise InstrumentsChanged(
            f"account {day.key}'s day {day.day} was traded with instrument {moved} = "
            f"{traded[moved][0]}, this "
            f"config has {now} there: the day's journal numbers instruments by position, so a "
            "changed order "
            "would put its positions on other instruments. Keep the day's instruments in order "
            f"({path}; new "
            f"ones may be added at the end), or trade another account"
        )
    if traded != table:
        write_atomic(path, orjson.dumps({"instruments": table}, option=orjson.OPT_INDENT_2))


class InstrumentsChanged(Exception):
    """The config's instrument table does not keep the positions of the account day's."""


class RunDirConflict(Exception):
    """The run dir cannot point at the account day without hiding a journal of its own."""
