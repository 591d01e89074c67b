"""/health and /metrics answer only requests addressed to a loopback name (issue 12.8: DNS
rebinding)."""

import http.client

import pytest

from supervision.health import HealthServer, is_loopback_host


@pytest.fixture
def server():
    s = HealthServer(
        0, lambda: {"stages": {}, "trading_state_code": 0, "positions": {"secret": 1}}
    ).start()
    yield s
    s.stop()


def get(port: int, path: str, host: str | None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest("GET", path, skip_host=True)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path", ["/health", "/metrics"])
def test_health_when_the_host_header_is_a_foreign_name_then_it_is_refused_without_the_status(
    server, path
):
    status, body = get(server.port, path, "evil.example")
    assert status == 421 and b"secret" not in body


def test_health_when_the_host_header_is_missing_then_it_is_refused(server):
    assert get(server.port, "/health", None)[0] == 421


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "127.0.0.1", "LOCALHOST", "[::1]:{port}"]
)
def test_health_when_the_host_header_is_loopback_then_it_is_served(server, host):
    status, body = get(server.port, "/health", host.format(port=server.port))
    assert status == 200 and b"secret" in body


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1.evil.example",
        "localhost.evil.example",
        "evil.example:8765",
        "127.0.0.2",
        "[::1]x",
        "localhost:99999999",
        "",
    ],
)
def test_loopback_host_when_a_name_only_looks_loopback_then_it_is_not(host):
    assert not is_loopback_host(host)
