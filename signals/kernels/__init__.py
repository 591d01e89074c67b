"""numba kernels of the signals stage: streaming indicators and the per-tick protocols around them.

sma, ema, crossover, vwap        indicators: `<name>_step` (inlined by strategies), `<name>_update`
                                 (a batch, one state row per instrument), `<name>_batch` (reference)
bracket                          entry / stop / target prices on the tick grid
commit                           crash-atomic per-tick commit of a strategy's double-buffered state
digest                           how caching stays correct when a kernel's sources change
"""
