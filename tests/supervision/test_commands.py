"""The supervisor's halt as a command to orders (supervision/commands.py): sent at once, sent again
until orders' record acknowledges it, never lost to an orders that died before journaling it, and
delivered with one stamp however often it is sent (issue 13). Orders' side is
tests/orders/test_stage_commands.py."""

import os



from common.bus import Pusher, Puller, make_context
from common.tradingstate import read_state, write_state
from supervision.commands import HALT_PREFIX, CommandStamps, StandingHalt
from supervision.operator import OperatorDesk
from tests.support import eventually

NS = 1_000_000_000


class Clock:
    def __init__(self):
        self.ns = 1_000 * NS

    def __call__(self):
        return self.ns


class Orders:
    """What orders does with a command, on its record: apply, acknowledge (or be down)."""

    def __init__(self, run_dir):
        self.run_dir, self.up, self.got = run_dir, True, []
        self.applied = 0

    def send(self, msg):
        if not self.up:
            return False
        self.got.append(msg)
        return True

    def apply_all(self):
        for msg in self.got:
            if msg.ts_event_ns > self.applied:
                self.applied = msg.ts_event_ns
                write_state(self.run_dir, msg.state, msg.reason, command_ns=msg.ts_event_ns)
        self.got = []

    def restart(self, journaled_state=("HALTED", "")):
        """A new orders process: its record shows the journal's state and acknowledges nothing."""
        self.applied = 0
        write_state(self.run_dir, *journaled_state, command_ns=0)


def standing(tmp_path, orders, clock):
    return StandingHalt(str(tmp_path), orders.send, CommandStamps(), clock_ns=clock,
                        resend_s=0.25)


def test_standing_halt_is_sent_at_once_and_again_until_acknowledged(tmp_path):
    clock, orders = Clock(), Orders(str(tmp_path))
    halt = standing(tmp_path, orders, clock)
    halt.order("gave up on feed: restart limit exceeded")
    assert [(m.state, m.reason) for m in orders.got] == [
        ("HALTED", f"{HALT_PREFIX}: gave up on feed: restart limit exceeded")]
    halt.poll()
    assert len(orders.got) == 1                          # not before the resend interval
    clock.ns += NS // 4
    halt.poll()
    assert [m.ts_event_ns for m in orders.got] == [halt.stamp] * 2    # the same command again
    orders.apply_all()
    for _ in range(4):
        clock.ns += NS // 4
        halt.poll()
    assert orders.got == []                              # acknowledged: nothing more


def test_standing_halt_when_orders_is_down_then_it_is_delivered_once_orders_is_back(tmp_path):
    clock, orders = Clock(), Orders(str(tmp_path))
    orders.up = False
    halt = standing(tmp_path, orders, clock)
    halt.order("gave up on feed: restart limit exceeded")
    for _ in range(3):
        clock.ns += NS // 4
        halt.poll()
    assert orders.got == [] and halt.sends == 0
    orders.up = True
    clock.ns += NS // 4
    halt.poll()
    orders.apply_all()
    assert read_state(str(tmp_path))["state"] == "HALTED"


def test_standing_halt_when_orders_restarts_before_journaling_it_then_it_is_sent_again(tmp_path):
    clock, orders = Clock(), Orders(str(tmp_path))
    halt = standing(tmp_path, orders, clock)
    orders.restart(("ACTIVE", ""))
    halt.order("gave up on feed: restart limit exceeded")
    orders.got = []                                      # SIGKILLed with the command unread
    orders.restart(("ACTIVE", ""))                       # the journal never had it
    clock.ns += NS // 4
    halt.poll()
    orders.apply_all()
    record = read_state(str(tmp_path))
    assert record["state"] == "HALTED" and record["command_ns"] == halt.stamp


def test_standing_halt_when_lifted_after_it_was_acknowledged_then_it_is_ordered_again(tmp_path):
    clock, orders = Clock(), Orders(str(tmp_path))
    halt = standing(tmp_path, orders, clock)
    halt.order("gave up on feed: restart limit exceeded")
    first = halt.stamp
    orders.apply_all()
    write_state(str(tmp_path), "ACTIVE", "reconcile adopted", command_ns=first)
    clock.ns += NS // 4
    halt.poll()
    assert [m.ts_event_ns for m in orders.got] == [halt.stamp] and halt.stamp > first
    orders.apply_all()
    assert read_state(str(tmp_path))["state"] == "HALTED"


def test_standing_halt_when_ordered_twice_for_the_same_reason_then_sent_once(tmp_path):
    clock, orders = Clock(), Orders(str(tmp_path))
    halt = standing(tmp_path, orders, clock)
    halt.order("x")
    halt.order("x")
    assert len(orders.got) == 1


def test_command_stamps_strictly_increase_when_the_clock_stands_or_goes_back():
    times = iter([50, 50, 40, 100])
    stamps = CommandStamps(lambda: next(times))
    assert [stamps.next() for _ in range(4)] == [50, 51, 52, 100]


def test_operator_resume_while_the_supervisors_halt_stands_is_refused_and_nothing_sent(tmp_path):
    sent = []
    desk = OperatorDesk(str(tmp_path), "ipc:///nonexistent", lambda: {"trading_state": "HALTED"},
                        supervisor_halt=lambda: f"{HALT_PREFIX}: gave up on feed")
    desk._push_all = lambda messages: sent.extend(messages) or True
    answer = desk.handle("resume", "")
    assert answer["ok"] is False and "gave up on feed" in answer["error"] and sent == []



def test_standing_halt_over_zeromq_reaches_the_orders_that_replaced_a_killed_one(tmp_path,
                                                                                 ipc_dir):
    """Real sockets: the first orders dies with the command unread (its socket closed); the halt
    reaches the orders bound in its place, which acknowledges it."""
    endpoint = "ipc://" + os.path.join(ipc_dir, "orders.cmd")
    zmq = make_context()
    pusher = Pusher(zmq, endpoint, "supervisor")
    first = Puller(zmq, endpoint)
    halt = StandingHalt(str(tmp_path), pusher.push, CommandStamps(), resend_s=0.05)
    second = None
    try:
        halt.order("gave up on feed")
        eventually(lambda: halt.poll() or halt.sends, timeout=5)
        first.close()                                    # killed before reading it
        write_state(str(tmp_path), "ACTIVE", "", command_ns=0)
        second = Puller(zmq, endpoint)
        got = []

        def delivered():
            halt.poll()
            while (msg := second.recv_nowait()) is not None:
                got.append(msg)
            return got

        eventually(delivered, timeout=5)
        assert {m.ts_event_ns for m in got} == {halt.stamp} and got[0].state == "HALTED"
        write_state(str(tmp_path), "HALTED", got[0].reason, command_ns=got[0].ts_event_ns)
        sends = halt.sends
        for _ in range(5):
            halt.poll()
        assert halt.sends == sends                       # acknowledged: not sent again
    finally:
        pusher.close()
        if second is not None:
            second.close()
        zmq.term()


def test_operator_resume_racing_the_supervisors_halt_is_either_refused_or_stamped_below_it(
        tmp_path):
    """The desk (ctl thread) checks that no halt stands, then takes its stamp; the supervisor's
    loop may order its halt in between. A resume that passed the check must be stamped BELOW the
    halt, so that orders, which applies commands in stamp order, ends HALTED whichever socket
    delivers first; stamped above it, the resume lifts the halt it never saw."""
    import threading

    stamps = CommandStamps()
    orders = Orders(str(tmp_path))
    halt = StandingHalt(str(tmp_path), orders.send, stamps, clock_ns=Clock(), resend_s=0.25)

    def supervisor_halt() -> str:
        seen = halt.reason
        # the supervisor's loop orders its halt right after the desk looked (a thread of its own)
        loop = threading.Thread(target=halt.order, args=("gave up on feed",))
        loop.start()
        loop.join(0.2)      # with the check and the stamp atomic, the loop waits for the desk
        supervisor_halt.loop = loop
        return seen

    sent = []
    desk = OperatorDesk(str(tmp_path), "ipc:///nonexistent", lambda: {"trading_state": "HALTED"},
                        stamps=stamps, supervisor_halt=supervisor_halt,
                        wait_s={"resume": 0.0})
    desk._push_all = lambda messages: sent.extend(messages) or True
    answer = desk.handle("resume", "")
    supervisor_halt.loop.join()
    assert halt.stamp
    if answer["ok"] is False and "refused" in answer.get("error", ""):
        assert sent == []
        return
    # orders applies in stamp order: the later stamp decides the state it ends in
    last = max(sent + orders.got, key=lambda m: m.ts_event_ns)
    assert last.state == "HALTED", [(m.state, m.ts_event_ns) for m in sent + orders.got]


def test_operator_halt_when_orders_already_shows_halted_is_answered_only_once_acknowledged(
        tmp_path):
    write_state(str(tmp_path), "HALTED", "daily loss limit reached: day P&L -5000.00 INR",
                command_ns=0)
    times = iter(range(10**18, 10**18 + 10**14, 10**9))     # each look a second later
    desk = OperatorDesk(str(tmp_path), "ipc:///nonexistent",
                        lambda: {"trading_state": read_state(str(tmp_path))["state"]},
                        clock_ns=lambda: next(times), sleep=lambda s: None)
    desk._push_all = lambda messages: True        # sent, and lost with the orders that died
    answer = desk.handle("halt", "")
    assert answer["ok"] is False                  # never acknowledged: not said to be done
