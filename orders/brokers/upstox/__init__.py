"""Upstox: the Broker adapter (broker.py) over upstox-python-sdk. Its rehearsal server, which
matches with the paper fill model, is not part of the adapter: localvenue/upstox/server.py."""
