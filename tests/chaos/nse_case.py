"""A replay of real NSE prices over several sessions with two strategies, for the chaos tests.

The data (tests/chaos/data/nse_1min_3x3.csv, provenance in tests/chaos/data/README.md) are real
1-minute bars of SBIN, RELIANCE and INFY for the three sessions 2021-07-28, -29 and -30, with the
09:07 pre-open bar and the 15:30 / 15:40 post-close bars each day (15:30 missing twice), unchanged.

Each bar becomes four ticks, 15 s apart from the bar's minute: open, then the two extremes in the
order that matches the bar's direction (low then high for a bar that closed at or above its open,
high then low for one that closed below it), then close. Ticks of the three symbols at the same
instant go in the order SBIN, RELIANCE, INFY. So the replay is 13,600 ticks; prices stay the
exchange's own (multiples of the 0.05 tick).

Two strategies trade every symbol: EMA 10/30 with MARKET entries and SMA 5/20 with LIMIT entries,
under the session rules (no entry after 15:00, square-off 15:10 every day) and a daily loss limit
that halts trading (and flattens) on two of the three days, so the sessions have entries, stops,
targets, a square-off, halts, a new day that trades again, and each morning starts from flat.
"""

from __future__ import annotations

import csv
import json
import os
from collections import defaultdict
from datetime import datetime

from common.clock import IST, IST_OFFSET_NS
from feed.replayfile import write_ticks

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "nse_1min_3x3.csv")
SYMBOLS = ("SBIN", "RELIANCE", "INFY")
SESSIONS = ("2021-07-28", "2021-07-29", "2021-07-30")
# Kite tokens of config/examples/replay.json; ref_price is each symbol's first price in the file
# (the feed's sanity filter judges an instrument's first tick against it).
INSTRUMENTS = [
    {
        "symbol": "SBIN",
        "token": 779521,
        "exchange_token": 3045,
        "tick_size": 0.05,
        "ref_price": 430.0,
    },
    {
        "symbol": "RELIANCE",
        "token": 738561,
        "exchange_token": 2885,
        "tick_size": 0.05,
        "ref_price": 2058.0,
    },
    {
        "symbol": "INFY",
        "token": 408065,
        "exchange_token": 1594,
        "tick_size": 0.05,
        "ref_price": 1605.1,
    },
]
STRATEGIES = [
    {"name": "ema", "kind": "ma_crossover",
     "params": {"fast": 10, "slow": 30, "ma": "ema", "order_type": "MARKET"}},
    {"name": "sma", "kind": "ma_crossover",
     "params": {"fast": 5, "slow": 20, "ma": "sma", "order_type": "LIMIT"}},
]
TICK_OFFSETS_NS = tuple(k * 15 * 10**9 for k in range(4))
# The chaos run's pace: the three sessions (~6.5 h of market time each) take ~4.7 s of wall time,
# the two nights between them ~12.6 s each, so a run lasts ~40 s.
CHAOS_SPEED = 5000.0
# Undisturbed, the sessions' worst realised P&L (fees included) is about -175, -58 and -276 rupees:
# this limit halts trading on the first and third day, and the second day trades again (a loss limit
# is per IST day), so the runs also cover a HALTED engine restarted and a halt that ends with its
# day.
DAILY_LOSS_LIMIT_INR = 120.0


def bar_ticks(o: float, h: float, low: float, c: float) -> tuple[float, float, float, float]:
    """The four prices of one bar, in the order the bar most simply went through them."""
    return (o, low, h, c) if c >= o else (o, h, low, c)


def _minute_ns(text: str) -> int:
    """`YYYY-MM-DD HH:MM:SS` IST → ns since the epoch (UTC)."""
    naive = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    epoch = (naive - datetime(1970, 1, 1)).total_seconds()
    return int(epoch) * 10**9 - IST_OFFSET_NS


def expand(data: str = DATA) -> tuple[list[int], list[str], list[float]]:
    """The bar file as tick columns (ts_event_ns, symbol, price), in time order."""
    order = {s: k for k, s in enumerate(SYMBOLS)}
    rows = []
    with open(data, newline="") as f:
        for bar in csv.DictReader(f):
            symbol = bar["symbol"].rsplit(":", 1)[-1]
            base = _minute_ns(bar["datetime"])
            prices = bar_ticks(*(float(bar[k]) for k in ("open", "high", "low", "close")))
            for step, (offset, price) in enumerate(zip(TICK_OFFSETS_NS, prices)):
                rows.append((base + offset, order[symbol], step, symbol, price))
    rows.sort()
    return [r[0] for r in rows], [r[3] for r in rows], [r[4] for r in rows]


def write_session(path: str) -> int:
    """Write the expanded ticks as a replay file; return how many."""
    ts, symbols, prices = expand()
    write_ticks(path, ts, symbols, prices)
    return len(prices)


def overrides(path: str, speed: float) -> dict:
    return {
        "instruments": INSTRUMENTS,
        "feed": {"source": "replay", "replay": {"path": path, "speed": speed}},
        "strategies": STRATEGIES,
        "risk": {"enforce_session": True, "entry_cutoff": "15:00", "square_off": "15:10",
                 "session_end": "15:30", "daily_loss_limit_inr": DAILY_LOSS_LIMIT_INR},
        # At the end of a replay, orders applies what is left of the ring in finish(), without a
        # heartbeat: with the harness's 1.5 s grace a loaded machine SIGTERMs/SIGKILLs it mid-drain
        # and the run is cut short. Room for the drain; the tests also assert no stage needed a
        # signal.
        "supervisor": {"stop_grace_ms": 30000},
    }


def _day(ts_event_ns: int) -> str:
    return datetime.fromtimestamp(ts_event_ns / 1e9, IST).date().isoformat()


def session_facts(run_dir: str) -> dict:
    """What the run did per IST day (fills.jsonl, orders.jsonl's trading-state changes): the replay
    must trade every session with both strategies, be flat at the end of each, never fill a leg of
    an earlier day's bracket, and trade again on the day after a loss-limit halt."""
    entry_day, net = {}, defaultdict(int)
    facts = {"days": set(), "entry_days": set(), "strategies": set(), "legs_of_earlier_days": [],
             "open_at_day_end": {}, "halted_days": set()}
    day = None
    with open(os.path.join(run_dir, "fills.jsonl")) as f:
        for fill in map(json.loads, filter(str.strip, f)):
            today = _day(fill["ts_event_ns"])
            if day is not None and today != day and any(net.values()):
                facts["open_at_day_end"][day] = {k: v for k, v in net.items() if v}
            day = today
            facts["days"].add(today)
            net[fill["symbol"]] += fill["side"] * fill["qty"]
            if fill["role"] == "ENTRY":
                facts["strategies"].add(fill["strategy"])
                facts["entry_days"].add(today)
                entry_day[fill["bracket_id"]] = today
            elif fill["role"] in ("STOP", "TARGET") and entry_day.get(fill["bracket_id"]) != today:
                facts["legs_of_earlier_days"].append(fill["client_order_id"])
    if any(net.values()):
        facts["open_at_day_end"][day] = {k: v for k, v in net.items() if v}
    with open(os.path.join(run_dir, "orders.jsonl")) as f:
        for record in map(json.loads, filter(str.strip, f)):
            if record["type"] == "TradingStateChanged" and "daily loss limit" in record["reason"] \
                    and record["state"] == "HALTED":
                facts["halted_days"].add(_day(record["ts_event_ns"]))
    return facts
