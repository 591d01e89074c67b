"""Exits get the order-rate throttle's room before entries do, whatever asks for them in a settle.

Found: in a settle the in-doubt lookups' re-sends ran before the brackets' plan, so an entry found
never received took the last placement the throttle allowed in that second, and the stop of a
position that had just filled waited for the next one — a position without its stop, for an entry
that adds to risk. Within the plan too, an older bracket's missing entry slice went before a newer
bracket's stop. Now the settle acts on protective orders first (exit legs, their re-sends, cancels),
then on entries (the lookups' absent ones, then missing slices), and while an exit waits for room no
entry is placed in that settle (orders/gateway.py `exit_waits`).
"""

from common.messages import OrderSubmitting
from tests.orders.risk_support import limits_of
from tests.orders.stubs import FlakyBroker, Tape, instruments, intent, of_type
from tests.orders.test_in_doubt_entry_at_a_halt import lost

S = 1_000_000_000


def placed(desk, role: str, at_ns: int | None = None) -> list:
    return [m for m in of_type(desk.events, OrderSubmitting)
            if m.role == role and (at_ns is None or m.ts_event_ns == at_ns)]


def test_a_stop_due_with_an_entry_resend_gets_the_last_room_of_the_second(make_desk):
    # Two placements a second. A LIMIT entry rests at 99; half a second later a MARKET entry is
    # lost (never received); a third entry 0.7 s after that leaves room for one placement when the
    # lost entry's lookup is due and, on that same tick, the LIMIT entry fills.
    limits = limits_of(enforce_session=False, leg_prices="signal", rate_per_sec=2)
    failures = lost("never received", 2)
    desk = make_desk(limits=limits, wrap=lambda paper: FlakyBroker(paper, failures))
    tape = Tape()
    t0 = tape.next_ns
    for at_ns, new in ((t0, intent(1, qty=5, order_type="LIMIT", limit_price=99.0, stop_loss=97.0,
                                   target=103.0, strategy="a")),
                       (t0 + S // 2, intent(2, qty=1, strategy="b")),
                       (t0 + 12 * S // 10, intent(3, qty=1, order_type="LIMIT", limit_price=96.0,
                                                  strategy="c"))):
        seq = tape.add(0, 100.0, at_ns=at_ns)
        desk.run(tape, [new], start_seq=seq)
    assert len(placed(desk, "ENTRY")) == 3
    fill_ns = t0 + 3 * S // 2
    desk.run(tape, start_seq=tape.add(0, 98.9, at_ns=fill_ns))
    assert len(placed(desk, "STOP", fill_ns)) == 1, "the stop waited behind an entry's re-send"
    assert placed(desk, "ENTRY", fill_ns) == []
    start = tape.seq + 1
    for k in range(1, 30):                                 # then everything goes, as room allows
        tape.add(0, 98.9, at_ns=fill_ns + k * S // 4)
    desk.run(tape, start_seq=start)
    at_broker = [o.client_order_id for o in desk.paper.orders()]
    assert len(at_broker) == len(set(at_broker)) == 5     # three entries, the stop, the target
    assert not desk.engine.book.unresolved()


def test_no_entry_is_placed_while_a_stop_waits_for_room_on_another_exchange(make_desk):
    # Defaults: 10 placements a second for the account, 8 on each exchange. Eight NFO entries fill
    # together: their eight stops must wait for NFO's second to pass. An NSE entry approved on that
    # tick has room on NSE, but the two account places it could take are the ones the stops will
    # need when NFO's second frees: it waits until the stops have gone.
    rows = instruments(2)
    rows["exchange"][1] = b"NFO"
    desk = make_desk(rows=rows)
    tape = Tape()
    t0 = tape.next_ns
    tape.add(0, 100.0, at_ns=t0 - S // 10)
    seq = tape.add(1, 100.0, at_ns=t0)
    desk.run(tape, [intent(seq, instrument=1, qty=1, stop_loss=97.0, strategy=f"s{k}")
                    for k in range(8)])
    seq = tape.add(1, 100.0, at_ns=t0 + S // 5)           # the NFO entries fill
    desk.run(tape, [intent(seq, instrument=0, qty=1, strategy="n")], start_seq=seq)
    assert placed(desk, "STOP") == []                      # NFO's second is full
    assert placed(desk, "ENTRY", t0 + S // 5) == [], "an entry went while the stops waited"
    start = tape.seq + 1
    for k in range(1, 20):
        tape.add(1, 100.0, at_ns=t0 + S // 5 + k * S // 10)
    desk.run(tape, start_seq=start)
    stops = placed(desk, "STOP")
    (late,) = [m for m in placed(desk, "ENTRY") if m.instrument == 0]
    assert len(stops) == 8 and late.ts_event_ns >= max(m.ts_event_ns for m in stops)
    assert not desk.engine.book.unresolved()
