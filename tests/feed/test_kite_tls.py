"""The Kite ticker dials wss:// verifying certificate and host name before the token leaves.

A local TLS server (a thread of this process) records every handshake and the first bytes each
connection sends; the KiteTicker connection runs in a child process (the Twisted reactor runs once
per process). KiteTicker's URL carries `access_token`, so "refused" means: the server never received
a request line at all. Certificates are made here, with the `cryptography` package: a test CA, a
server certificate it signs for localhost, one it signs for another host, and a self-signed one.
The Kite and Upstox REST clients, and the Upstox feed's authorize call and websocket, are checked
against the same server: they verify by their libraries' defaults (requests; urllib3 with
CERT_REQUIRED; urllib's default context; websocket-client's CERT_REQUIRED + check_hostname), and
these tests pin that down.
"""

import datetime as dt
import os
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from common.errors import BrokerRetryable  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKEN = "tls-test-access-token"
CHILD = """
import sys, time
from config.schema import KiteFeedConfig
from feed.sources.kite.connection import KiteConnection
from feed.sources.kite.source import KiteFeedOptions, running_reactor

class Source:
    def __getattr__(self, name):
        return lambda *a, **k: None

trust = {"ca_file": sys.argv[2]} if sys.argv[2] else {}     # none: the system's trust store
options = KiteFeedOptions.from_config(KiteFeedConfig(root=sys.argv[1], **trust),
                                      reconnect_max_tries=1, connect_timeout_s=5.0)
conn = KiteConnection(Source(), 0, [408065], "tls-test-key", sys.argv[3], options)
running_reactor().callFromThread(conn.start)
time.sleep(60)
"""


def _name(cn: str):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, issuer_name, issuer_key, *, ca: bool, san: str | None = None):
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """PEM files: ca.pem; localhost / otherhost (signed by the CA) and selfsigned, each *.pem +
    *.key."""
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("OTrade test CA", ca_key, _name("OTrade test CA"), ca_key, ca=True)
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for name, host, signer in (("localhost", "localhost", ca), ("otherhost", "other.example", ca),
                               ("selfsigned", "other.example", None)):
        key = ec.generate_private_key(ec.SECP256R1())
        issuer, issuer_key = (ca.subject, ca_key) if signer is not None else (_name(host), key)
        cert = _cert(host, key, issuer, issuer_key, ca=False, san=host)
        (d / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (d / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    return d


class TlsServer:
    """Accepts TLS on 127.0.0.1; records handshakes that failed and what each connection sent."""

    def __init__(self, cert: str, key: str):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.failed_handshakes, self.received = 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tls-test-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self.sock.accept()
            except TimeoutError:
                continue
            raw.settimeout(5.0)
            try:
                with self.context.wrap_socket(raw, server_side=True) as tls:
                    self.received.append(tls.recv(4096))
            except (ssl.SSLError, OSError):
                self.failed_handshakes += 1
                raw.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self.sock.close()


@pytest.fixture
def serve(pki):
    servers = []

    def make(name: str) -> TlsServer:
        servers.append(TlsServer(str(pki / f"{name}.pem"), str(pki / f"{name}.key")))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def _ticker(server: TlsServer, ca_file: str):
    """The ticker connection in a child process, dialing wss://localhost:<port>; stopped by the
    test."""
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, f"wss://localhost:{server.port}", ca_file, TOKEN],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait(predicate, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def _stop(child) -> None:
    child.kill()
    child.wait(10)
    child.stderr.close()


@pytest.mark.parametrize(
    "cert, trusted",
    [("selfsigned", "ca"), ("selfsigned", ""), ("otherhost", "ca")],
    ids=["self_signed_other_host", "self_signed_system_trust", "trusted_ca_wrong_host"],
)
def test_kite_ticker_when_the_certificate_is_untrusted_or_for_another_host_then_no_token_is_sent(
        serve, pki, cert, trusted):
    server = serve(cert)
    child = _ticker(server, str(pki / "ca.pem") if trusted else "")
    try:
        _wait(lambda: server.failed_handshakes or server.received, "the client dialed")
    finally:
        _stop(child)
    assert server.received == [], (
        "the client sent its request (and token) over an unverified connection"
    )
    assert server.failed_handshakes >= 1


def test_kite_ticker_when_the_certificate_chains_to_the_configured_ca_then_it_connects(serve, pki):
    server = serve("localhost")
    child = _ticker(server, str(pki / "ca.pem"))
    try:
        _wait(lambda: server.received, "the client sent its request over the verified connection")
    finally:
        _stop(child)
    request_line = server.received[0].split(b"\r\n", 1)[0]
    assert request_line.startswith(b"GET /?api_key=") and TOKEN.encode() in request_line


def test_kite_and_upstox_rest_when_the_certificate_is_untrusted_then_the_call_fails_before_sending(
    serve,
):
    from orders.brokers.kite.credentials import KiteCredentials
    from orders.brokers.kite.http import KiteHttp
    from orders.brokers.upstox.credentials import UpstoxCredentials
    from orders.brokers.upstox.http import UpstoxHttp

    server = serve("selfsigned")
    url = f"https://localhost:{server.port}"
    kite = KiteHttp(KiteCredentials("tls-test-key", TOKEN), root=url, timeout_s=5.0)
    upstox = UpstoxHttp(
        UpstoxCredentials("tls-test-key", TOKEN), host=url, order_host=url, timeout_s=5.0
    )
    try:
        for client in (kite, upstox):
            with pytest.raises(BrokerRetryable):
                client.orders()
    finally:
        kite.close()
        upstox.close()
    _wait(lambda: server.failed_handshakes >= 2, "both clients refused the handshake")
    assert server.received == []


def test_upstox_feed_when_the_certificate_is_untrusted_then_authorize_and_socket_fail_before_sending(  # noqa: E501 - the name is the test's sentence
    serve,
):
    import websocket

    from feed.sources.upstox.auth import authorize_feed

    server = serve("selfsigned")
    url = f"localhost:{server.port}"
    with pytest.raises(BrokerRetryable):
        authorize_feed(f"https://{url}", TOKEN, 5.0)
    with pytest.raises((ssl.SSLError, websocket.WebSocketException)):
        # As feed/sources/upstox/connection.py opens it: no sslopt, so the library's verifying
        # default.
        websocket.create_connection(f"wss://{url}/feed?code={TOKEN}", timeout=5.0,
                                    skip_utf8_validation=True, enable_multithread=True)
    _wait(lambda: server.failed_handshakes >= 2, "both connections refused the handshake")
    assert server.received == []


@pytest.mark.parametrize(
    "content", [None, b"", b"not a certificate\n"], ids=["missing", "empty", "no_pem"]
)
def test_kite_ticker_when_the_ca_file_is_unusable_then_the_connection_is_refused_as_a_config_error(
        tmp_path, content):
    from common.errors import ConfigError
    from feed.sources.kite.connection import KiteConnection
    from config.schema import KiteFeedConfig
    from feed.sources.kite.source import KiteFeedOptions

    ca_file = tmp_path / "ca.pem"
    if content is not None:
        ca_file.write_bytes(content)
    section = KiteFeedConfig(root="wss://ws.example:443", ca_file=str(ca_file))
    options = KiteFeedOptions.from_config(section)
    with pytest.raises(ConfigError) as bad:
        KiteConnection(object(), 0, [408065], "tls-test-key", TOKEN, options)
    assert bad.value.path == "feed.kite.ca_file" and TOKEN not in str(bad.value)
