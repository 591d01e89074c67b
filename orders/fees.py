"""Indian intraday equity charges for one execution, as a broker's contract note adds them up.

Per executed order (every percentage is of the turnover, price x qty):
    brokerage   min(brokerage_per_order_inr, brokerage_pct %) -- capped per ORDER, not per fill
    STT         stt_sell_pct % on the sell side only
    exchange    exchange_txn_pct % (NSE transaction charges)
    SEBI        sebi_per_crore_inr per crore (1e7 rupees) of turnover
    GST         gst_pct % of (brokerage + exchange + SEBI)
    stamp duty  stamp_buy_pct % on the buy side only

An order that fills in pieces pays brokerage on its cumulative turnover, so its fills together never
pay more than the per-order cap: each fill pays the cap's increase since the previous fill. Amounts
are not rounded (contract notes round per trade day; OTrade keeps the exact figure, which is also
what makes the sum of fills equal the charge on the whole order). Parameters come from
config.broker.paper. Imports only the standard library.
"""

from dataclasses import dataclass

CRORE_INR = 10_000_000.0


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    brokerage_per_order_inr: float = 20.0
    brokerage_pct: float = 0.03
    stt_sell_pct: float = 0.025
    exchange_txn_pct: float = 0.00297
    gst_pct: float = 18.0
    sebi_per_crore_inr: float = 10.0
    stamp_buy_pct: float = 0.003

    @classmethod
    def from_config(cls, paper) -> "FeeSchedule":
        """From config.broker.paper (a `config.schema.PaperBroker` or anything with its fields)."""
        return cls(
            brokerage_per_order_inr=paper.brokerage_per_order_inr,
            brokerage_pct=paper.brokerage_pct,
            stt_sell_pct=paper.stt_sell_pct,
            exchange_txn_pct=paper.exchange_txn_pct,
            gst_pct=paper.gst_pct,
            sebi_per_crore_inr=paper.sebi_per_crore_inr,
            stamp_buy_pct=paper.stamp_buy_pct,
        )

    def brokerage(self, order_turnover_inr: float) -> float:
        """Brokerage on an order's whole turnover so far."""
        return min(self.brokerage_per_order_inr, order_turnover_inr * self.brokerage_pct / 100.0)

    def fill_charges(self, side: int, qty: int, price: float,
                     prior_turnover_inr: float = 0.0) -> float:
        """Total charges in rupees for one fill of `qty` at `price`.

        Parameters
        ----------
        side : +1 buy, -1 sell.
        prior_turnover_inr : turnover of the same order's earlier fills (0 for its first fill), so
        the
            brokerage cap applies to the order as a whole.
        """
        turnover = qty * price
        before = self.brokerage(prior_turnover_inr)
        brokerage = self.brokerage(prior_turnover_inr + turnover) - before
        exchange = turnover * self.exchange_txn_pct / 100.0
        sebi = turnover * self.sebi_per_crore_inr / CRORE_INR
        gst = (brokerage + exchange + sebi) * self.gst_pct / 100.0
        stt = turnover * self.stt_sell_pct / 100.0 if side < 0 else 0.0
        stamp = turnover * self.stamp_buy_pct / 100.0 if side > 0 else 0.0
        return brokerage + exchange + sebi + gst + stt + stamp
