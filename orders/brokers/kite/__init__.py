"""Zerodha Kite Connect: the order adapter (broker.py). Its rehearsal server, which speaks Kite's
REST format on loopback, is not part of the adapter: localvenue/kite/server.py.

    from orders.brokers.kite.broker import KiteBroker
"""
