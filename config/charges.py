"""Every charge figure OTrade bills a fill with: one table, per broker preset and book.

A *book* is what decides the rates of a fill: the segment (cash equity, futures, options) and, in
cash, the product (MIS intraday or CNC delivery). F&O charges do not depend on the product (NRML and
MIS pay the same). Percentages are of the fill's turnover (price x qty; for options the premium
turnover); `*_per_crore_inr` are rupees per 1e7 rupees of turnover.

Sources, read 2026-12-07 (figures may change: check the broker's page before relying on one):
  [Z]    Zerodha charges table (zerodha.com/charges), as reproduced in a 2026 copy of the page's
         table: equity/F&O brokerage, STT with the 1 Apr 2026 F&O rates, transaction charges NSE
         0.00307 % / BSE 0.00375 % cash, NSE 0.00183 % futures, NSE 0.03553 % / BSE 0.0325 % options
         premium, GST on brokerage + SEBI + transaction charges, SEBI 10/crore, stamp duty.
  [NSE]  NSE circular FA73061 (27 Feb 2026, from 1 Mar 2026): the cash segment's 307 per crore is
         split exchange 306.99 + IPFT 0.01 (before: 297 + 10); futures 173 + IPFT 10, options 3503 +
         IPFT 50 per crore of premium. Zerodha's 0.00307 / 0.00183 / 0.03553 % are these sums: it
         folds IPFT into its transaction line and charges GST on it. OTrade keeps the issue's split
         (exchange 0.00297 % + IPFT 10/crore): the total, and so every bill, is the same.
  [STT]  support.zerodha.com ".../how-is-the-securities-transaction-tax-stt-calculated": STT is
         rounded to the nearest rupee (50 paise and up round up), per scrip per contract note.
         F&O STT from 1 Apr 2026 (Budget 2026): futures 0.05 % of sell turnover, options 0.15 % of
         sell premium (cleartax.in/s/securities-transaction-tax-stt; the [Z] table agrees).
  [ZDP]  support.zerodha.com ".../dp-charges-for-btst-trades": DP 13 + 18 % GST per scrip per day
         of sells from the demat (12.75 for a woman first holder: not modelled).
  [U]    Upstox help centre "How are the charges calculated?" (help.upstox.com article 257195):
         brokerage 20 or 2.5 % whichever lower on delivery, 20 or 0.05 % on intraday and futures,
         flat 20 on options; GST on brokerage + transaction + SEBI + DP charges. CONFLICT: a copy of
         upstox.com/brokerage-charges says intraday 20 or 0.1 % and delivery flat 20 -- UNVERIFIED
         which is current; OTrade uses the help centre's figures.
  [UIP]  help.upstox.com article 260397 "What are IPFT charges?": IPFT 0.10 per lakh (10/crore)
         cash and futures, 0.50 per lakh (50/crore) options premium, NSE only. It says "GST is not
         applicable to IPFT" while Upstox's pricing page says GST on "transaction charges + IPFT":
         CONFLICT, UNVERIFIED; OTrade charges GST on IPFT for both presets (as NSE folds it
         into 307).
  [UDP]  upstox.com help-center ".../11560-dp-transaction-charges-2": DP 18.5 + 18 % GST per scrip.
  BSE futures 0 and BSE options 0.0325 % come from [Z]; BSE cash 0.00375 % is the rate for group
  A/B scrips (other groups pay more: not modelled). Stamp duty rounding: no source found that says
  the contract note rounds stamp duty to the rupee, so it is kept to the paisa (UNCONFIRMED).
"""

BOOKS = ("EQ_INTRADAY", "EQ_DELIVERY", "FUT", "OPT")
# paper: config fees.preset, default zerodha
PRESETS_BY_BROKER = {"kite": "zerodha", "upstox": "upstox"}
DEFAULT_PRESET = "zerodha"

# Statutory and exchange charges: the same at every broker. (buy-side STT, sell-side STT, stamp on
# buys.)
_STATUTORY = {
    # [Z]
    "EQ_INTRADAY": {"stt_buy_pct": 0.0, "stt_sell_pct": 0.025, "stamp_buy_pct": 0.003,
                    "nse_txn_pct": 0.00297, "bse_txn_pct": 0.00375, "nse_ipft_per_crore_inr": 10.0},
    # [Z]
    "EQ_DELIVERY": {"stt_buy_pct": 0.1, "stt_sell_pct": 0.1, "stamp_buy_pct": 0.015,
                    "nse_txn_pct": 0.00297, "bse_txn_pct": 0.00375, "nse_ipft_per_crore_inr": 10.0},
    # [Z][STT]
    "FUT": {"stt_buy_pct": 0.0, "stt_sell_pct": 0.05, "stamp_buy_pct": 0.002,
            "nse_txn_pct": 0.00173, "bse_txn_pct": 0.0, "nse_ipft_per_crore_inr": 10.0},
    # [Z][STT]
    "OPT": {"stt_buy_pct": 0.0, "stt_sell_pct": 0.15, "stamp_buy_pct": 0.003,
            "nse_txn_pct": 0.03503, "bse_txn_pct": 0.0325, "nse_ipft_per_crore_inr": 50.0},
}
_COMMON = {"sebi_per_crore_inr": 10.0, "gst_pct": 18.0, "gst_on_ipft": 1.0,  # [Z][UIP]
           # [STT]; stamp UNCONFIRMED
           "stt_round_rupee": 1.0, "stamp_round_rupee": 0.0}

# Brokerage per executed order: min(flat, pct % of the order's turnover); pct 0 means the flat fee.
_BROKERAGE = {
    # [Z]
    "zerodha": {"EQ_INTRADAY": (20.0, 0.03), "EQ_DELIVERY": (0.0, 0.0),
                "FUT": (20.0, 0.03), "OPT": (20.0, 0.0)},
    # [U]
    "upstox": {"EQ_INTRADAY": (20.0, 0.05), "EQ_DELIVERY": (20.0, 2.5),
               "FUT": (20.0, 0.05), "OPT": (20.0, 0.0)},
}
_DP_PER_SCRIP_INR = {"zerodha": 13.0, "upstox": 18.5}   # + GST, CNC sells only [ZDP] [UDP]


def _book(preset: str, book: str) -> dict[str, float]:
    flat, pct = _BROKERAGE[preset][book]
    dp = _DP_PER_SCRIP_INR[preset] if book == "EQ_DELIVERY" else 0.0
    return {"brokerage_per_order_inr": flat, "brokerage_pct": pct, **_STATUTORY[book], **_COMMON,
            "dp_per_scrip_inr": dp}


# THE table: PRESETS[preset][book][field] -> figure. config `fees.overrides` replaces single
# figures.
PRESETS = {preset: {book: _book(preset, book) for book in BOOKS} for preset in _BROKERAGE}
FIELDS = tuple(PRESETS[DEFAULT_PRESET]["EQ_INTRADAY"])


def preset_for(broker_name: str, preset: str | None) -> str:
    """The preset a run charges with: the configured one, else the broker's own (paper: zerodha)."""
    return preset or PRESETS_BY_BROKER.get(broker_name, DEFAULT_PRESET)


def check_overrides(overrides: dict[str, dict[str, float]]) -> None:
    """Raise ValueError("overrides.<book>.<field>: why") for an unknown book/field or a bad
    figure."""
    for book, figures in overrides.items():
        if book not in BOOKS:
            raise ValueError(f"overrides.{book}: unknown book (one of {', '.join(BOOKS)})")
        for field, value in figures.items():
            if field not in FIELDS:
                raise ValueError(
                    f"overrides.{book}.{field}: unknown field (one of {', '.join(FIELDS)})"
                )
            if not value >= 0:
                raise ValueError(f"overrides.{book}.{field}: {value} is negative")


def segment_of(exchange: str, symbol: str) -> str:
    """"EQ", "FUT" or "OPT" for an instrument, or ValueError when its charges are not modelled.

    NSE/BSE rows are cash equity. NFO/BFO rows carry Kite's trading symbol, which ends in CE or PE
    for an option and FUT for a future (e.g. NIFTY26DEC24000CE, NIFTY26DECFUT); the instrument
    table has no instrument-type column, so the symbol is what tells them apart.
    """
    if exchange in ("NSE", "BSE"):
        return "EQ"
    if exchange in ("NFO", "BFO"):
        if symbol.endswith(("CE", "PE")):
            return "OPT"
        if symbol.endswith("FUT"):
            return "FUT"
        raise ValueError(f"{exchange} {symbol!r}: cannot tell a future from an option "
                         f"(a derivative's trading symbol must end in FUT, CE or PE)")
    raise ValueError(f"{exchange} {symbol!r}: charges for {exchange} are not modelled "
                     f"(NSE, BSE, NFO and BFO are)")
