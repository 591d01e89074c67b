"""Ring benchmark: writer->reader hop latency, sustained throughput, the same ticks over
multiprocessing.Queue and pyzmq ipc:// PUSH/PULL, and a burst into a live ring.

How it runs on a small machine (2 vCPUs here), and why:
- The writer process is pinned to one core and the reader to another (psutil cpu_affinity); the
  parent only waits on pipes. Children come from a forkserver with this module preloaded, as stages
  do.
- Only one process busy-spins at a time: two spinners sharing a core take turns by timeslice and
  both collapse. So with a busy-spinning ring reader the writer paces with short sleeps (timer slack
  cut to 1 µs, sleep length corrected for the kernel's measured overshoot). With a blocking ring
  reader (doorbell) nothing else spins, and the writer paces by spinning on its own core, which
  gives exact intervals. The Queue and zmq writers sleep too although their readers block: a
  spinning writer would starve its own helper thread (the Queue feeder needs the GIL, zmq's I/O
  thread needs the pinned core) and the benchmark would measure that. About one tick every 20 µs,
  and a writer that falls behind never catches up in a burst: the numbers are hop latency, not
  queueing.
- Every writer keeps its transport open until the parent has the reader's report (closing a zmq PUSH
  socket right after the last send dropped the tail even with a linger).
- Latency = reader's perf_counter_ns() when recv/read_batch returns - writer's perf_counter_ns() put
  in ts_recv_ns just before publish/send. Both are CLOCK_MONOTONIC, which is system-wide on Linux.
  The first WARMUP ticks are dropped.
- Throughput is unpaced: the ring in lossless mode with batched writes (so nothing is dropped and
  delivered == written), the peers with one message per tick, and again with BATCH ticks per
  message.
- Burst: 1,000,000 ticks/s held for 50 ms into a live 65,536-slot ring with a blocking reader.
"""

import ctypes
import multiprocessing
import os
import queue
import shutil
import tempfile
import time

import numpy as np
import psutil
import zmq

from benchmarks.stats import format_latency, ratio, summarize
from common.dtypes import TICK_DTYPE
from common.ringbuffer import RingReader, RingWriter, ShmRing
from common.shm import segment_name
from common.waits import BlockingWait, BusySpinWait

WARMUP = 2_000
INTERVAL_NS = 20_000
BATCH = 1024
READER = "bench"
CHILD_TIMEOUT_S = 120.0
WAITS = {"busy": BusySpinWait, "blocking": BlockingWait}
END_FLAG = 0xFFFF  # flags of the last tick a paced writer sends: "no more", whatever the transport


class SleepPacer:
    """One tick per interval by sleeping, for when the other process is the one spinning."""

    def __init__(self, interval_ns: int):
        try:
            ctypes.CDLL(None).prctl(29, 1000, 0, 0, 0)  # PR_SET_TIMERSLACK: 1 µs instead of 50 µs
        except (OSError, AttributeError):
            pass
        samples = []
        for _ in range(200):
            start = time.perf_counter_ns()
            time.sleep(1e-6)
            samples.append(time.perf_counter_ns() - start - 1_000)
        self.overshoot_ns = int(np.median(samples))
        self.interval_ns = interval_ns
        self.next_ns = time.perf_counter_ns()

    def wait(self) -> None:
        self.next_ns += self.interval_ns
        now = time.perf_counter_ns()
        if now >= self.next_ns:
            self.next_ns = now  # behind schedule: go now, never burst to catch up
        elif self.next_ns - now > self.overshoot_ns:
            time.sleep((self.next_ns - now - self.overshoot_ns) / 1e9)


class SpinPacer:
    """One tick per interval by spinning on the clock (the reader blocks, so nothing else spins)."""

    def __init__(self, interval_ns: int):
        self.interval_ns = interval_ns
        self.next_ns = time.perf_counter_ns()

    def wait(self) -> None:
        self.next_ns += self.interval_ns
        now = time.perf_counter_ns()
        if now >= self.next_ns:
            self.next_ns = now
            return
        while time.perf_counter_ns() < self.next_ns:
            pass


class RingTx:
    def __init__(self, handle):
        self.ring = ShmRing.attach(handle)
        self.writer = RingWriter(self.ring)
        self.writer.write_batch(np.zeros(0, TICK_DTYPE))  # load the compiled kernel before timing

    def send(self, records) -> None:
        done = self.writer.write_batch(records, timeout_s=1.0)
        while done < len(records):  # lossless and full: the reader is behind
            done += self.writer.write_batch(records[done:], timeout_s=1.0)

    def close(self) -> None:
        self.writer.close()
        self.ring.close()


class RingRx:
    def __init__(self, handle, wait: str):
        self.ring = ShmRing.attach(handle)
        self.reader = RingReader(self.ring, READER, wait=WAITS[wait]())
        self.reader.read_batch(np.zeros(1, TICK_DTYPE))  # load the compiled kernels before timing
        self.reader.wait(0.0)
        if self.reader.begin_sleep():
            self.reader.end_sleep()

    @property
    def lost(self) -> int:
        return self.reader.lost

    def recv(self, out) -> int:
        if not self.reader.wait(0.1):
            return 0
        n = self.reader.read_batch(out)
        self.reader.commit()
        return n

    def close(self) -> None:
        self.reader.close()
        self.ring.close()


class QueueTx:
    def __init__(self, q):
        self.q = q

    def send(self, records) -> None:
        self.q.put(records.tobytes())

    def close(self) -> None:
        self.q.close()
        self.q.join_thread()


class QueueRx:
    lost = 0

    def __init__(self, q):
        self.q = q

    def recv(self, out) -> int:
        try:
            payload = self.q.get(timeout=0.1)
        except queue.Empty:
            return 0
        records = np.frombuffer(payload, TICK_DTYPE)
        out[:len(records)] = records
        return len(records)

    def close(self) -> None:
        pass


class ZmqTx:
    def __init__(self, endpoint: str):
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.PUSH)
        self.socket.connect(endpoint)

    def send(self, records) -> None:
        self.socket.send(records.tobytes())

    def close(self) -> None:
        self.socket.close(linger=10_000)  # deliver what is queued, but never hang the run
        self.context.term()


class ZmqRx:
    lost = 0

    def __init__(self, endpoint: str):
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.PULL)
        self.socket.setsockopt(zmq.RCVTIMEO, 100)
        self.socket.bind(endpoint)

    def recv(self, out) -> int:
        try:
            payload = self.socket.recv()
        except zmq.Again:
            return 0
        records = np.frombuffer(payload, TICK_DTYPE)
        out[:len(records)] = records
        return len(records)

    def close(self) -> None:
        self.socket.close(linger=0)
        self.context.term()


def _open(spec, side: str):
    kind, *args = spec
    if kind == "ring":
        return RingTx(args[0]) if side == "tx" else RingRx(*args)
    if kind == "queue":
        return QueueTx(*args) if side == "tx" else QueueRx(*args)
    return ZmqTx(*args) if side == "tx" else ZmqRx(*args)


def _pin(core: int) -> None:
    psutil.Process().cpu_affinity([core])


def paced_writer(spec, core, count, pacing, budget_s, conn):
    """Send up to `count` single ticks, one per INTERVAL_NS, each stamped just before it goes, for
    at most `budget_s` (a loaded machine must not stretch a quick run); then an END_FLAG tick."""
    _pin(core)
    tx = _open(spec, "tx")
    one = np.zeros(1, TICK_DTYPE)
    stamp = one["ts_recv_ns"]
    pacer = SleepPacer(INTERVAL_NS) if pacing == "sleep" else SpinPacer(INTERVAL_NS)
    conn.send("ready")
    conn.recv()
    started = time.perf_counter_ns()
    stop_at = started + int(budget_s * 1e9)
    sent = 0
    while sent < count and time.perf_counter_ns() < stop_at:
        pacer.wait()
        stamp[0] = time.perf_counter_ns()
        tx.send(one)
        sent += 1
    conn.send((time.perf_counter_ns() - started) / max(sent, 1) / 1e3)
    one["flags"] = END_FLAG
    tx.send(one)
    conn.recv()  # keep the transport open until the reader has everything (zmq drops on close)
    tx.close()


def unpaced_writer(spec, core, count, batch, conn):
    """Send `count` ticks as fast as the transport takes them, `batch` per send; report the start
    time."""
    _pin(core)
    tx = _open(spec, "tx")
    records = np.zeros(batch, TICK_DTYPE)
    conn.send("ready")
    conn.recv()
    started = time.perf_counter_ns()
    sent = 0
    while sent < count:
        tx.send(records if count - sent >= batch else records[:count - sent])
        sent += batch
    conn.send(started)
    conn.recv()
    tx.close()


def burst_writer(spec, core, count, rate_per_s, conn):
    """Publish `count` ticks at `rate_per_s`, writing whatever is due each time round
    (spin-paced)."""
    _pin(core)
    tx = _open(spec, "tx")
    records = np.zeros(512, TICK_DTYPE)
    conn.send("ready")
    conn.recv()
    started = time.perf_counter_ns()
    sent = 0
    while sent < count:
        due = min(count, (time.perf_counter_ns() - started) * rate_per_s // 1_000_000_000 + 1)
        if due > sent:
            tx.send(records[:min(due - sent, len(records))])
            sent += min(due - sent, len(records))
    conn.send(time.perf_counter_ns() - started)
    conn.recv()
    tx.close()


def latency_reader(spec, core, count, conn):
    """Receive ticks until the END_FLAG one; report now - ts_recv_ns for each (ns), and
    preemptions."""
    _pin(core)
    rx = _open(spec, "rx")
    out = np.zeros(4096, TICK_DTYPE)
    stamps, flags = out["ts_recv_ns"], out["flags"]
    latencies = np.zeros(count, np.int64)
    got, ended = 0, False
    conn.send("ready")
    switches = psutil.Process().num_ctx_switches().involuntary
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while not ended and time.monotonic() < deadline:
        n = rx.recv(out)
        now = time.perf_counter_ns()
        if n and flags[n - 1] == END_FLAG:
            n, ended = n - 1, True
        n = min(n, count - got)
        latencies[got:got + n] = now - stamps[:n]
        got += n
    preempted = psutil.Process().num_ctx_switches().involuntary - switches
    conn.send((latencies[:got], preempted))
    rx.close()


def counting_reader(spec, core, count, conn):
    """Receive until `count` ticks are accounted for (received or lost); report (got, lost,
    t_last_ns)."""
    _pin(core)
    rx = _open(spec, "rx")
    out = np.zeros(4096, TICK_DTYPE)
    got, last_ns = 0, 0
    conn.send("ready")
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while got + rx.lost < count and time.monotonic() < deadline:
        n = rx.recv(out)
        if n:
            got, last_ns = got + n, time.perf_counter_ns()
    conn.send((got, rx.lost, last_ns))
    rx.close()


def _context():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["benchmarks.ring"])
    return context


def _cores() -> tuple[int, int]:
    usable = sorted(psutil.Process().cpu_affinity())
    return usable[0], usable[-1]


def _receive(conn, processes):
    deadline = time.monotonic() + CHILD_TIMEOUT_S + 30
    while not conn.poll(0.5):
        if time.monotonic() > deadline or not all(p.is_alive() for p in processes):
            raise RuntimeError("a benchmark child died or hung; see its traceback above")
    return conn.recv()


def _pair(context, writer, writer_args, reader, reader_args):
    """Start reader and writer, let the writer go once both are ready; return both reports."""
    writer_conn, writer_child = context.Pipe()
    reader_conn, reader_child = context.Pipe()
    processes = [context.Process(target=reader, args=(*reader_args, reader_child), daemon=True),
                 context.Process(target=writer, args=(*writer_args, writer_child), daemon=True)]
    for process in processes:
        process.start()
    try:
        assert (
            _receive(reader_conn, processes) == "ready"
            and _receive(writer_conn, processes) == "ready"
        )
        writer_conn.send("go")
        written = _receive(writer_conn, processes)
        read = _receive(reader_conn, processes)
        writer_conn.send("done")
        return written, read
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.kill()
                process.join()


class _Transports:
    """Creates each scenario's ring / queue / endpoint in the parent, as the supervisor would, and
    removes it afterwards."""

    def __init__(self, context):
        self.context = context
        self.run_id = f"bench{os.getpid()}"
        self.count = 0
        self.ipc_dir = tempfile.mkdtemp(prefix="otrade-bench-")  # mkdtemp makes it 0700

    def ring(self, wait: str, capacity: int = 65_536, lossless: bool = False):
        self.count += 1
        ring = ShmRing.create(segment_name(self.run_id, f"ring{self.count}"), capacity, TICK_DTYPE,
                              readers=[(READER, lossless)], lossless=lossless)
        return ring, ("ring", ring.handle(), wait)

    def queue(self):
        return ("queue", self.context.Queue())

    def zmq(self):
        self.count += 1
        return ("zmq", f"ipc://{self.ipc_dir}/bench{self.count}.sock")

    def close(self):
        shutil.rmtree(self.ipc_dir, ignore_errors=True)


def _latency(context, spec, cores, count, pacing, budget_s) -> dict:
    writer_args = (spec, cores[0], count + WARMUP, pacing, budget_s)
    interval_us, (samples, preempted) = _pair(context, paced_writer, writer_args,
                                              latency_reader, (spec, cores[1], count + WARMUP))
    summary = summarize(samples[WARMUP:])
    # Involuntary context switches of the reader: each is the scheduler taking its core away
    # (another process wanted it), the usual cause of a multi-millisecond tail on a shared machine.
    summary.update(interval_us=round(interval_us, 2), reader_preempted=preempted)
    return summary


def _throughput(context, spec, cores, count, batch) -> dict:
    started, (got, lost, last_ns) = _pair(context, unpaced_writer, (spec, cores[0], count, batch),
                                          counting_reader, (spec, cores[1], count))
    seconds = (last_ns - started) / 1e9
    return {"ticks": got, "lost": lost, "batch": batch, "seconds": round(seconds, 3),
            "ticks_per_s": round(got / seconds) if seconds > 0 else None}


def _ring_scenario(transports, wait, run, **ring_args):
    ring, spec = transports.ring(wait, **ring_args)
    try:
        return run(spec)
    finally:
        ring.close()
        ring.unlink()


def run(quick: bool = False) -> dict:
    """Measure everything; print as it goes; return the numbers (see the module docstring)."""
    context, cores = _context(), _cores()
    counts = {
        "hops": 100_000 if quick else 300_000,
        "ring_ticks": 2_000_000 if quick else 10_000_000,
        "peer_ticks_per_tick": 100_000 if quick else 1_000_000,
    }
    print(
        f"writer on core {cores[0]}, reader on core {cores[1]}; {counts['hops']:,} paced ticks per "
        f"latency run, one every {INTERVAL_NS / 1e3:.0f} µs (+{WARMUP:,} warm-up)"
    )
    transports = _Transports(context)
    try:
        latency = _measure_latency(
            context, transports, cores, counts["hops"], 4.0 if quick else 30.0
        )
        throughput = _measure_throughput(context, transports, cores, counts)
        burst = _ring_scenario(transports, "blocking", lambda s: _burst(context, s, cores))
        print(f"burst {burst['ticks']:,} ticks at {burst['achieved_rate_per_s']:,} ticks/s into "
              f"{burst['capacity']:,} slots, live blocking reader: lost {burst['lost']}")
    finally:
        transports.close()
    ratios = _ratios(latency, throughput)
    for name, value in ratios.items():
        print(f"ratio {name:<44} {value}")
    setup = {
        "writer_core": cores[0],
        "reader_core": cores[1],
        "interval_ns": INTERVAL_NS,
        "warmup": WARMUP,
        "batch": BATCH,
        **counts,
        "pacing": "writer sleeps, except with the ring's blocking reader, where it spins",
    }
    return {
        "setup": setup,
        "latency": latency,
        "throughput": throughput,
        "ratios": ratios,
        "burst": burst,
    }


def _measure_latency(context, transports, cores, hops, budget_s) -> dict:
    def ring(wait, pacing):
        return _ring_scenario(
            transports, wait, lambda spec: _latency(context, spec, cores, hops, pacing, budget_s)
        )

    latency = {
        "ring_busy_spin": ring("busy", "sleep"),
        "ring_blocking": ring("blocking", "spin"),
        # The peers' writers sleep: a spinning writer would starve its own Queue feeder thread
        # (of the GIL) and zmq I/O thread (of the pinned core), measuring that instead of the hop.
        "mp_queue": _latency(context, transports.queue(), cores, hops, "sleep", budget_s),
        "zmq_ipc": _latency(context, transports.zmq(), cores, hops, "sleep", budget_s),
    }
    for name, summary in latency.items():
        print(
            format_latency(f"hop latency {name}", summary)
            + f"  interval {summary['interval_us']} µs, reader preempted "
                f"{summary['reader_preempted']}x"
        )
    return latency


def _measure_throughput(context, transports, cores, counts) -> dict:
    ring_ticks, per_tick = counts["ring_ticks"], counts["peer_ticks_per_tick"]
    throughput = {
        "ring": _ring_scenario(
            transports,
            "blocking",
            lossless=True,
            run=lambda spec: _throughput(context, spec, cores, ring_ticks, BATCH),
        ),
        "mp_queue_per_tick": _throughput(context, transports.queue(), cores, per_tick, 1),
        "zmq_ipc_per_tick": _throughput(context, transports.zmq(), cores, per_tick, 1),
        "mp_queue_batched": _throughput(context, transports.queue(), cores, ring_ticks, BATCH),
        "zmq_ipc_batched": _throughput(context, transports.zmq(), cores, ring_ticks, BATCH),
    }
    for name, result in throughput.items():
        print(
            f"throughput {name:<28} {result['ticks_per_s'] or 0:>14,} ticks/s  "
            f"({result['ticks']:,} ticks, "
            f"batch {result['batch']}, lost {result['lost']})"
        )
    return throughput


def _burst(context, spec, cores, rate_per_s=1_000_000, seconds=0.05) -> dict:
    count = int(rate_per_s * seconds)
    elapsed_ns, (got, lost, _) = _pair(context, burst_writer, (spec, cores[0], count, rate_per_s),
                                       counting_reader, (spec, cores[1], count))
    return {
        "ticks": count,
        "capacity": 65_536,
        "received": got,
        "lost": lost,
        "target_rate_per_s": rate_per_s,
        "achieved_rate_per_s": round(count / (elapsed_ns / 1e9)),
    }


def _ratios(latency: dict, throughput: dict) -> dict:
    """Throughput ring ÷ peer (> 1: the ring carries more); latency ring ÷ peer (< 1: the ring is
    faster)."""
    ring_rate = throughput["ring"]["ticks_per_s"] or 0
    ratios = {
        f"throughput ring / {peer}": ratio(ring_rate, throughput[peer]["ticks_per_s"] or 0)
        for peer in ("mp_queue_per_tick", "zmq_ipc_per_tick", "mp_queue_batched", "zmq_ipc_batched")
    }
    for mode in ("ring_busy_spin", "ring_blocking"):
        for peer in ("mp_queue", "zmq_ipc"):
            for stat in ("p50_us", "p99_us"):
                ratios[f"latency {stat[:-3]} {mode} / {peer}"] = ratio(latency[mode].get(stat, 0),
                                                                       latency[peer].get(stat, 0))
    return ratios


def table_rows(result: dict) -> list[dict]:
    """The suite table's rows: hop latencies, throughputs, the ring's lead over its peers, the
    burst."""
    from benchmarks import table

    names = {"ring_busy_spin": "ring, busy-spin reader", "ring_blocking": "ring, blocking reader",
             "mp_queue": "multiprocessing.Queue", "zmq_ipc": "pyzmq ipc:// PUSH/PULL"}
    rows = [table.latency_row("ring", f"hop latency, {label}", result["latency"][key],
                              f"reader preempted {result['latency'][key].get('reader_preempted')}x")
            for key, label in names.items()]
    for key, t in result["throughput"].items():
        rows.append(table.row("ring", f"throughput {key}", t["ticks_per_s"], "ticks/s",
                              f"batch {t['batch']}, lost {t['lost']}"))
    for peer in ("mp_queue_batched", "zmq_ipc_batched"):
        rows.append(
            table.row(
                "ring",
                f"throughput ring / {peer}",
                result["ratios"][f"throughput ring / {peer}"],
                "x",
            )
        )
    burst = result["burst"]
    rows.append(
        table.row(
            "ring",
            "burst into a live ring: lost",
            burst["lost"],
            "ticks",
            f"{burst['ticks']:,} at {burst['achieved_rate_per_s']:,}/s, "
            f"{burst['capacity']:,} slots",
        )
    )
    return rows
