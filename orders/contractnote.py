"""A trading day's charges as the broker bills them: per order, per scrip, rounded by statute.

Per fill, orders/fees.py keeps each charge exact. The contract note differs in three ways, all
computed here from the same FeeSchedule (so the figures can never drift apart):
  - STT is summed per scrip and book over the day and rounded to the nearest rupee, 50 paise up
    (support.zerodha.com, "How is the Securities Transaction Tax (STT) calculated?"); stamp duty
    likewise when a preset says so (no source confirmed it: both presets keep it to the paisa);
  - the DP charge is once per scrip per day of delivery sells, however many sell orders;
  - every other line is rounded to the paisa, half up, per scrip and book.
Brokerage stays per executed order (the cap applies per order). Zerodha's brokerage calculator shows
one buy and one sell order of one scrip, so its figures are `day_bill` of a two-fill day.
"""

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from orders.fees import Charges, FeeSchedule

LINES = ("brokerage", "stt", "exchange", "ipft", "sebi", "stamp", "dp", "gst")


@dataclass(frozen=True, slots=True)
class BilledFill:
    order_id: str
    instrument: int
    side: int          # +1 buy, -1 sell
    qty: int
    price: float
    product: str = "MIS"


def round_to(value: float, step: str) -> float:
    """Half-up rounding to `step` ("1" rupee, "0.01" paisa), on the decimal value as printed."""
    return float(Decimal(repr(value)).quantize(Decimal(step), rounding=ROUND_HALF_UP))


def day_bill(schedule: FeeSchedule, fills: list[BilledFill]) -> Charges:
    """The day's charges of `fills` (one IST day, in execution order), line by line, rounded."""
    groups: dict[tuple, dict[str, float]] = defaultdict(lambda: dict.fromkeys(LINES, 0.0))
    order_turnover: dict[str, float] = defaultdict(float)
    for f in fills:
        rates = schedule.book_rates(f.instrument, f.product)
        prior = order_turnover[f.order_id]
        order_turnover[f.order_id] += f.qty * f.price
        c = rates.charges(f.side, f.qty, f.price, prior)
        line = groups[(f.instrument, rates)]
        for name in ("brokerage", "stt", "exchange", "ipft", "sebi", "stamp"):
            line[name] += getattr(c, name)
        if c.dp:
            line["dp"] = c.dp                  # once per scrip per day, not per sell order
    total = dict.fromkeys(LINES, 0.0)
    for (_, rates), line in groups.items():
        line["gst"] = (line["brokerage"] + line["exchange"] + line["sebi"] + line["dp"]
                       + (line["ipft"] if rates.gst_on_ipft else 0.0)) * rates.gst_pct / 100.0
        for name in LINES:
            rupee = (name == "stt" and rates.stt_round_rupee) or (
                name == "stamp" and rates.stamp_round_rupee
            )
            total[name] += round_to(line[name], "1" if rupee else "0.01")
    return Charges(**{name: round_to(value, "0.01") for name, value in total.items()})
