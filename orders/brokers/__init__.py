"""Brokers behind one interface (orders/brokers/base.py): paper (default), kite, upstox."""

from __future__ import annotations

import os

from common import rundir


def make_broker(config, secrets, instruments, state_dir: str):
    """The configured broker over `instruments` (a common.instruments.InstrumentTable). Live SDKs
    are imported only when chosen. The paper broker's book lives in `state_dir` (the account's
    day)."""
    name = config.broker.name
    if name == "paper":
        from orders.brokers.paper.broker import PaperBroker

        paper = config.broker.paper
        return PaperBroker(
            os.path.join(state_dir, rundir.PAPER_JOURNAL),
            instruments.rows,
            slippage_ticks=paper.slippage_ticks,
            fsync=config.journal.fsync != "never",
        )
    if name == "kite":
        from orders.brokers.kite.broker import KiteBroker

        return KiteBroker.from_config(config, secrets, instruments)
    if name == "upstox":
        from orders.brokers.upstox.broker import UpstoxBroker

        return UpstoxBroker.from_config(config, secrets, instruments)
    raise ValueError(f"unknown broker {name!r}")
