"""What orders does when the run stops, and what it tells the operator it left (issue 11.3).

A stop (Ctrl-C, SIGTERM, SIGHUP, --duration, the supervisor giving up, the end of a replay) used to
leave both legs of every open bracket working at the broker: only the running engine cancels the
twin when one leg fills, so each was a naked position the moment one leg filled. Now, once the last
ticks are applied, `run.on_stop` decides:

- "flatten" (the default, for intraday products): trading HALTED, every working order cancelled and
  every open position closed with FLATTEN orders (the engine's flatten_all);
- "leave": working entries are cancelled (HALTED) and the brackets' legs stay working for the next
  start, said loudly (stderr, summary.json), and the run exits EXIT_LEFT_AT_BROKER.

Either way a later start on the same journal (the same run dir) begins HALTED with the stop's
reason: resuming is the operator's call (`supervisor.py ctl resume`).

Nothing is journaled when there is nothing to act on, so a replay whose last session was squared
off ends exactly as before. A live broker (a real or local Kite/Upstox venue) is then polled,
beating and reporting drain progress, until it confirms the cancels and closes or
`run.on_stop_timeout_s` passes. The paper broker fills only on ticks and the feed has stopped, so
its MARKET closes cannot fill here: what it leaves is reported, not pretended away.

The report (`stop` in orders.summary.json, copied into summary.json) lists what was left working and
open, by symbol: the broker's own view for a live broker, the engine's for paper (or when the broker
does not answer, which the report says).
"""

from __future__ import annotations

import time

from common.errors import BrokerError
from common.tradingstate import TradingState
from orders import statemachine as sm

POLL_S = 0.25          # between broker polls while waiting for a stop's cancels and closes to land
FLATTEN_REASON = "stop: run.on_stop=flatten"
LEAVE_REASON = "stop: run.on_stop=leave: entries cancelled, bracket legs left working"


def apply_stop_policy(stage, *, sleep=time.sleep, clock=time.monotonic) -> dict:
    """Act on run.on_stop, wait (live brokers) for the broker to confirm, return the stop report."""
    cfg = stage.ctx.config
    policy, engine = cfg.run.on_stop, stage.engine
    # the broker's own view is the one to report, not paper's
    live = not stage.broker.book_is_ours
    acted = ""
    if policy == "flatten":
        if engine.book.working() or _open_positions(engine):
            # HALTED first (journaled), as the daily loss limit does: a later start on this journal
            # begins HALTED, saying why, and `ctl resume` (ACTIVE) also ends the flatten; without it
            # the restored engine would stay flattening, cancelling every new bracket, for ever.
            # Already HALTED for another reason, the engine journals ours too (it journals only a
            # new one): the halt is now also the stop's, which neither the next day (a loss-limit
            # halt ends with its day) nor `ctl adopt` (it lifts reconciliation's halt alone) lifts.
            engine.set_trading_state(TradingState.HALTED.name, FLATTEN_REASON)
            engine.flatten_all(FLATTEN_REASON)
            acted = "flattened"
    elif engine.book.working() or _open_positions(engine):
        # HALTED (journaled) whatever is left: entries are cancelled by it, legs stay working, and
        # a later start on this journal begins HALTED, saying why (journaled as above when already
        # HALTED for another reason).
        acted = "entries cancelled" if engine.book.working_entries() else "left working"
        engine.set_trading_state(TradingState.HALTED.name, LEAVE_REASON)
    stage.commit()
    waited_s, timed_out = 0.0, False
    if stage.broker.reports_fills_async and acted:   # cancels and closes land between ticks: wait
        start, market_ns, wall_ns = clock(), engine.clock_ns, time.time_ns()
        deadline = start + cfg.run.on_stop_timeout_s
        while (
            not _settled(engine, policy)
            and clock() < deadline
            and not getattr(engine, "broker_down", "")
        ):
            sleep(POLL_S)
            _follow_wall_clock(engine, market_ns, wall_ns)
            engine.poll_broker()
            stage.commit()
            stage.rt.progress()          # a stop waiting on its broker is drain work, not a hang
        waited_s, timed_out = round(clock() - start, 3), not _settled(engine, policy)
    left, source = left_at_broker(stage, live)
    report = {
        "policy": policy,
        "broker": cfg.broker.name,
        "paper": not live,
        "acted": acted,
        "waited_s": waited_s,
        "timed_out": timed_out,
        "source": source,
        "left_at_broker": left,
    }
    if left["working_orders"] or left["positions"]:
        report["note"] = _note(policy, live, timed_out)
    return report


def _follow_wall_clock(engine, market_ns: int, wall_start_ns: int) -> None:
    """Move the engine's market clock on by the wall-clock time spent waiting at the stop: the
    feed has stopped, so without this a close deferred by the throttle (or a cancel that backed off
    once) would wait for ever while the live market goes on (OrderEngine.advance_clock)."""
    engine.advance_clock(market_ns + (time.time_ns() - wall_start_ns))


def _open_positions(engine) -> dict[int, int]:
    return {i: q for i, (q, _, _) in engine.positions().items() if q}


def _settled(engine, policy: str) -> bool:
    if policy == "flatten":
        return not engine.book.working() and not _open_positions(engine)
    return not engine.book.working_entries()


def left_at_broker(stage, live: bool) -> tuple[dict, str]:
    """{"working_orders": {symbol: [...]}, "positions": {symbol: qty}} and where it was read
    from."""
    if live:
        try:
            return _broker_view(stage.broker), "broker"
        except BrokerError as e:
            view = _engine_view(stage)
            return view, f"engine (the broker did not answer: {e})"
    return _engine_view(stage), "engine (paper)"


def _broker_view(broker) -> dict:
    working: dict[str, list] = {}
    for o in broker.orders():
        if o.status in sm.WORKING:
            working.setdefault(o.symbol, []).append(
                {
                    "client_order_id": o.client_order_id,
                    "broker_order_id": o.broker_order_id,
                    "side": o.side,
                    "qty": o.qty,
                    "filled_qty": o.filled_qty,
                    "order_type": o.order_type,
                    "status": o.status,
                }
            )
    positions = {p.symbol: p.qty for p in broker.positions() if p.qty}
    return {"working_orders": working, "positions": positions}


def _engine_view(stage) -> dict:
    engine = stage.engine
    working: dict[str, list] = {}
    for o in engine.book.working():
        working.setdefault(o.symbol, []).append(
            {
                "client_order_id": o.client_order_id,
                "broker_order_id": o.broker_order_id,
                "role": o.role,
                "side": o.side,
                "qty": o.qty,
                "filled_qty": o.filled_qty,
                "order_type": o.order_type,
                "status": o.status,
            }
        )
    symbols = [s.decode() for s in stage.instruments.rows["symbol"]]
    positions = {symbols[i]: q for i, q in _open_positions(engine).items()}
    return {"working_orders": working, "positions": positions}


def _note(policy: str, live: bool, timed_out: bool) -> str:
    if policy == "leave":
        return "run.on_stop=leave: these stay working at the broker for the next start to manage"
    if not live:
        return (
            "paper: the feed has stopped, so the paper broker (which fills only on ticks) cannot "
            "fill the "
            "stop's closes; these were open when the run ended"
        )
    if timed_out:
        return ("the broker did not confirm every cancel and close within run.on_stop_timeout_s: "
                "check it now")
    return "the broker still reports these after the stop's flatten: check it now"
