"""A poll owed its trade-book read (orders/brokers/live.py `_poll`, `_owed`) reports its order rows
late, after fills made since: every trade is reported once and before any order row that counts it,
and a filled quantity reported never shrinks — against the local Kite server through the SDK.

The owed rows are older than the trade book read with them: here the order filled 2 of 6 when its
row was read, 4 of 6 when the trade book was. The owed poll reports both trades, then the stale row
(2 filled); the next poll's fresh row (4 filled) needs no trade-book read and comes after them.
"""

from orders.brokers.base import BrokerOrder, BrokerTrade, OrderRequest
from tests.orders.brokers.kite.kite_support import make_kite  # noqa: F401 - fixture


def test_an_owed_poll_reports_trades_made_after_its_rows_once_and_first(make_kite):  # noqa: F811
    h = make_kite(api_per_sec=2, poll_interval_ms=0, partial_fill_qty=2)
    h.broker.place(OrderRequest("EOWED1", 0, "SBIN", "NSE", 1, 6, "MARKET"))
    h.tick(100.0)                                    # 2 of 6 filled
    h.broker.find_by_client_id("EOWED1")             # one request of the two this second
    h.clock.advance(0.1)
    assert h.broker.poll_events() == []              # the book read fits, the trade book not
    h.tick(100.0)                                    # 4 of 6 filled: after the owed rows were read
    reported = []
    for _ in range(4):
        h.clock.advance(1.05)
        reported += h.broker.poll_events()
    trades = [e for e in reported if isinstance(e, BrokerTrade)]
    assert sorted(t.qty for t in trades) == [2, 2]
    assert len({t.trade_id for t in trades}) == len(trades)          # each once
    seen, last_filled = 0, 0
    for e in reported:
        if isinstance(e, BrokerTrade):
            seen += e.qty
        elif isinstance(e, BrokerOrder) and e.client_order_id == "EOWED1":
            assert e.filled_qty <= seen                  # its trades came first
            assert e.filled_qty >= last_filled           # never shrinks
            last_filled = e.filled_qty
    assert last_filled == 4
