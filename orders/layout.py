"""Shared-memory segments the orders stage needs (the supervisor creates them, zero-filled)."""

from orders.marketstore import segment_bytes


def segment_sizes(config) -> dict[str, int]:
    return {"orders_market": segment_bytes(len(config.instruments))}
