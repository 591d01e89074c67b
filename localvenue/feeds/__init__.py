"""The local venues' market-data side: websocket servers in KiteTicker's and Upstox's feed
formats."""
