"""Zerodha KiteTicker feed: binary frame decoder, frame builder, protocol messages and the live
source.

Import the live source from `feed.sources.kite.source` (it pulls in Twisted); the decoder and the
frame builder import only numpy and numba.
"""
