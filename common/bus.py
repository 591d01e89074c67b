"""The ZeroMQ bus: where endpoints live, and the four socket roles every stage uses.

Events go PUB -> SUB (`Publisher`, `Subscriber`), topics from `common.topics`; commands and intents
go PUSH -> PULL (`Pusher`, `Puller`). Frames are `[topic, payload]` on PUB/SUB and `[payload]` on
PUSH/PULL; the payload is `codec.encode(msg)` (msgpack), never a pickle.

The bus is fast, not durable. A send that would block is dropped and counted, never waited on: a
consumer that missed something catches up from the producer's journal (`common.journal`), which is
why publishers stamp each message with the per-source `seq` the journal records.

Create the zmq Context (`make_context`) only AFTER the process has pinned itself to its cores:
zmq's I/O threads take the affinity the process has when they start, and pinning later
(sched_setaffinity, psutil's cpu_affinity) moves only the calling thread, so a Context made before
pinning leaves its I/O threads running anywhere. Never create one before a fork either.

Binders (`Publisher`, `Puller`) own their endpoint: binding an ipc path left by a killed process
works (the stale file is removed), but binding one that a live process is serving raises BusError,
so two copies of a stage can never both receive orders (the check is a probe, not a lock: two
binders starting in the same millisecond could both pass it; the supervisor never starts two).
Connectors reconnect on their own when the binder restarts. Imports zmq, the standard library and
`common` only.
"""

import hashlib
import os
import re
import socket as pysocket
import stat
import time

import msgspec
import zmq

from common.codec import decode, encode
from common.errors import BusError
from common.messages import Message

IPC_PATH_MAX = 107           # sizeof(sockaddr_un.sun_path) - 1 on Linux
MAX_NAME_LEN = 32            # longest endpoint name; the ipc dir is chosen so any name fits
DEFAULT_HWM = 10_000         # messages queued per peer before sends are dropped
DEFAULT_LINGER_MS = 100      # how long close() may wait to flush: stops never hang
RECONNECT_IVL_MS = 50        # connectors retry a vanished binder this often
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_replace = msgspec.structs.replace
# The send/recv flags as plain ints: or-ing pyzmq's flag enums costs ~0.7 µs a message, paid on
# every event published.
_NOBLOCK = int(zmq.NOBLOCK)
_MORE_NOBLOCK = int(zmq.SNDMORE | zmq.NOBLOCK)


# ---------------------------------------------------------------- endpoints

class Endpoints:
    """Where a run's local sockets live: `<run_dir>/ipc/`, private to this user (mode 0700).

    A socket path must fit in 107 bytes. When `<run_dir>/ipc/<name>` might not, the directory is
    `/tmp/otrade-<uid>-<hash of run_dir>/` instead (`fallback` is True): derived from the run dir
    alone, so every stage finds the same one without being told, and recorded in
    `<run_dir>/ipc.where` for people looking for it. Either directory is created 0700, its mode is
    repaired if it exists with another, and it is refused if it is a symlink or another user's.

    Raises
    ------
    BusError
        If the directory cannot be made private to this user.
    """

    def __init__(self, run_dir: str, *, fallback_root: str = "/tmp"):
        # realpath: every process must derive the same fallback dir, however it spells run_dir.
        self.run_dir = os.path.realpath(run_dir)
        os.makedirs(self.run_dir, exist_ok=True)
        preferred = os.path.join(self.run_dir, "ipc")
        self.fallback = len(os.fsencode(preferred)) + 1 + MAX_NAME_LEN > IPC_PATH_MAX
        if self.fallback:
            digest = hashlib.blake2b(os.fsencode(self.run_dir), digest_size=6).hexdigest()
            self.dir = os.path.join(fallback_root, f"otrade-{os.geteuid()}-{digest}")
        else:
            self.dir = preferred
        if len(os.fsencode(self.dir)) + 1 + MAX_NAME_LEN > IPC_PATH_MAX:
            raise BusError(f"ipc directory path too long for a socket: {self.dir}")
        _make_private_dir(self.dir)
        if self.fallback:
            _write_marker(os.path.join(self.run_dir, "ipc.where"), self.dir)

    def path(self, name: str) -> str:
        """The socket file for an endpoint name (see `common.topics` for the names)."""
        if len(name) > MAX_NAME_LEN or not _NAME_RE.match(name):
            raise BusError(f"bad endpoint name {name!r}: [A-Za-z0-9._-], at most {MAX_NAME_LEN}")
        return os.path.join(self.dir, name)

    def endpoint(self, name: str) -> str:
        """The zmq address for an endpoint name: "ipc:///abs/run/ipc/orders.cmd"."""
        return "ipc://" + self.path(name)

    def cleanup(self) -> None:
        """Remove every socket file and the directory (the supervisor calls this at the end)."""
        try:
            entries = list(os.scandir(self.dir))
        except FileNotFoundError:
            entries = []
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                _unlink_quietly(entry.path)
        try:
            os.rmdir(self.dir)
        except FileNotFoundError:
            pass
        if self.fallback:
            _unlink_quietly(os.path.join(self.run_dir, "ipc.where"))


def tcp_endpoint(host: str, port: int) -> str:
    """A tcp address for a stage on another host (config gives host and port)."""
    if not 0 < int(port) < 65536:
        raise BusError(f"tcp port out of range: {port}")
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


def _make_private_dir(path: str) -> None:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise BusError(f"cannot create ipc directory {path}: {e}") from None
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise BusError(f"ipc path {path} exists and is not a directory (or is a symlink)")
    if st.st_uid != os.geteuid():
        raise BusError(f"ipc directory {path} is owned by uid {st.st_uid}, not by us")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)


def _write_marker(path: str, text: str) -> None:
    try:
        with open(path, encoding="utf-8") as f:
            if f.read().strip() == text:
                return
    except FileNotFoundError:
        pass
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _claim_ipc_path(path: str, attempts: int = 10, pause_s: float = 0.02) -> None:
    """Remove a stale socket file so bind works; refuse one a live process is listening on.

    A probe connect tells them apart: refused means stale. A socket this process closed a moment ago
    may still accept for a few ms (zmq closes listeners in its I/O thread), hence the short retry.
    """
    for attempt in range(attempts):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise BusError(f"{path} exists and is not a socket")
        probe = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
        probe.settimeout(0.2)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            _unlink_quietly(path)
            return
        except OSError:
            pass  # e.g. EAGAIN: a listener with a full backlog is alive
        finally:
            probe.close()
        if attempt + 1 < attempts:
            time.sleep(pause_s)
    raise BusError("a live process is bound to it")


# ---------------------------------------------------------------- sockets

# The I/O threads' scheduling policy. Every send wakes the context's I/O thread, and on a core it
# shares with its sender a freshly woken thread preempts the sender at once: two context switches a
# message, in the middle of the stage's work (a send measured ~2x dearer, with a millisecond tail).
# SCHED_BATCH takes away only that wake-up preemption: the thread runs when the stage next waits
# (every stage loop waits within its step), with its full share of the CPU otherwise.
IO_SCHED_POLICY = getattr(os, "SCHED_BATCH", None)


def make_context(io_threads: int = 1, io_cores=()) -> zmq.Context:
    """A zmq Context; call it after pinning the process to its cores (see the module docstring).

    `io_cores` pins the context's I/O threads to those cores instead of the process's own (they
    start with the first socket): a busy-spinning process sends through a thread that must not
    wait for the spinner to be preempted.
    """
    ctx = zmq.Context(io_threads=io_threads)
    ctx.setsockopt(zmq.LINGER, DEFAULT_LINGER_MS)  # default for any raw socket made from it
    if IO_SCHED_POLICY is not None:
        ctx.set(zmq.THREAD_SCHED_POLICY, IO_SCHED_POLICY)
    for core in io_cores:
        ctx.set(zmq.THREAD_AFFINITY_CPU_ADD, int(core))
    return ctx


def _open(ctx: zmq.Context, kind: int, linger_ms: int, options: dict[int, int]) -> zmq.Socket:
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, linger_ms)
    for option, value in options.items():
        sock.setsockopt(option, value)
    return sock


def _bind(sock: zmq.Socket, endpoint: str) -> None:
    try:
        if endpoint.startswith("ipc://"):
            _claim_ipc_path(endpoint[len("ipc://"):])
        sock.bind(endpoint)
    except (BusError, zmq.ZMQError) as e:
        sock.close(linger=0)
        raise BusError(f"cannot bind {endpoint}: {e}") from None


def _connect(sock: zmq.Socket, endpoints: str | list[str] | tuple[str, ...]) -> None:
    sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
    for endpoint in [endpoints] if isinstance(endpoints, str) else endpoints:
        try:
            sock.connect(endpoint)
        except zmq.ZMQError as e:
            sock.close(linger=0)
            raise BusError(f"cannot connect to {endpoint}: {e}") from None


class _SocketOwner:
    """Owns one zmq socket, exposed as `.socket` (for zmq.Poller); closes it with its LINGER."""

    socket: zmq.Socket

    def close(self) -> None:
        self.socket.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Stamper:
    """Assigns `source` and the per-source `seq` to outgoing messages; shared by PUB and PUSH."""

    def __init__(self, source: str, next_seq: int):
        if next_seq < 1:
            raise BusError(f"sequence numbers start at 1, got next_seq={next_seq}")
        self.source = source
        self.next_seq = next_seq

    def stamp(self, msg: Message) -> Message:
        """A copy of `msg` with this producer's source and next seq: journal it, then send it."""
        stamped = _replace(msg, source=self.source, seq=self.next_seq)
        self.next_seq += 1
        return stamped


class Publisher(_Stamper, _SocketOwner):
    """A PUB socket bound at `endpoint`, publishing stamped messages under topics.

    `next_seq` is the first seq to assign (journal `last_seq + 1` after a restart). With `nodrop`
    (the default) a send that finds a subscriber's queue full (`sndhwm`) fails at once and is
    counted in `dropped`, for every subscriber of that message; with `nodrop=False` zmq drops
    silently and only for the slow subscriber. Either way `publish` never blocks.
    """

    def __init__(self, ctx: zmq.Context, endpoint: str, source: str, *, next_seq: int = 1,
                 sndhwm: int = DEFAULT_HWM, linger_ms: int = DEFAULT_LINGER_MS,
                 nodrop: bool = True):
        super().__init__(source, next_seq)
        self.endpoint = endpoint
        self.socket = _open(ctx, zmq.PUB, linger_ms,
                            {zmq.SNDHWM: sndhwm, zmq.XPUB_NODROP: int(nodrop)})
        _bind(self.socket, endpoint)
        self.sent = 0
        self.dropped = 0

    def send(self, topic: bytes, msg: Message) -> bool:
        """Send an already stamped message; False (and counted) if it was dropped at the HWM."""
        payload = encode(msg)
        try:
            self.socket.send(topic, _MORE_NOBLOCK)
        except zmq.Again:
            self.dropped += 1
            return False
        # Once the first frame is queued the last one is too: zmq delivers multipart atomically.
        self.socket.send(payload, _NOBLOCK)
        self.sent += 1
        return True

    def publish(self, topic: bytes, msg: Message) -> Message:
        """Stamp and send; returns the stamped message (journal it if it matters)."""
        stamped = self.stamp(msg)
        self.send(topic, stamped)
        return stamped


class Pusher(_Stamper, _SocketOwner):
    """A PUSH socket connected to a command endpoint (a Puller binds it).

    IMMEDIATE is on by default: messages are queued only to a connected peer, so while the receiver
    is down `send` returns False at once and the receiver later catches up from the sender's journal
    instead of getting a stale backlog.
    """

    def __init__(self, ctx: zmq.Context, endpoint: str, source: str, *, next_seq: int = 1,
                 sndhwm: int = DEFAULT_HWM, linger_ms: int = DEFAULT_LINGER_MS,
                 immediate: bool = True):
        super().__init__(source, next_seq)
        self.endpoint = endpoint
        self.socket = _open(ctx, zmq.PUSH, linger_ms,
                            {zmq.SNDHWM: sndhwm, zmq.IMMEDIATE: int(immediate)})
        _connect(self.socket, endpoint)
        self.sent = 0
        self.would_block = 0

    def send(self, msg: Message) -> bool:
        """Send an already stamped message; False if it would block (no peer, or a full queue)."""
        try:
            self.socket.send(encode(msg), _NOBLOCK)
        except zmq.Again:
            self.would_block += 1
            return False
        self.sent += 1
        return True

    def push(self, msg: Message) -> bool:
        """Stamp and send, for messages nobody journals (commands); see `send`."""
        return self.send(self.stamp(msg))


class _Receiver(_SocketOwner):
    """The receive loop of SUB and PULL: malformed messages are counted in `malformed`, skipped."""

    def _decode(self, frames: list[bytes]):  # returns the item or None for a malformed message
        raise NotImplementedError

    def recv_nowait(self):
        """The next message if one is already queued, else None."""
        while True:
            try:
                frames = self.socket.recv_multipart(_NOBLOCK)
            except zmq.Again:
                return None
            item = self._decode(frames)
            if item is not None:
                self.received += 1
                return item
            self.malformed += 1

    def recv(self, timeout_ms: int):
        """The next message, waiting up to `timeout_ms` (negative: forever); None on timeout."""
        deadline = time.perf_counter_ns() + timeout_ms * 1_000_000
        while True:
            item = self.recv_nowait()
            if item is not None:
                return item
            left_ms = -1 if timeout_ms < 0 else (deadline - time.perf_counter_ns()) // 1_000_000
            if timeout_ms >= 0 and left_ms <= 0:
                return None
            if not self.socket.poll(left_ms):
                return None


class Subscriber(_Receiver):
    """A SUB socket connected to one or more publishers, receiving `(topic, message)` pairs.

    `topics` are byte prefixes (`common.topics`); b"" receives everything.
    """

    def __init__(self, ctx: zmq.Context, endpoint: str | list[str] | tuple[str, ...],
                 topics: list[bytes] | tuple[bytes, ...], *, rcvhwm: int = DEFAULT_HWM,
                 linger_ms: int = DEFAULT_LINGER_MS):
        if not topics:
            raise BusError("a Subscriber needs at least one topic prefix (b'' for all)")
        self.socket = _open(ctx, zmq.SUB, linger_ms, {zmq.RCVHWM: rcvhwm})
        for topic in topics:
            prefix = topic.encode() if isinstance(topic, str) else topic
            self.socket.setsockopt(zmq.SUBSCRIBE, prefix)
        _connect(self.socket, endpoint)
        self.received = 0
        self.malformed = 0

    def _decode(self, frames: list[bytes]) -> tuple[bytes, Message] | None:
        if len(frames) != 2:
            return None
        try:
            return frames[0], decode(frames[1])
        except BusError:
            return None


class Puller(_Receiver):
    """A PULL socket bound at a command endpoint, receiving messages from any number of Pushers."""

    def __init__(self, ctx: zmq.Context, endpoint: str, *, rcvhwm: int = DEFAULT_HWM,
                 linger_ms: int = DEFAULT_LINGER_MS):
        self.endpoint = endpoint
        self.socket = _open(ctx, zmq.PULL, linger_ms, {zmq.RCVHWM: rcvhwm})
        _bind(self.socket, endpoint)
        self.received = 0
        self.malformed = 0

    def _decode(self, frames: list[bytes]) -> Message | None:
        if len(frames) != 1:
            return None
        try:
            return decode(frames[0])
        except BusError:
            return None
