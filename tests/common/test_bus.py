"""The bus with real sockets: endpoints, PUB/SUB and PUSH/PULL across real processes, restarts."""

import multiprocessing
import os
import queue
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest
import zmq

from common import codec
from common.bus import (
    IPC_PATH_MAX,
    MAX_NAME_LEN,
    Endpoints,
    Publisher,
    Puller,
    Pusher,
    Subscriber,
    make_context,
    tcp_endpoint,
)
from common.errors import BusError
from common.messages import OrderCanceled, SignalRaised, StageReady
from common.topics import EVT_FILL, EVT_STAGE, fill_topic, order_topic, stage_topic
from tests.support import eventually

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def ctx():
    context = make_context()
    yield context
    leaked = [s for s in list(context._sockets) if not s.closed]
    context.destroy(linger=0)
    assert not leaked, f"the test left {len(leaked)} zmq socket(s) open"


@pytest.fixture
def endpoints(tmp_path):
    eps = Endpoints(str(tmp_path / "run"))
    yield eps
    eps.cleanup()
    assert not os.path.exists(eps.dir)


@pytest.fixture
def children():
    procs = []
    yield procs
    for proc in procs:
        if proc.is_alive():
            proc.kill()
        proc.join(10)


def hello(stage: str) -> StageReady:
    return StageReady(ts_event_ns=1, stage=stage, pid=os.getpid(), cores=[0])


def intent(i: int) -> SignalRaised:
    return SignalRaised(ts_event_ns=i, intent_id=f"ma_x:1:{i}", strategy="ma_x", instrument=1,
                        symbol="INFY", side=1, qty=1, order_type="MARKET", tick_seq=i,
                        ts_recv_ns=i)


def collect(receiver, enough, timeout: float = 10.0) -> list:
    """Receive until `enough(received)` holds (polling, never sleeping blindly)."""
    got: list = []

    def satisfied():
        item = receiver.recv(20)
        while item is not None:
            got.append(item)
            item = receiver.recv_nowait()
        return enough(got)

    eventually(satisfied, timeout=timeout, message=f"received {len(got)} so far")
    return got


def saw_event(index: str):
    """A `collect` condition: the batch event numbered `index` has arrived."""
    return lambda got: any(getattr(m, "client_order_id", "") == index for _, m in got)


# ---------------------------------------------------------------- child processes

def _publish_in_child(endpoint, source, next_seq, go, done, batch) -> None:
    """Say hello on the stage topic until `go`, then publish `batch` (a list of topics)."""
    ctx = make_context()
    pub = Publisher(ctx, endpoint, source, next_seq=next_seq)
    try:
        while not go.is_set():
            pub.publish(stage_topic(source), hello(source))
            go.wait(0.005)
        for i, topic in enumerate(batch):
            pub.publish(topic, OrderCanceled(ts_event_ns=i, client_order_id=str(i),
                                             broker_order_id=topic.decode()))
        done.wait(30)
    finally:
        pub.close()
        ctx.term()


def _push_in_child(endpoint, count, done) -> None:
    import time
    ctx = make_context()
    pusher = Pusher(ctx, endpoint, "signals")
    try:
        for i in range(count):
            msg = pusher.stamp(intent(i))
            while not pusher.send(msg):  # no receiver yet (a real sender relies on its journal)
                time.sleep(0.001)
        done.wait(30)
    finally:
        pusher.close()
        ctx.term()


def _pull_in_child(endpoint, seen) -> None:
    ctx = make_context()
    puller = Puller(ctx, endpoint)
    try:
        while True:
            msg = puller.recv(100)
            if msg is not None:
                seen.put(msg.seq)
    finally:
        puller.close()
        ctx.term()


def start(children, target, *args):
    proc = SPAWN.Process(target=target, args=args, daemon=True)
    children.append(proc)
    proc.start()
    return proc


# ---------------------------------------------------------------- endpoints

def test_endpoints_make_a_private_ipc_dir_inside_the_run_dir(endpoints, tmp_path):
    assert endpoints.dir == os.path.join(os.path.realpath(tmp_path / "run"), "ipc")
    assert not endpoints.fallback
    assert stat.S_IMODE(os.stat(endpoints.dir).st_mode) == 0o700
    assert endpoints.endpoint("orders.cmd") == "ipc://" + os.path.join(endpoints.dir, "orders.cmd")


def test_endpoints_repair_the_mode_of_an_existing_dir(tmp_path):
    os.makedirs(tmp_path / "run" / "ipc")
    os.chmod(tmp_path / "run" / "ipc", 0o755)
    eps = Endpoints(str(tmp_path / "run"))
    assert stat.S_IMODE(os.stat(eps.dir).st_mode) == 0o700
    eps.cleanup()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand the dir to another user")
def test_endpoints_refuse_a_dir_owned_by_another_user(tmp_path):
    os.makedirs(tmp_path / "run" / "ipc")
    os.chown(tmp_path / "run" / "ipc", 65534, 65534)
    with pytest.raises(BusError):
        Endpoints(str(tmp_path / "run"))


def test_endpoints_refuse_a_symlink_in_place_of_the_dir(tmp_path):
    os.makedirs(tmp_path / "elsewhere")
    os.makedirs(tmp_path / "run")
    os.symlink(tmp_path / "elsewhere", tmp_path / "run" / "ipc")
    with pytest.raises(BusError):
        Endpoints(str(tmp_path / "run"))


def test_endpoints_of_a_deep_run_dir_fall_back_to_a_private_tmp_dir_and_record_it(tmp_path, ctx):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    eps = Endpoints(str(deep))
    try:
        assert eps.fallback and eps.dir.startswith("/tmp/otrade-")
        assert stat.S_IMODE(os.stat(eps.dir).st_mode) == 0o700
        assert (deep / "ipc.where").read_text().strip() == eps.dir
        assert Endpoints(str(deep)).dir == eps.dir  # every stage derives the same one
        longest = eps.endpoint("n" * MAX_NAME_LEN)
        assert len(longest) - len("ipc://") <= IPC_PATH_MAX
        Puller(ctx, longest).close()
    finally:
        eps.cleanup()
    assert not os.path.exists(eps.dir) and not (deep / "ipc.where").exists()


@pytest.mark.parametrize("name", ["", "../orders", "a/b", "n" * (MAX_NAME_LEN + 1), ".hidden"])
def test_endpoint_names_outside_the_safe_alphabet_are_refused(endpoints, name):
    with pytest.raises(BusError):
        endpoints.endpoint(name)


def test_cleanup_removes_socket_files_and_the_dir(tmp_path, ctx):
    eps = Endpoints(str(tmp_path / "run"))
    Publisher(ctx, eps.endpoint("orders.pub"), "orders").close()
    Puller(ctx, eps.endpoint("orders.cmd")).close()
    eps.cleanup()
    assert not os.path.exists(eps.dir)
    eps.cleanup()  # idempotent


def test_tcp_endpoint_passes_the_host_through():
    assert tcp_endpoint("127.0.0.1", 5555) == "tcp://127.0.0.1:5555"
    assert tcp_endpoint("::1", 5555) == "tcp://[::1]:5555"
    with pytest.raises(BusError):
        tcp_endpoint("127.0.0.1", 70000)


# ---------------------------------------------------------------- binding

def test_binding_over_a_stale_socket_file_from_a_dead_process_works(endpoints, ctx):
    path = endpoints.path("orders.cmd")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens: what a SIGKILLed binder leaves
    with Puller(ctx, endpoints.endpoint("orders.cmd")) as puller, \
            Pusher(ctx, endpoints.endpoint("orders.cmd"), "signals") as pusher:
        eventually(lambda: pusher.push(intent(1)))
        assert puller.recv(5000).intent_id == "ma_x:1:1"


def test_binding_an_endpoint_a_live_socket_serves_is_refused(endpoints, ctx):
    with Puller(ctx, endpoints.endpoint("orders.cmd")):
        with pytest.raises(BusError):
            Puller(ctx, endpoints.endpoint("orders.cmd"))
        with pytest.raises(BusError):
            Publisher(ctx, endpoints.endpoint("orders.cmd"), "orders")


def test_rebinding_an_endpoint_just_closed_in_this_process_works(endpoints, ctx):
    for _ in range(3):
        Publisher(ctx, endpoints.endpoint("orders.pub"), "orders").close()


def test_binding_over_a_regular_file_is_refused(endpoints, ctx):
    with open(endpoints.path("orders.cmd"), "w") as f:
        f.write("not a socket")
    with pytest.raises(BusError):
        Puller(ctx, endpoints.endpoint("orders.cmd"))


# ---------------------------------------------------------------- PUB/SUB across processes

def test_subscriber_gets_only_its_topic_prefixes_in_publish_order(endpoints, ctx, children):
    endpoint = endpoints.endpoint("orders.pub")
    batch = [order_topic("alpha"), order_topic("beta"), fill_topic("INFY"), fill_topic("TCS")] * 50
    go, done = SPAWN.Event(), SPAWN.Event()
    start(children, _publish_in_child, endpoint, "orders", 1, go, done, batch)
    with Subscriber(ctx, endpoint, [EVT_STAGE, order_topic("alpha"), EVT_FILL]) as sub:
        collect(sub, lambda got: got)  # the first hello: subscriptions have reached the publisher
        go.set()
        got = collect(sub, saw_event("199"))
        done.set()
    events = [(topic, m) for topic, m in got if not topic.startswith(EVT_STAGE)]
    expected = [(i, t) for i, t in enumerate(batch) if t != order_topic("beta")]
    assert [(int(m.client_order_id), topic) for topic, m in events] == expected
    assert all(m.broker_order_id == topic.decode() for topic, m in events)


def test_publisher_stamps_its_source_and_consecutive_seqs_from_its_start_value(
        endpoints, ctx, children):
    endpoint = endpoints.endpoint("orders.pub")
    go, done = SPAWN.Event(), SPAWN.Event()
    start(children, _publish_in_child, endpoint, "orders", 1_000, go, done, [fill_topic("X")] * 20)
    with Subscriber(ctx, endpoint, [b""]) as sub:
        collect(sub, lambda got: got)
        go.set()
        got = collect(sub, saw_event("19"))
        done.set()
    seqs = [m.seq for _, m in got]
    assert seqs[0] >= 1_000
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert {m.source for _, m in got} == {"orders"}


def test_subscriber_reconnects_by_itself_to_a_killed_and_restarted_publisher(
        endpoints, ctx, children):
    endpoint = endpoints.endpoint("orders.pub")
    never, done = SPAWN.Event(), SPAWN.Event()
    first = start(children, _publish_in_child, endpoint, "first", 1, never, done, [])
    with Subscriber(ctx, endpoint, [EVT_STAGE]) as sub:
        collect(sub, lambda got: any(m.source == "first" for _, m in got))
        os.kill(first.pid, signal.SIGKILL)
        first.join(10)
        start(children, _publish_in_child, endpoint, "second", 1, never, done, [])
        collect(sub, lambda got: any(m.source == "second" for _, m in got))


def test_subscriber_counts_and_drops_malformed_messages(endpoints, ctx):
    endpoint = endpoints.endpoint("raw.pub")
    raw = ctx.socket(zmq.XPUB)
    raw.bind(endpoint)
    try:
        with Subscriber(ctx, endpoint, [b"evt."]) as sub:
            assert raw.poll(5000)  # the subscription arrived: nothing sent now is lost
            raw.recv()
            raw.send_multipart([b"evt.x", b"\xc1 not msgpack"])
            raw.send_multipart([b"evt.x"])
            raw.send_multipart([b"evt.x", codec.encode(hello("a")), b"extra"])
            raw.send_multipart([b"evt.x", codec.encode(hello("ok"))])
            topic, msg = sub.recv(5000)
            assert (topic, msg.stage) == (b"evt.x", "ok")
            assert sub.malformed == 3 and sub.received == 1
    finally:
        raw.close()


def test_publisher_counts_drops_at_the_high_water_mark_instead_of_blocking(endpoints, ctx):
    endpoint = endpoints.endpoint("orders.pub")
    with Publisher(ctx, endpoint, "orders", sndhwm=10) as pub, \
            Subscriber(ctx, endpoint, [b""], rcvhwm=10) as sub:
        def connected():
            pub.publish(b"evt.stage.x", hello("x"))
            return sub.recv(10)
        eventually(connected)
        sent_before = pub.sent
        for _ in range(20_000):  # nobody reads: queues fill up
            pub.publish(b"evt.stage.x", hello("x"))
        assert pub.dropped > 0
        assert pub.sent - sent_before + pub.dropped == 20_000


# ---------------------------------------------------------------- PUSH/PULL

def test_pushed_messages_from_another_process_arrive_in_order(endpoints, ctx, children):
    endpoint = endpoints.endpoint("orders.cmd")
    done = SPAWN.Event()
    with Puller(ctx, endpoint) as puller:
        start(children, _push_in_child, endpoint, 500, done)
        got = collect(puller, lambda got: len(got) >= 500)
        done.set()
    assert [m.seq for m in got] == list(range(1, 501))
    assert [m.tick_seq for m in got] == list(range(500))


def test_pusher_reports_would_block_when_no_receiver_is_bound(endpoints, ctx):
    with Pusher(ctx, endpoints.endpoint("orders.cmd"), "signals") as pusher:
        assert pusher.push(intent(1)) is False
        assert pusher.would_block == 1 and pusher.sent == 0


def test_pusher_reaches_a_killed_and_restarted_puller(endpoints, ctx, children):
    endpoint = endpoints.endpoint("orders.cmd")
    # One queue per child: a process SIGKILLed while holding a queue's lock breaks that queue.
    seen_by_first, seen_by_second = SPAWN.Queue(), SPAWN.Queue()
    first = start(children, _pull_in_child, endpoint, seen_by_first)
    with Pusher(ctx, endpoint, "signals") as pusher:
        eventually(lambda: pusher.push(intent(1)))
        seen_by_first.get(timeout=10)
        os.kill(first.pid, signal.SIGKILL)
        first.join(10)
        start(children, _pull_in_child, endpoint, seen_by_second)

        def delivered():
            pusher.push(intent(2))  # may vanish into the dead peer's pipe until zmq notices
            try:
                return seen_by_second.get(timeout=0.05)
            except queue.Empty:
                return None

        eventually(delivered)


def test_puller_counts_and_drops_malformed_messages(endpoints, ctx):
    endpoint = endpoints.endpoint("orders.cmd")
    with Puller(ctx, endpoint) as puller:
        raw = ctx.socket(zmq.PUSH)
        raw.connect(endpoint)
        try:
            raw.send(b"\xc1")
            raw.send_multipart([b"two", b"frames"])
            raw.send(codec.encode(intent(7)))
            assert puller.recv(5000).tick_seq == 7
            assert puller.malformed == 2
        finally:
            raw.close()


def test_close_with_undelivered_messages_does_not_hang_the_context(endpoints):
    context = make_context()
    pusher = Pusher(context, endpoints.endpoint("nobody.cmd"), "signals", immediate=False)
    assert all(pusher.push(intent(i)) for i in range(100))  # queued for a peer that never comes
    pusher.close()
    terminator = threading.Thread(target=context.term, daemon=True)
    terminator.start()
    terminator.join(10)
    assert not terminator.is_alive(), "LINGER did not bound the close"


# ---------------------------------------------------------------- stamping and arguments

def test_stamp_returns_a_copy_with_source_and_the_next_seq(endpoints, ctx):
    with Pusher(ctx, endpoints.endpoint("orders.cmd"), "signals", next_seq=41) as pusher:
        original = intent(1)
        first, second = pusher.stamp(original), pusher.stamp(original)
    assert (first.source, first.seq, second.seq) == ("signals", 41, 42)
    assert (original.source, original.seq) == ("", 0)
    assert pusher.next_seq == 43


def test_a_sequence_must_start_at_one_or_later(endpoints, ctx):
    with pytest.raises(BusError):
        Pusher(ctx, endpoints.endpoint("orders.cmd"), "signals", next_seq=0)


def test_a_subscriber_needs_a_topic(endpoints, ctx):
    with pytest.raises(BusError):
        Subscriber(ctx, endpoints.endpoint("orders.pub"), [])


def _report_zmq_thread_affinity(io_cores, out) -> None:
    """In a fresh interpreter pinned to one core: make a context and a socket, report its threads'
    masks."""
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    before = set(os.listdir("/proc/self/task"))
    ctx = make_context(io_cores=io_cores)
    sock = ctx.socket(zmq.PUSH)
    new = sorted(set(os.listdir("/proc/self/task")) - before)
    # libzmq applies the affinity from inside each new thread once it runs: give them that moment.
    deadline = time.monotonic() + 2.0
    while True:
        masks = [sorted(os.sched_getaffinity(int(t))) for t in new]
        if not io_cores or all(m == sorted(io_cores) for m in masks) or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    out.put(masks)
    sock.close()
    ctx.term()


def _affinity_of_new_threads(io_cores) -> list[set]:
    # A fresh interpreter: like a stage process, it has made no zmq context before this one.
    mp = multiprocessing.get_context("spawn")
    out = mp.Queue()
    proc = mp.Process(target=_report_zmq_thread_affinity, args=(io_cores, out))
    proc.start()
    got = out.get(timeout=30)
    proc.join(10)
    return [set(a) for a in got]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_make_context_pins_its_io_threads_to_io_cores_instead_of_the_process_cores():
    own = max(os.sched_getaffinity(0))
    other = min(os.sched_getaffinity(0))
    assert _affinity_of_new_threads(()) and all(a == {own} for a in _affinity_of_new_threads(()))
    pinned = _affinity_of_new_threads((other,))
    assert pinned and all(a == {other} for a in pinned)


# Run in a fresh interpreter: in the suite's process other libraries start threads of their own at
# any moment, and a thread that is not zmq's would be taken for one.
_IO_THREADS_CHILD = """
import os, sys, time, zmq
from common.bus import make_context
io_cores = tuple(int(c) for c in sys.argv[1:])
main = set(os.listdir("/proc/self/task"))
context = make_context(io_cores=io_cores)
sock = context.socket(zmq.PUB)         # zmq's threads (its reaper, its I/O thread) start here

def threads():
    return [(os.sched_getscheduler(int(t)), sorted(os.sched_getaffinity(int(t))))
            for t in sorted(set(os.listdir("/proc/self/task")) - main)]


def as_expected(now):
    return (len(now) >= 2 and all(policy == os.SCHED_BATCH for policy, _ in now)
            and (not io_cores or any(cores == sorted(io_cores) for _, cores in now)))


# Each zmq thread applies its policy and cores itself, once it runs (on a busy machine, a while
# after it exists): read them when they are as expected, or as they are after 5 s.
deadline = time.monotonic() + 5
while not as_expected(threads()) and time.monotonic() < deadline:
    time.sleep(0.01)
for policy, cores in threads():
    print(policy, ",".join(map(str, cores)))
print("caller", os.sched_getscheduler(0), ",".join(map(str, sorted(os.sched_getaffinity(0)))))
sock.close(0)
context.term()
"""


def _zmq_threads(io_cores=()) -> tuple[list[tuple[int, set]], tuple[int, set]]:
    """(zmq's threads, the calling thread): each (scheduling policy, allowed cores)."""
    out = subprocess.run([sys.executable, "-c", _IO_THREADS_CHILD, *map(str, io_cores)],
                         capture_output=True, text=True, timeout=60, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    rows = [line.split() for line in out.stdout.splitlines()]

    def parse(policy, cores):
        return int(policy), {int(c) for c in cores.split(",")}

    threads = [parse(*r) for r in rows if r[0] != "caller"]
    caller = next(parse(*r[1:]) for r in rows if r[0] == "caller")
    return threads, caller


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_a_contexts_io_thread_runs_without_wakeup_preemption_and_the_stage_keeps_its_own():
    threads, caller = _zmq_threads()
    assert len(threads) >= 2 and all(policy == os.SCHED_BATCH for policy, _ in threads), threads
    assert caller[0] == os.SCHED_OTHER            # the stage's own thread is untouched


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two usable cores")
def test_io_cores_pin_the_io_threads_away_from_the_process():
    core = min(os.sched_getaffinity(0))
    threads, caller = _zmq_threads((core,))
    assert any(cores == {core} for _, cores in threads), threads     # the I/O thread
    assert caller[1] != {core}
