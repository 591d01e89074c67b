"""The local venue the supervisor runs for a rehearsal (`broker.<name>.local_server` with no
address): a feed server and an order server of one broker on loopback, moving on the same sim
prices.

Moved here from supervisor.py (issue 13): the supervisor only asks `local_venue(config, run_dir)`
for a venue, starts it before the stages and stops it after them. Tests that need a venue of their
own (the chaos harness) build it the same way.
"""

import logging
import os
import time
from typing import TYPE_CHECKING

import numpy as np

from common.dtypes import TICK_DTYPE
from common.instruments import instrument_rows

if TYPE_CHECKING:      # the servers are imported when a venue starts
    from localvenue.feeds.wsserver import LocalWsServer
    from localvenue.http import LocalRestServer


def local_venue(config, run_dir: str):
    """The local venue this configuration asks the supervisor to run, or None.

    `broker.<name>.local_server` with no address configured (broker.kite.root, broker.upstox.host)
    starts one here. With an address, the stages use the local server already listening there (tests
    run their own, to work its failure switches) and the supervisor starts nothing.
    """
    broker = config.broker
    if broker.name == "kite" and broker.kite.local_server and broker.kite.root is None:
        return LocalKiteVenue(config, run_dir)
    if broker.name == "upstox" and broker.upstox.local_server and broker.upstox.host is None:
        return LocalUpstoxVenue(config, run_dir)
    return None


class LocalVenue:
    """A local broker "exchange" for rehearsals: a feed server streams sim prices in the broker's
    wire format and an order server takes orders in its REST format and fills them on the same
    prices with the paper broker's fill model. Runs on threads of its host process (the supervisor,
    or a test), so a stage crash never takes the venue with it; the stages reach it only over
    loopback, as they would the broker. Subclasses name the two servers and where the config points
    at them.
    """

    TICKS_PER_INTERVAL = 40
    INTERVAL_S = 0.05

    def __init__(self, config, run_dir: str):
        import msgspec

        from feed.sources.sim import SimSource

        self.config = config
        self.run_dir = run_dir
        self.rows = instrument_rows(config)
        # The venue sets the pace (TICKS_PER_INTERVAL every INTERVAL_S), so its sim runs unpaced.
        # Each profile spells that its own way and the schema refuses the other's field: a realistic
        # config (the default) given tick_rate_hz failed here before the venue started.
        unpaced = {"tick_rate_hz": 0.0} if config.feed.sim.profile == "stress" else {"speed": 0.0}
        sim = msgspec.structs.replace(config.feed.sim, max_ticks=None, **unpaced)
        self.sim = SimSource(sim, [i.ref_price for i in config.instruments])
        self.sim.open(_TickSizes(self.rows))
        self.buf = np.zeros(self.TICKS_PER_INTERVAL, dtype=TICK_DTYPE)
        self.seq = 0
        self.rest: LocalRestServer | None = None
        self.feed_server: LocalWsServer | None = None
        import threading

        # advance() runs on the feed server's and the market's thread
        self._lock = threading.Lock()
        self._last_advance = 0.0
        self._closed = threading.Event()
        self._market = None
        # Set when something else hands the order server its prices (a test feeding it the ticks its
        # pipeline trades on): the venue's own sim then never trades, so no order fills at a price,
        # or a time, the pipeline never saw.
        self.prices_from_outside = False

    def advance(self) -> np.ndarray:
        """One interval of sim ticks (seq, wall-clock ts), already matched by the order server."""
        with self._lock:
            n = self.sim.read(self.buf, timeout_s=0.0)
            rows = self.buf[:n].copy()
            rows["seq"] = self.seq + 1 + np.arange(n)
            self.seq += n
            rows["ts_event_ns"] = time.time_ns()
            if self.rest is None:
                raise RuntimeError("the local venue is not started")
            self.rest.on_ticks(rows)
            self._last_advance = time.monotonic()
            return rows

    def _keep_trading(self) -> None:
        """The market trades whether or not our feed is connected: with no connection asking (the
        feed stage stopped first at a stop), advance it here, so the stop's cancels and MARKET
        closes are matched as at a real exchange (issue 11.3)."""
        while not self._closed.wait(self.INTERVAL_S):
            if (not self.prices_from_outside
                    and time.monotonic() - self._last_advance >= 2 * self.INTERVAL_S):
                self.advance()

    def start(self):
        """Start both servers; return the config with the stages pointed at them."""
        logging.getLogger("websockets").setLevel(logging.WARNING)  # not a line per connection
        self.rest = self._order_server(
            os.path.join(self.run_dir, f"venue_{self.name}.jsonl")
        ).start()
        self.feed_server = self._feed_server().start()
        import threading

        self._market = threading.Thread(
            target=self._keep_trading, name="local-venue-market", daemon=True
        )
        self._market.start()
        return self._pointed(self.config)

    def stop(self) -> None:
        self._closed.set()
        if self._market is not None:
            self._market.join(timeout=5)
        for server in (self.feed_server, self.rest):
            if server is not None:
                server.stop()


class LocalKiteVenue(LocalVenue):
    """broker.kite.local_server: KiteTicker binary frames out, Kite REST orders in."""

    name = "kite"

    def _order_server(self, journal: str):
        from localvenue.kite.server import KiteLocalServer

        return KiteLocalServer(instruments=self.rows, paper_journal=journal)

    def _feed_server(self):
        from localvenue.feeds.kite_ticker import KiteTickerServer
        from orders.brokers.kite.credentials import LOCAL_ACCESS_TOKEN

        self.ticker = KiteTickerServer(access_token=LOCAL_ACCESS_TOKEN, tick_provider=self._provide,
                                       interval_s=self.INTERVAL_S)
        # as Kite: updates on the ticker
        self.rest.exchange.on_order_change = self.ticker.send_order_update
        return self.ticker

    def _provide(self, tokens):
        """Called by the ticker server each interval: advance the sim, fill orders, return
        quotes."""
        from feed.sources.kite.frames import DepthLevel, KiteQuote

        rows, wanted, now_s = self.advance(), set(tokens), int(time.time())
        token_of = self.rows["token"]
        return [
            KiteQuote(
                token=int(token_of[r["instrument"]]),
                last_price=float(r["price"]),
                last_qty=int(r["qty"]),
                volume=int(r["volume"]),
                exchange_ts=now_s,
                last_trade_time=now_s,
                bids=(DepthLevel(float(r["bid"]), 10),),
                asks=(DepthLevel(float(r["ask"]), 10),),
            )
            for r in rows
            if int(token_of[r["instrument"]]) in wanted
        ]

    def _pointed(self, cfg):
        import msgspec

        feed = msgspec.structs.replace(
            cfg.feed, kite=msgspec.structs.replace(cfg.feed.kite, root=self.ticker.url)
        )
        broker = msgspec.structs.replace(
            cfg.broker, kite=msgspec.structs.replace(cfg.broker.kite, root=self.rest.url)
        )
        return msgspec.structs.replace(cfg, feed=feed, broker=broker)


class LocalUpstoxVenue(LocalVenue):
    """broker.upstox.local_server: Market Data Feed V3 (authorize + protobuf websocket) and the
    portfolio stream's order updates (authorize + JSON websocket) out, Upstox REST orders in. The
    order server is both host and order_host (the SDK picks one by path); the feeds' authorize calls
    go to feed.upstox.host. Both take the local access token."""

    name = "upstox"

    def _order_server(self, journal: str):
        from localvenue.upstox.server import UpstoxLocalServer

        return UpstoxLocalServer(instruments=self.rows, paper_journal=journal)

    def _feed_server(self):
        from localvenue.feeds.upstox_feed import UpstoxFeedServer
        from orders.brokers.upstox.credentials import LOCAL_ACCESS_TOKEN

        server = UpstoxFeedServer(access_token=LOCAL_ACCESS_TOKEN, tick_provider=self._provide,
                                  interval_s=self.INTERVAL_S)
        # as Upstox: the portfolio stream
        self.rest.exchange.on_order_change = server.send_order_update
        return server

    def _provide(self, keys):
        """Called by the feed server per interval (and per subscription): one quote per instrument,
        its last tick of the interval (a feed message holds each key once)."""
        from feed.sources.upstox.encode import UpstoxQuote

        rows, wanted, now_ms = self.advance(), set(keys), time.time_ns() // 1_000_000
        last = {int(r["instrument"]): r for r in rows}
        quotes = [
            UpstoxQuote(
                key=self.rows["broker_key"][i].decode(),
                ltp=float(r["price"]),
                ltt_ms=now_ms,
                ltq=int(r["qty"]),
                bid=float(r["bid"]),
                ask=float(r["ask"]),
                bid_qty=10,
                ask_qty=10,
                volume=int(r["volume"]),
            )
            for i, r in last.items()
        ]
        return [q for q in quotes if q.key in wanted]

    def _pointed(self, cfg):
        import msgspec

        rest = self.rest.url
        feed = msgspec.structs.replace(cfg.feed, upstox=msgspec.structs.replace(cfg.feed.upstox,
                                                                                host=self.feed_server.url))
        broker = msgspec.structs.replace(
            cfg.broker,
            upstox=msgspec.structs.replace(cfg.broker.upstox, host=rest, order_host=rest),
        )
        return msgspec.structs.replace(cfg, feed=feed, broker=broker)


class _TickSizes:
    def __init__(self, rows):
        self.rows = rows
