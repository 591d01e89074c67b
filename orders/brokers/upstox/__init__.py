"""Upstox: the Broker adapter (broker.py) over upstox-python-sdk, and a local Upstox REST server
(localserver.py) that matches with the paper fill model, for tests and demos."""
