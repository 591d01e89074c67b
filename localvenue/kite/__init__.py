"""The local Kite venue's order side: Kite's REST format on loopback (server.py is the entry
point)."""
