"""Fills in flight against reconciliation's confirmation and `ctl adopt` (orders/reconciler.py).

A fill the broker has made and our poll has not read yet is a difference for a moment: the order is
final at the broker, its trade unknown to our journal, the instrument's position off by its
quantity. Only a difference that holds, unchanged, for `confirm_s` is a mismatch. These tests drive
that window with a fake account whose broker fills orders before our engine reads them (a test
session's `ctl reconcile` failed once on it: answered clean, trading HALTED).
"""

from types import SimpleNamespace

from orders.reconciler import CONFIRM_S, RETRY_S, Reconciler
from tests.orders.test_reconcile import SYMBOLS, Clock, FakeTradingState

PLANTED = "EPLANTED"


class Account(FakeTradingState):
    """One account as the broker and as our engine see it. The broker fills an order at once
    (`fill`); our engine learns of it only when its poll reads the broker (`read`)."""

    def __init__(self):
        self.at_broker: dict[str, SimpleNamespace] = {}
        self.trades: list[SimpleNamespace] = []
        self.book = SimpleNamespace(orders={}, fill_ids=set())
        self.trading_state, self.state_reason, self.states = "ACTIVE", "", []
        self.halt_reasons: tuple[str, ...] = ()  # as OrderEngine journals them
        self.halt_ends_with_day = False
        self.by_hand: dict[int, int] = {}       # net quantities at the broker, not ours
        self.after_trades_read = lambda: None   # what happens as the trade book is answered

    # -- the engine's side (what the reconciler reads and sets) -----------------------------------
    def positions(self):
        net: dict[int, int] = {}
        for t in self.trades:
            if t.trade_id in self.book.fill_ids:
                net[t.instrument] = net.get(t.instrument, 0) + t.side * t.qty
        return {k: (v, 0.0, 0.0) for k, v in net.items() if v}

    # -- the broker's side ------------------------------------------------------------------------
    def orders(self):
        return list(self.at_broker.values())

    def broker_trades(self):
        rows = list(self.trades)
        self.after_trades_read()
        return rows

    def broker_positions(self):
        net: dict[int, int] = dict(self.by_hand)
        for t in self.trades:
            net[t.instrument] = net.get(t.instrument, 0) + t.side * t.qty
        return [SimpleNamespace(instrument=k, qty=v) for k, v in net.items()]

    # -- what happens -----------------------------------------------------------------------------
    def place(self, coid: str, instrument: int = 0, *, ours: bool = True) -> None:
        """A working order of 1 at the broker; in our journal unless `ours` is False (planted)."""
        row = dict(client_order_id=coid, broker_order_id=f"B{coid}", instrument=instrument,
                   symbol=SYMBOLS[instrument], status="ACCEPTED", qty=1, filled_qty=0)
        self.at_broker[coid] = SimpleNamespace(**row)
        if ours:
            self.book.orders[coid] = SimpleNamespace(**row)

    def fill(self, coid: str, side: int) -> None:
        """The broker fills `coid`: our engine does not know yet."""
        order = self.at_broker[coid]
        order.status, order.filled_qty = "FILLED", 1
        self.trades.append(SimpleNamespace(trade_id=f"T{coid}", client_order_id=coid,
                                           instrument=order.instrument, side=side, qty=1))

    def read(self) -> None:
        """Our poll reads every fill the broker made."""
        for t in self.trades:
            mine = self.book.orders.get(t.client_order_id)
            if mine is not None and t.trade_id not in self.book.fill_ids:
                mine.status, mine.filled_qty = "FILLED", 1
                self.book.fill_ids.add(t.trade_id)


def reconciler(tmp_path, account: Account, clock: Clock) -> Reconciler:
    broker = SimpleNamespace(orders=account.orders, trades=account.broker_trades,
                             positions=account.broker_positions)
    return Reconciler(account, broker, SYMBOLS, str(tmp_path), interval_s=60.0, on_start=False,
                      clock=clock)


def test_two_fills_in_flight_on_one_instrument_checks_apart_are_not_one_difference_seen_twice(
    tmp_path,
):
    """An entry's fill in flight at one check and its target's at the next: the position differs
    both times, by different fills. Never a mismatch: each fill is read before it could be one."""
    account, clock = Account(), Clock()
    r = reconciler(tmp_path, account, clock)
    account.place("E1")
    account.fill("E1", +1)
    r.request()
    r.poll()                                  # the entry's fill in flight
    assert r.pending and not r.outstanding
    account.read()
    account.place("T1")
    account.fill("T1", -1)                    # its target fills: in flight at the next check
    clock.t += CONFIRM_S
    r.poll()
    account.read()
    clock.t += CONFIRM_S
    r.poll()
    assert account.states == [] and r.as_json()["ok"] and not r.pending


def test_a_ctl_reconcile_during_the_confirmation_wait_does_not_confirm_a_fill_in_flight(tmp_path):
    """`ctl reconcile` (or the look of a `ctl resume`) asks for a fresh look, not for a shorter
    wait: a difference first seen a moment ago still waits its `confirm_s`."""
    account, clock = Account(), Clock()
    r = reconciler(tmp_path, account, clock)
    account.place("E1")
    account.fill("E1", +1)
    r.request()
    r.poll()
    clock.t += 0.2
    r.request()                               # the operator's `ctl reconcile`
    r.poll()
    assert r.permits("ACTIVE")                # the operator's `ctl resume` looks once more
    assert account.states == [] and r.pending and not r.outstanding
    account.read()
    clock.t += CONFIRM_S
    r.poll()
    assert account.states == [] and r.as_json()["ok"] and not r.pending


def halted_by_a_planted_order(tmp_path):
    """(account, clock, reconciler) once an order of ours the journal never sent has been seen by
    two checks CONFIRM_S apart."""
    account, clock = Account(), Clock()
    r = reconciler(tmp_path, account, clock)
    account.place(PLANTED, ours=False)
    r.request()
    r.poll()
    clock.t += CONFIRM_S
    r.poll()
    return account, clock, r


def test_a_difference_that_holds_unchanged_for_confirm_s_is_still_confirmed(tmp_path):
    account, clock, r = halted_by_a_planted_order(tmp_path)
    assert account.trading_state == "HALTED" and PLANTED in account.state_reason
    assert [d.client_order_id for d in r.outstanding] == [PLANTED]


def test_adopt_with_a_fill_in_flight_waits_for_it_and_adopts_only_the_account(tmp_path):
    """`ctl adopt` while one of our own fills is in flight: adopting that moment would make the
    fill an adopted offset, and once our poll reads it the position differs by it for good
    (trading HALTED again a few seconds after the operator resumed it). The adopt waits until the
    view has settled."""
    account, clock, r = halted_by_a_planted_order(tmp_path)
    assert account.trading_state == "HALTED"
    account.place("E1")
    account.fill("E1", +1)                    # in flight as the operator adopts
    r.adopt()
    account.read()
    for _ in range(3):                        # the stage polls on
        clock.t += max(RETRY_S, CONFIRM_S)
        r.poll()
    assert account.trading_state == "ACTIVE" and not r.adopt_wanted
    assert r.baseline.adopted_ids == {PLANTED} and r.baseline.position_offsets == {}
    for _ in range(3):                        # later checks find the account as adopted
        clock.t += CONFIRM_S
        r.check()
    assert account.states[-1][0] == "ACTIVE" and r.as_json()["ok"]


def test_adopt_when_a_fill_lands_while_the_broker_is_read_then_the_offset_is_the_accounts(tmp_path):
    """The broker's three books are three reads. A fill landing after the trade book was read but
    before the positions were would show in the positions alone, with nothing to tell it from the
    adopted difference on that instrument: positions are read first."""
    account, clock = Account(), Clock()
    r = reconciler(tmp_path, account, clock)
    account.by_hand = {0: 3}                  # bought by hand at the broker: a real difference
    r.request()
    r.poll()
    clock.t += CONFIRM_S
    r.poll()
    assert account.trading_state == "HALTED"
    account.place("E1")
    account.after_trades_read = lambda: account.fill("E1", +1)
    r.adopt()
    account.after_trades_read = lambda: None
    for _ in range(3):
        account.read()
        clock.t += max(RETRY_S, CONFIRM_S)
        r.poll()
    assert account.trading_state == "ACTIVE" and r.baseline.position_offsets == {0: 3}
    for _ in range(3):
        clock.t += CONFIRM_S
        r.check()
    assert account.states[-1][0] == "ACTIVE" and r.as_json()["ok"]
