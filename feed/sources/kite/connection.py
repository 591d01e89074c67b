"""KiteConnection: one KiteTicker websocket (up to 3,000 tokens) and its watchdog.

Every method except the constructor runs on the reactor thread (KiteSource schedules them with
`reactor.callFromThread`); the SDK calls the `_on_*` callbacks there too, so no state here is shared
with another thread except the `closed` event.

Reconnects are the SDK's: a lost connection (dropped by the server, by the network, or by our
watchdog through `dropConnection`) goes to Twisted's ReconnectingClientFactory, which retries with
exponential backoff, and the SDK re-sends the subscribed tokens and their modes when the new
connection opens. `_on_open` checks that it did and subscribes itself if not.

Text messages go to `source.on_text` only. The SDK's own text parser is switched off (`_Ticker`): it
calls `.get` on whatever JSON arrived and decodes UTF-8 outside its try, so one text message that is
a JSON list, a number or not UTF-8 raised on the reactor thread and Twisted dropped the connection
(seen against the local ticker). All it did for us was call on_error(code 0) for {"type": "error"},
which on_text already counts.

TLS: the SDK's `connect` dials wss:// with Twisted's bare `ssl.ClientContextFactory()`, which checks
neither the certificate nor the host name, and the URL it then sends carries the access token
(`?api_key=...&access_token=...`): anyone on the path could read a token that places orders.
`_Ticker` dials with `optionsForClientTLS(host, trustRoot)` instead (`tls_options`): the certificate
must chain to the system's trust store (or, for tests and private roots, to the PEM bundle in
`ca_file`) and name the host, else the handshake fails before a byte of the request line is sent.
ws:// (the local ticker on loopback) has no TLS to verify.
"""

from __future__ import annotations

import logging
import threading

import re
from urllib.parse import urlsplit

from autobahn.twisted.websocket import connectWS
from kiteconnect import KiteTicker
from twisted.internet.task import LoopingCall

from common.errors import BrokerFatal, BrokerRetryable, ConfigError
from feed.sources.watchdog import Watchdog

log = logging.getLogger(__name__)

# autobahn: "WebSocket connection upgrade failed (403 - Forbidden)"
_AUTH_STATUSES = ("(401", "(403")


def is_auth_failure(reason) -> bool:
    """True when a close reason says the server refused the websocket upgrade for credentials."""
    text = str(reason)
    return "upgrade failed" in text and any(s in text for s in _AUTH_STATUSES)


_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def tls_options(hostname: str, ca_file: str | None = None):
    """Twisted client TLS options that verify the certificate chain and that it names `hostname`.

    Trust: the certificates in the PEM file `ca_file` when given, else the platform's trust store.
    Raises ConfigError for a CA file that cannot be read or holds no certificate.
    """
    from twisted.internet import ssl

    if ca_file:
        try:
            with open(ca_file, "rb") as f:
                pems = _PEM_CERT.findall(f.read())
            roots = [ssl.Certificate.loadPEM(pem) for pem in pems]
        except (OSError, ValueError) as e:
            raise ConfigError(
                f"cannot read the CA bundle {ca_file!r}: {e}", path="feed.kite.ca_file"
            ) from None
        except Exception as e:  # noqa: BLE001 - pyOpenSSL's Error: a PEM block that is no certificate
            raise ConfigError(
                f"{ca_file!r} holds a certificate that does not parse ({type(e).__name__})",
                path="feed.kite.ca_file",
            ) from None
        if not roots:
            raise ConfigError(f"{ca_file!r} holds no PEM certificate", path="feed.kite.ca_file")
        trust = ssl.trustRootFromCertificates(roots)
    else:
        trust = ssl.platformTrust()
    return ssl.optionsForClientTLS(hostname, trustRoot=trust)


class _Ticker(KiteTicker):
    """KiteTicker that leaves text messages to `on_message` and verifies TLS (module docstring)."""

    tls = None    # the verifying TLS options for a wss:// root, built by KiteConnection

    def _parse_text_message(self, payload) -> None:
        return None

    def connect(self, threaded=False, disable_ssl_verification=False, proxy=None):
        """The SDK's connect with a verifying TLS context. Only dials: the reactor already runs
        (source.running_reactor); the arguments are the SDK's and are not used."""
        self._create_connection(self.socket_url, useragent=self._user_agent(), proxy=None,
                                headers={"X-Kite-Version": "3"})
        factory = self.factory
        context = (self.tls or tls_options(factory.host)) if factory.isSecure else None
        connectWS(factory, contextFactory=context, timeout=self.connect_timeout)


class KiteConnection:
    def __init__(
        self, source, number: int, tokens: list[int], api_key: str, access_token: str, options
    ):
        self.source, self.number, self.tokens = source, number, list(tokens)
        self.options = options
        self.ticker = _Ticker(api_key, access_token, root=options.root, reconnect=True,
                              reconnect_max_tries=options.reconnect_max_tries,
                              reconnect_max_delay=options.reconnect_max_delay_s,
                              connect_timeout=options.connect_timeout_s)
        if self.ticker.root.startswith("wss:"):
            # Built here, on the thread that opens the source, so a bad ca_file is a ConfigError
            # out of open() rather than an exception lost on the reactor thread.
            self.ticker.tls = tls_options(urlsplit(self.ticker.root).hostname or "",
                                          getattr(options, "ca_file", None))
        t = self.ticker
        t.on_open, t.on_message, t.on_close, t.on_error = (
            self._on_open,
            self._on_message,
            self._on_close,
            self._on_error,
        )
        t.on_noreconnect = self._on_noreconnect
        self.watchdog = Watchdog(options.watchdog_s)
        self.opens = 0
        self.is_open = False
        self.closed = threading.Event()   # set once shutdown() has seen the socket close
        self._shutting_down = False
        self._timer: LoopingCall | None = None

    def _fields(self, **more) -> dict:
        return {"fields": {"connection": self.number, "tokens": len(self.tokens), **more}}

    # -- lifecycle (reactor thread)
    # ------------------------------------------------------------------

    def start(self) -> None:
        self.ticker.connect(threaded=True)   # the reactor already runs, so this only dials
        factory = self.ticker.factory
        factory.initialDelay = factory.delay = self.options.reconnect_initial_s
        self._timer = LoopingCall(self._check_watchdog)
        self._timer.start(self.watchdog.poll_interval_s(), now=False)

    def shutdown(self) -> None:
        """Stop retrying and close cleanly; `closed` is set when the socket is gone."""
        self._shutting_down = True
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        self.ticker.stop_retry()
        if self.is_open:
            self.ticker.ws.sendClose(1000)
        else:
            self.closed.set()

    def abort(self) -> None:
        """The clean close took too long: drop the TCP connection."""
        if self.is_open and self.ticker.ws is not None:
            self.ticker.ws.dropConnection(abort=True)
        self.closed.set()

    # -- SDK callbacks (reactor thread)
    # ----------------------------------------------------------------

    def _on_open(self, ticker) -> None:
        self.is_open = True
        if self._shutting_down:          # the handshake finished after close() began
            ticker.ws.sendClose(1000)
            return
        reconnect = self.opens > 0
        self.opens += 1
        mode = self.options.mode
        if any(ticker.subscribed_tokens.get(t) != mode for t in self.tokens):
            # first open, or the SDK's resubscribe had nothing to send
            ticker.subscribe(self.tokens)
            ticker.set_mode(mode, self.tokens)
        self.source.on_opened(self, reconnect)
        self.watchdog.arm()
        log.info("kite ticker connection open", extra=self._fields(reconnect=reconnect, mode=mode))

    def _on_message(self, ticker, payload, is_binary) -> None:
        self.watchdog.feed()
        if is_binary:
            self.source.on_frame(payload)
        else:
            self.source.on_text(payload)

    def _on_close(self, ticker, code, reason) -> None:
        self.is_open = False
        self.watchdog.disarm()
        if self._shutting_down:
            self.closed.set()

    def _on_error(self, ticker, code, reason) -> None:
        if is_auth_failure(reason):
            ticker.stop_retry()   # retrying a refused token only gets the API key blocked
            self.source.fail(
                BrokerFatal(
                    "KiteTicker refused the api_key/access_token (HTTP 403 on the websocket "
                    "upgrade): the "
                    "access token is invalid or expired; log in to Kite again and set a fresh one",
                    code="TokenException",
                    http_status=403,
                )
            )
            return
        if not self._shutting_down:
            log.warning(
                "kite ticker connection lost",
                extra=self._fields(code=code, reason=str(reason)[:200]),
            )

    def _on_noreconnect(self, ticker) -> None:
        self.source.fail(BrokerRetryable(
            f"KiteTicker connection {self.number} gave up after {self.options.reconnect_max_tries} "
            "reconnect attempts; restart the feed to try again"))

    def _check_watchdog(self) -> None:
        if not self.watchdog.expired():
            return
        self.source.count("watchdog_trips")
        log.warning("kite ticker silent; dropping the connection to reconnect",
                    extra=self._fields(watchdog_s=self.watchdog.timeout_s))
        if self.ticker.ws is not None:
            self.ticker.ws.dropConnection(abort=True)
