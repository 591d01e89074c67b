"""Broker history: candles from Kite or Upstox through their official SDKs, kept as Parquet,
replayable.

    python -m feed.history kite SBIN=779521 --from 2024-01-01 --to 2024-05-31
        --interval minute --out data/hist
    python -m feed.history to-replay data/hist --interval minute --out data/sbin.parquet

Not part of the feed stage's run loop: a research tool that lives beside the sources because it
speaks the same brokers. The pieces, by concept:

    plan.py       each broker's per-call window and rate limit; the missing days cut into calls
    ratelimit.py  a blocking sliding-window rate limiter
    kite.py       KiteConnect.historical_data, failures classified as the order path does
    upstox.py     HistoryV3Api (historical candle V3), the same
    candles.py    raw candle rows checked, malformed ones counted by reason and named
    store.py      DIR/interval=/symbol=/date=/candles.parquet, atomic writes, the empty-days ledger
    download.py   plan → throttle → fetch (backoff on 429/5xx, stop on a refused token) → store
    ticks.py      a history directory → a replay file, each candle four ticks (the rule is there)
    progress.py   the terminal progress bar
    __main__.py   the command line
"""
