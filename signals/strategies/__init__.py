"""The strategy kinds OTrade knows, by the `kind` name config uses. Adding one is one line here."""

from signals.strategies.ma_crossover import MACrossover
from signals.strategies.vwap_revert import VWAPRevert

STRATEGIES = {
    MACrossover.kind: MACrossover,
    VWAPRevert.kind: VWAPRevert,
}
