"""Indian charges for one execution, as the broker's contract note adds them up.

Per fill, with the rates of its book (segment and product, config/charges.py); every percentage is
of the fill's turnover (price x qty; for options the premium):
    brokerage   min(brokerage_per_order_inr, brokerage_pct %) -- capped per ORDER, not per fill;
                brokerage_pct 0 is a flat fee per order (options)
    STT         stt_buy_pct % on buys, stt_sell_pct % on sells
    exchange    the exchange's transaction charge (nse_txn_pct or bse_txn_pct %)
    IPFT        NSE's investor-protection levy, nse_ipft_per_crore_inr per crore (NSE only)
    SEBI        sebi_per_crore_inr per crore (1e7 rupees)
    stamp duty  stamp_buy_pct % on buys only
    DP          dp_per_scrip_inr on a delivery (CNC) sell, on the sell order's first fill
    GST         gst_pct % of (brokerage + exchange + SEBI (+ IPFT) + DP)

An order that fills in pieces pays brokerage on its cumulative turnover, so its fills together never
pay more than the per-order cap: each fill pays the cap's increase since the previous fill. Amounts
per fill are exact (not rounded): the contract note rounds per scrip per day (STT to the rupee),
which a single fill cannot know; orders/contractnote.py computes the day's rounded bill, and the
exact sum is within 50 paise a scrip-day of it. The DP charge is per scrip per DAY at the broker;
per fill it is charged once per CNC sell order, which overstates it when one scrip is sold in
several orders a day (the engine places MIS only today). Imports only the standard library and
config.
"""

from dataclasses import dataclass

from config.charges import BOOKS, PRESETS, check_overrides, preset_for, segment_of

CRORE_INR = 10_000_000.0
INTRADAY_PRODUCTS = ("MIS", "I", "CO", "BO")   # Kite MIS/CO/BO, Upstox I: charged as intraday


@dataclass(frozen=True, slots=True)
class Charges:
    """One fill's charges by line, in rupees."""
    brokerage: float = 0.0
    stt: float = 0.0
    exchange: float = 0.0
    ipft: float = 0.0
    sebi: float = 0.0
    stamp: float = 0.0
    dp: float = 0.0
    gst: float = 0.0

    @property
    def total(self) -> float:
        return (self.brokerage + self.stt + self.exchange + self.ipft + self.sebi + self.stamp
                + self.dp + self.gst)


@dataclass(frozen=True, slots=True)
class BookRates:
    """The figures of one book on one exchange (a row of config/charges.py, exchange resolved)."""
    brokerage_per_order_inr: float
    brokerage_pct: float
    stt_buy_pct: float
    stt_sell_pct: float
    stamp_buy_pct: float
    txn_pct: float
    ipft_per_crore_inr: float
    sebi_per_crore_inr: float
    gst_pct: float
    gst_on_ipft: bool
    dp_per_scrip_inr: float
    stt_round_rupee: bool
    stamp_round_rupee: bool

    @classmethod
    def of(cls, figures: dict[str, float], exchange: str) -> "BookRates":
        nse = exchange in ("NSE", "NFO")
        return cls(
            figures["brokerage_per_order_inr"],
            figures["brokerage_pct"],
            figures["stt_buy_pct"],
            figures["stt_sell_pct"],
            figures["stamp_buy_pct"],
            figures["nse_txn_pct"] if nse else figures["bse_txn_pct"],
            figures["nse_ipft_per_crore_inr"] if nse else 0.0,
            figures["sebi_per_crore_inr"],
            figures["gst_pct"],
            bool(figures["gst_on_ipft"]),
            figures["dp_per_scrip_inr"],
            bool(figures["stt_round_rupee"]),
            bool(figures["stamp_round_rupee"]),
        )

    def brokerage(self, order_turnover_inr: float) -> float:
        """Brokerage on an order's whole turnover so far."""
        if self.brokerage_pct == 0.0:
            return self.brokerage_per_order_inr if order_turnover_inr > 0 else 0.0
        return min(self.brokerage_per_order_inr, order_turnover_inr * self.brokerage_pct / 100.0)

    def charges(
        self, side: int, qty: int, price: float, prior_turnover_inr: float = 0.0
    ) -> Charges:
        turnover = qty * price
        brokerage = self.brokerage(prior_turnover_inr + turnover) - self.brokerage(
            prior_turnover_inr
        )
        exchange = turnover * self.txn_pct / 100.0
        ipft = turnover * self.ipft_per_crore_inr / CRORE_INR
        sebi = turnover * self.sebi_per_crore_inr / CRORE_INR
        dp = self.dp_per_scrip_inr if side < 0 and prior_turnover_inr == 0.0 else 0.0
        taxable = brokerage + exchange + sebi + dp + (ipft if self.gst_on_ipft else 0.0)
        stt_pct = self.stt_sell_pct if side < 0 else self.stt_buy_pct
        stamp = turnover * self.stamp_buy_pct / 100.0 if side > 0 else 0.0
        return Charges(brokerage=brokerage, stt=turnover * stt_pct / 100.0, exchange=exchange,
                       ipft=ipft, sebi=sebi, stamp=stamp, dp=dp, gst=taxable * self.gst_pct / 100.0)


class FeeSchedule:
    """Charges per fill with the book of the fill's instrument and product.

    Parameters
    ----------
    preset : "zerodha" or "upstox" (config/charges.py). No default: a run's comes from its config
        (`from_config`: fees.preset, else the broker's own, config.charges.preset_for).
    instruments : INSTRUMENT_DTYPE rows (their exchange and symbol give each one's segment), or
        None: every instrument is NSE cash equity.
    overrides : {book: {field: figure}} replacing figures of the preset (config `fees.overrides`).

    Raises
    ------
    ValueError
        For an unknown preset or override, or an instrument whose charges are not modelled.
    """

    def __init__(self, preset: str, instruments=None,
                 overrides: dict[str, dict[str, float]] | None = None):
        if preset not in PRESETS:
            raise ValueError(f"unknown charges preset {preset!r} (one of {', '.join(PRESETS)})")
        check_overrides(overrides or {})
        self.preset = preset
        figures = {
            book: {**PRESETS[preset][book], **(overrides or {}).get(book, {})} for book in BOOKS
        }
        self.rates = {(exchange, book): BookRates.of(figures[book], exchange)
                      for exchange in ("NSE", "BSE", "NFO", "BFO") for book in BOOKS}
        self._instruments: list[tuple[str, str]] = []    # instrument -> (exchange, segment)
        for row in [] if instruments is None else instruments:
            exchange, symbol = row["exchange"].decode(), row["symbol"].decode()
            self._instruments.append((exchange, segment_of(exchange, symbol)))

    @classmethod
    def from_config(cls, config, instruments=None) -> "FeeSchedule":
        """From a `config.schema.Config`: its `fees` section, its broker choosing the preset."""
        fees = config.fees
        return cls(preset_for(config.broker.name, fees.preset), instruments, fees.overrides)

    def book_rates(self, instrument: int = -1, product: str = "MIS") -> BookRates:
        """The rates a fill of `instrument` (-1 or unknown: NSE cash) with `product` is charged."""
        exchange, segment = ("NSE", "EQ")
        if 0 <= instrument < len(self._instruments):
            exchange, segment = self._instruments[instrument]
        if segment == "EQ":
            book = "EQ_INTRADAY" if product in INTRADAY_PRODUCTS else "EQ_DELIVERY"
        else:
            book = segment
        return self.rates[(exchange, book)]

    def breakdown(self, side: int, qty: int, price: float, prior_turnover_inr: float = 0.0,
                  instrument: int = -1, product: str = "MIS") -> Charges:
        """One fill's charges by line (see the module docstring)."""
        return self.book_rates(instrument, product).charges(side, qty, price, prior_turnover_inr)

    def fill_charges(self, side: int, qty: int, price: float, prior_turnover_inr: float = 0.0,
                     instrument: int = -1, product: str = "MIS") -> float:
        """Total charges in rupees for one fill of `qty` at `price`.

        Parameters
        ----------
        side : +1 buy, -1 sell.
        prior_turnover_inr : turnover of the same order's earlier fills (0 for its first fill), so
            the brokerage cap applies to the order as a whole.
        instrument : the fill's instrument (an index into the rows given at construction).
        product : the order's product (MIS: intraday; CNC, NRML, D: carried).
        """
        return self.breakdown(side, qty, price, prior_turnover_inr, instrument, product).total
