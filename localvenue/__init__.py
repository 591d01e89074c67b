"""The rehearsal exchange: loopback servers that speak Kite's and Upstox's real wire formats and
fill orders with the paper broker's fill model, so the real adapters and feeds are tested, and
rehearsed (`broker.<name>.local_server: true`), against the brokers' own protocols without a broker.

One package for every piece of it (issue 13), named for the concept rather than "local*":

    venue.py          local_venue(config, run_dir) and LocalKiteVenue / LocalUpstoxVenue: a feed
                      server and an order server on the same sim prices; the supervisor starts one
                      for a rehearsal, tests host their own
    http.py           LocalRestServer: the HTTP half and failure switches every order server shares
    localbook.py      LocalBook: the paper book seen through a broker's order and trade numbering
    candles.py        deterministic made-up candles for the history routes
    kite/             server.py (Kite REST), routes.py, exchange.py (state, Kite JSON rows),
                      protocol.py (envelopes, errors), gtt.py (two-leg GTT), history.py (candles)
    upstox/           server.py (Upstox REST v2/v3), exchange.py, history.py
    feeds/            kite_ticker.py (KiteTicker binary websocket), upstox_feed.py (Market Data
                      Feed V3 and the portfolio stream), wsserver.py (the asyncio websocket loop
                      both share)

Layering: localvenue sits above the stages. It may import a stage's adapter modules (their wire
encoders, parsers, the paper broker, the LOCAL_* credentials the adapters accept for a local
server), but no stage imports localvenue (tests/test_layering.py): a stage reaches a venue only over
loopback, as it would the broker.
"""
