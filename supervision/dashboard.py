"""The live status view (rich) when stdout is a terminal; periodic JSON status lines otherwise."""

from __future__ import annotations

import sys
import time

import orjson


def _throughput(prev: dict | None, snap: dict, dt: float) -> dict:
    rates = {}
    for name, s in snap["stages"].items():
        first = next(iter(s["counters"].values()), 0)
        before = next(iter(prev["stages"][name]["counters"].values()), 0) if prev else first
        rates[name] = (first - before) / dt if dt > 0 else 0.0
    return rates


class StatusLines:
    """A compact JSON status line every `every_s` seconds (non-terminal stdout, --no-dashboard)."""

    def __init__(self, stream=None, every_s: float = 5.0):
        self.stream = stream or sys.stdout
        self.every_s = every_s
        self._last = 0.0
        self._prev: dict | None = None

    def start(self) -> None:
        pass

    def update(self, snap: dict) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s:
            return
        rates = _throughput(self._prev, snap, now - self._last if self._last else 0.0)
        self._last, self._prev = now, snap
        pos = snap.get("positions") or {}
        line = {
            "status": snap["trading_state"],
            "status_reason": snap.get("trading_state_reason", ""),
            "stages": {n: {"state": s["state"], "pid": s["pid"], "restarts": s["restarts"],
                           "per_s": round(rates[n], 1), "p50_us": s["latency"]["p50_us"]}
                       for n, s in snap["stages"].items()},
            "realised_pnl_inr": pos.get("realised_pnl_inr"),
            "unrealised_pnl_inr": pos.get("unrealised_pnl_inr"),
        }
        self.stream.write(orjson.dumps(line).decode() + "\n")
        self.stream.flush()

    def stop(self) -> None:
        pass


class LiveView:
    """A rich Live table: stages, throughput, latency, positions and P&L, refreshed ~4 times a
    second."""

    def __init__(self):
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)
        self._prev = None
        self._last = time.monotonic()

    def start(self) -> None:
        self.live.start()

    def update(self, snap: dict) -> None:
        now = time.monotonic()
        if now - self._last < 0.25 and self._prev is not None:
            return
        rates = _throughput(self._prev, snap, now - self._last)
        self._prev, self._last = snap, now
        self.live.update(self._render(snap, rates))

    def _render(self, snap: dict, rates: dict):
        from rich.console import Group
        from rich.table import Table

        why = f" ({snap['trading_state_reason']})" if snap.get("trading_state_reason") else ""
        stages = Table(
            title=f"OTrade run {snap['run_id']} — trading {snap['trading_state']}{why}", expand=True
        )
        for col in (
            "stage",
            "state",
            "pid",
            "cores",
            "restarts",
            "beat ms",
            "lag",
            "events/s",
            "p50 µs",
            "p99 µs",
        ):
            stages.add_column(col, justify="right" if col not in ("stage", "state") else "left")
        for name, s in snap["stages"].items():
            stages.add_row(
                name,
                s["state"],
                str(s["pid"]),
                ",".join(map(str, s["cores"])) + f" {s.get('wait', '')}".rstrip(),
                str(s["restarts"]),
                f"{s['heartbeat_age_s'] * 1e3:.0f}",
                str(s["ring_lag"]),
                f"{rates[name]:,.0f}",
                f"{s['latency']['p50_us']:.1f}",
                f"{s['latency']['p99_us']:.1f}",
            )
        pos = snap.get("positions") or {}
        book = Table(title=f"Positions — realised ₹{pos.get('realised_pnl_inr', 0):,.2f}, "
                           f"unrealised ₹{pos.get('unrealised_pnl_inr', 0):,.2f}", expand=True)
        for col in ("symbol", "qty", "avg", "last", "realised ₹", "unrealised ₹"):
            book.add_column(col, justify="left" if col == "symbol" else "right")
        for p in (pos.get("positions") or [])[:15]:
            book.add_row(
                p["symbol"],
                str(p["qty"]),
                f"{p['avg_price']:.2f}",
                f"{p['last_price']:.2f}",
                f"{p['realised_pnl_inr']:,.2f}",
                f"{p['unrealised_pnl_inr']:,.2f}",
            )
        # how to act on the session (issue 11.5)
        hint = (snap.get("operator") or {}).get("hint", "")
        return Group(stages, book, hint) if hint else Group(stages, book)

    def stop(self) -> None:
        self.live.stop()


def make_view(no_dashboard: bool):
    if no_dashboard or not sys.stdout.isatty():
        return StatusLines()
    return LiveView()
