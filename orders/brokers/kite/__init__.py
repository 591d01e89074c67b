"""Zerodha Kite Connect: the order adapter (broker.py) and a local Kite REST server (localserver.py).

    from orders.brokers.kite.broker import KiteBroker
    from orders.brokers.kite.localserver import KiteLocalServer
"""
