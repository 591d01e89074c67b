"""Tick sources, chosen by `feed.source` in the config."""

from __future__ import annotations

import numpy as np


def make_source(config, secrets):
    """Build the configured source (imports only the one chosen: live SDKs are heavy)."""
    feed = config.feed
    if feed.source == "sim":
        from feed.sources.sim import SimSource

        return SimSource(
            feed.sim, np.array([i.ref_price for i in config.instruments], dtype=np.float64)
        )
    if feed.source == "replay":
        from feed.sources.replay import ReplaySource

        return ReplaySource(feed.replay.path, feed.replay.format, feed.replay.speed, feed.sanity)
    if feed.source == "kite":
        from feed.sources.kite.source import KiteSource

        return KiteSource.from_config(config, secrets)
    if feed.source == "upstox":
        from feed.sources.upstox.source import UpstoxSource

        return UpstoxSource.from_config(config, secrets)
    raise ValueError(f"unknown feed source {feed.source!r}")


def make_order_source(config, secrets, source):
    """Where the user's pushed order updates come from, or None: the tick source itself when its
    socket carries them (Kite's ticker), else Upstox's portfolio stream when the broker is Upstox
    and feed.upstox.order_updates is on (whatever the tick source: sim, replay, upstox)."""
    if hasattr(source, "order_updates"):
        return source
    if config.broker.name == "upstox" and config.feed.upstox.order_updates:
        from feed.sources.upstox.orderstream import UpstoxOrderStream

        return UpstoxOrderStream.from_config(config, secrets)
    return None
