"""The operator's channel to a running supervisor: `python supervisor.py ctl <command>`.

A unix stream socket, `supervisor.ctl` in the run's private (0700) ipc directory, carrying one JSON
request line ({"cmd": "halt", "reason": "..."}) and one JSON answer line per connection. Only the
owner can use it, twice over: the directory admits nobody else, and the server reads the peer's
credentials (SO_PEERCRED) and refuses any uid but its own before reading a byte. Requests are served
one at a time on one thread (supervision/operator.py does the work); a slow or silent client
is dropped CLIENT_TIMEOUT_S after it connected, so it cannot block the next operator.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

import orjson

COMMANDS = ("status", "halt", "resume", "flatten", "reconcile", "adopt")
MAX_LINE = 64 * 1024
CLIENT_TIMEOUT_S = 5.0
_UCRED = struct.Struct("3i")     # struct ucred: pid, uid, gid


class ControlError(Exception):
    """The channel cannot be used: no such run, no socket, a refused or malformed exchange."""


def peer_uid(conn: socket.socket) -> int:
    """The uid of the process at the other end of a connected unix socket (SO_PEERCRED)."""
    _pid, uid, _gid = _UCRED.unpack(
        conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    )
    return uid


def refusal(uid: int, own_uid: int | None = None) -> str:
    """Why a peer with `uid` is refused ("" when it is the owner)."""
    own = os.geteuid() if own_uid is None else own_uid
    return "" if uid == own else f"refused: peer uid {uid} is not the owner of this run (uid {own})"


def parse_request(line: bytes) -> tuple[str, str]:
    """(command, reason) from a request line. Raises ControlError naming what is wrong."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise ControlError(f"request is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ControlError("request must be a JSON object")
    cmd, reason = doc.get("cmd"), doc.get("reason", "")
    if cmd not in COMMANDS:
        raise ControlError(f"unknown command {cmd!r}: one of {', '.join(COMMANDS)}")
    if not isinstance(reason, str) or len(reason) > 500:
        raise ControlError("reason must be a string of at most 500 characters")
    return cmd, reason


class ControlServer:
    """Serves `handle(cmd, reason) -> dict` on `path`; `uid_of` is injectable for the refusal
    test."""

    def __init__(self, path: str, handle, *, uid_of=peer_uid, log=None):
        self.path, self.handle, self.uid_of, self.log = path, handle, uid_of, log
        self.sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="otrade-ctl", daemon=True)

    def start(self) -> "ControlServer":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(self.path)
        os.chmod(self.path, 0o600)
        sock.listen(4)
        sock.settimeout(0.2)            # accept wakes up to see stop()
        self.sock = sock
        self._thread.start()
        return self

    def stop(self) -> bool:
        """Stop serving and remove the socket; True once the serving thread has ended."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        return not self._thread.is_alive()

    def _serve(self) -> None:
        sock = self.sock
        if sock is None:            # start() binds it before it starts this thread
            return
        while not self._stop.is_set():
            try:
                conn, _ = sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return                   # closed under us: stopping
            with conn:
                try:
                    self._one(conn)
                except Exception as e:  # noqa: BLE001 - one bad exchange must not end the channel
                    if self.log is not None:
                        self.log.warning("ctl request failed", error=str(e))

    def _one(self, conn: socket.socket) -> None:
        conn.settimeout(CLIENT_TIMEOUT_S)
        refused = refusal(self.uid_of(conn))
        if refused:
            _send(conn, {"ok": False, "error": refused})
            return
        try:
            cmd, reason = parse_request(_read_line(conn, CLIENT_TIMEOUT_S))
        except ControlError as e:
            _send(conn, {"ok": False, "error": str(e)})
            return
        _send(conn, self.handle(cmd, reason))


def _read_line(conn: socket.socket, within_s: float) -> bytes:
    """One line, within `within_s` in all. The server reads a request within CLIENT_TIMEOUT_S: a
    per-recv timeout alone would let a client dripping a byte at a time hold the one serving thread
    for ever. The client waits for its answer as long as it asked to (a flatten takes a while)."""
    buf = b""
    deadline = time.monotonic() + within_s
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ControlError(f"line not complete within {within_s:g}s: dropped")
        conn.settimeout(left)
        chunk = conn.recv(4096)
        if not chunk:
            break
        buf += chunk
        if len(buf) > MAX_LINE:
            raise ControlError(f"request longer than {MAX_LINE} bytes")
    return buf.split(b"\n", 1)[0]


def _send(conn: socket.socket, doc: dict) -> None:
    conn.sendall(orjson.dumps(doc) + b"\n")


def request(path: str, cmd: str, reason: str = "", timeout_s: float = 60.0) -> dict:
    """Send one command to the supervisor listening on `path`; its answer. Raises ControlError."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError(
                f"no supervisor is listening at {path}: the run has ended, or never started"
            ) from None
        except OSError as e:
            raise ControlError(f"cannot talk to the supervisor at {path}: {e}") from None
        line = exchange(sock, path, cmd, reason, timeout_s)
    return parse_answer(line, path)


def exchange(sock: socket.socket, path: str, cmd: str, reason: str, timeout_s: float) -> bytes:
    """The answer line to one request on a connected socket. The server may answer and close
    before reading a byte (a refused peer): the request then meets a closed socket, but the answer
    is already in ours to read, so a failed send is not the end of the exchange."""
    try:
        _send(sock, {"cmd": cmd, "reason": reason})
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        return _read_line(sock, timeout_s)
    except OSError as e:
        raise ControlError(f"cannot talk to the supervisor at {path}: {e}") from None


def parse_answer(line: bytes, path: str) -> dict:
    """The answer object from the supervisor's line. Raises ControlError naming what is wrong."""
    if not line:
        raise ControlError(f"the supervisor at {path} closed the connection without an answer")
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise ControlError(f"malformed answer from {path}: {e}") from None
    if not isinstance(doc, dict):
        raise ControlError(f"malformed answer from {path}: not an object")
    return doc
