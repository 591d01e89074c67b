"""The feed authorize call: its wire envelope, how failures are classified, and that no error shows
the token."""

import http.server
import socket
import threading
from pathlib import Path

import orjson
import pytest

from common.errors import BrokerFatal, BrokerRetryable, ConfigError
from feed.sources.upstox.auth import authorize_feed, check_host
from feed.sources.upstox.protocol import AUTHORIZE_PATH, error_codes, parse_authorize_response
from localvenue.feeds.upstox_feed import UpstoxFeedServer

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "upstox-access-token-7c1e"


class CannedHandler(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the server's canned (status, headers, body) and keeps what it was
    sent."""

    def do_GET(self):
        status, headers, body = self.server.canned
        self.server.requests.append((self.path, self.headers.get("Authorization")))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def canned():
    """A throw-away HTTP server; set `.canned = (status, headers, body)` before calling it."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CannedHandler)
    srv.canned, srv.requests = (200, [], b""), []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


@pytest.fixture
def feed_server():
    srv = UpstoxFeedServer(access_token=TOKEN, tick_provider=lambda keys: []).start()
    yield srv
    srv.stop()


def test_fixture_envelopes_parse_as_the_documented_shapes():
    success = (FIXTURES / "upstox_authorize.json").read_bytes()
    assert parse_authorize_response(success).startswith("wss://")
    assert error_codes((FIXTURES / "upstox_error_invalid_token.json").read_bytes()) == (
        "UDAPI100050",
    )


def test_authorize_reads_the_snake_case_uri_and_falls_back_to_the_deprecated_camel_case_one():
    both = orjson.dumps({"status": "success", "data": {"authorized_redirect_uri": "wss://a/1",
                                                        "authorizedRedirectUri": "wss://b/2"}})
    camel_only = orjson.dumps({"status": "success", "data": {"authorizedRedirectUri": "wss://b/2"}})
    assert parse_authorize_response(both) == "wss://a/1"
    assert parse_authorize_response(camel_only) == "wss://b/2"
    assert (
        parse_authorize_response(
            b'{"status":"success","data":{"authorized_redirect_uri":"http://x"}}'
        )
        is None
    )
    assert parse_authorize_response(b"<html>") is None


def test_local_server_authorizes_with_the_bearer_token_and_a_single_use_socket_url(feed_server):
    first = authorize_feed(feed_server.url, TOKEN, 2.0)
    second = authorize_feed(feed_server.url + "/", TOKEN, 2.0)
    assert (
        first.startswith(f"ws://127.0.0.1:{feed_server.port}/v3/feed/market-data-feed?")
        and first != second
    )
    assert "code=" in first and feed_server.authorize_calls == 2


def test_bad_token_is_fatal_and_the_message_never_contains_it(feed_server):
    with pytest.raises(BrokerFatal) as err:
        authorize_feed(feed_server.url, "wrong-token-5d2a", 2.0)
    assert err.value.http_status == 401 and err.value.code == "UDAPI100050"
    assert "wrong-token-5d2a" not in str(err.value) and "access token" in str(err.value)


def test_expired_token_is_fatal_after_it_worked(feed_server):
    authorize_feed(feed_server.url, TOKEN, 2.0)
    feed_server.reject_token()
    with pytest.raises(BrokerFatal):
        authorize_feed(feed_server.url, TOKEN, 2.0)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limits_and_server_errors_are_retryable(feed_server, status):
    feed_server.fail_authorize(status)
    with pytest.raises(BrokerRetryable) as err:
        authorize_feed(feed_server.url, TOKEN, 2.0)
    assert err.value.http_status == status and TOKEN not in str(err.value)
    assert authorize_feed(feed_server.url, TOKEN, 2.0).startswith("ws://")   # the next call works


@pytest.mark.parametrize(
    "status, kind", [(403, BrokerFatal), (400, BrokerFatal), (302, BrokerFatal)]
)
def test_other_refusals_are_fatal_and_a_redirect_is_never_followed(canned, status, kind):
    canned.canned = (status, [("Location", "http://127.0.0.1:1/elsewhere")], b"{}")
    with pytest.raises(kind) as err:
        authorize_feed(canned.url, TOKEN, 2.0)
    assert err.value.http_status == status and TOKEN not in str(err.value)
    # one request, to our host only
    assert canned.requests == [(AUTHORIZE_PATH, f"Bearer {TOKEN}")]


def test_a_success_status_without_the_envelope_is_retryable(canned):
    canned.canned = (200, [("Content-Type", "text/html")], b"<html>maintenance</html>")
    with pytest.raises(BrokerRetryable, match="without a websocket URL"):
        authorize_feed(canned.url, TOKEN, 2.0)


def test_a_refused_connection_is_retryable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BrokerRetryable) as err:
        authorize_feed(f"http://127.0.0.1:{port}", TOKEN, 2.0)
    assert err.value.code == "network"


def test_a_server_that_never_answers_times_out_as_retryable():
    with socket.socket() as listener:   # accepts into the backlog, never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with pytest.raises(BrokerRetryable):
            authorize_feed(f"http://127.0.0.1:{listener.getsockname()[1]}", TOKEN, 0.2)


def test_host_must_be_an_http_url():
    assert check_host("http://127.0.0.1:9000/") == "http://127.0.0.1:9000"
    for bad in ("ws://127.0.0.1:9000", "api.upstox.com", "https://"):
        with pytest.raises(ConfigError):
            check_host(bad)
