"""Upstox Market Data Feed V3: authorize call, subscription protocol, protobuf decoder and the live
source.

The SDK's streamers hard-code wss://api.upstox.com (brokers.md §0.4), so OTrade runs its own
websocket client and uses only the SDK's compiled protobuf module
(`upstox_client.feeder.proto.MarketDataFeedV3_pb2`). Import the live source from
`feed.sources.upstox.source`.
"""
