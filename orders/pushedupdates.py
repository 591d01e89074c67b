"""Order updates a live broker pushes (Kite's ticker socket, which feed owns), on their way to the
broker adapter.

They arrive as BrokerOrderUpdate on feed's PUB socket and go straight to the adapter
(`on_order_update`); the same step's `poll_broker` turns them into events through the adapter's
polling diff, so they are deduplicated where polled states are, and polling stays the safety net.
An update of another broker than ours is counted and ignored.
"""

from __future__ import annotations

from common import topics
from common.bus import Subscriber
from common.messages import BrokerOrderUpdate

# Stage counter <- the broker's order_update_counts() key.
UPDATE_COUNTERS = (("updates_applied", "applied"), ("updates_duplicate", "duplicate"),
                   ("updates_ignored", "ignored"), ("update_fills", "fills"))


class PushedUpdates:
    """Parameters
    ----------
    zmq : the stage's context; feed : feed's PUB endpoint; broker : our adapter;
    broker_name : config.broker.name (the topic, and what an update must name to be ours).
    """

    def __init__(self, zmq, feed: str, broker, broker_name: str):
        self.broker, self.broker_name = broker, broker_name
        self.subscriber = Subscriber(zmq, feed, [topics.broker_order_topic(broker_name)])
        self.foreign = 0              # BrokerOrderUpdates of another broker than ours

    @property
    def socket(self):
        return self.subscriber.socket

    def take(self) -> None:
        """Hand every update waiting to the broker; this step's poll_broker reports what they
        change."""
        while (item := self.subscriber.recv_nowait()) is not None:
            msg = item[1]
            if isinstance(msg, BrokerOrderUpdate) and msg.broker == self.broker_name:
                self.broker.on_order_update(msg.payload)
            else:
                self.foreign += 1

    def counts(self) -> dict[str, int]:
        """The stage counters: updates applied, duplicate, ignored (ours the adapter could not use,
        and every other broker's), fills."""
        counts = self.broker.order_update_counts()
        counts["ignored"] = counts.get("ignored", 0) + self.foreign
        return {counter: counts.get(key, 0) for counter, key in UPDATE_COUNTERS}

    def close(self) -> None:
        self.subscriber.close()
