"""The local Upstox venue's order side: Upstox's REST format on loopback (server.py is the entry
point)."""
