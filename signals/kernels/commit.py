"""The per-tick commit protocol of a strategy's state: a tick is applied completely or not at all.

Each (strategy, instrument) slot has two copies of its state and one int64 commit word:

    commit[slot] = (last_seq << 1) | active

`active` names the copy that holds the state after every tick up to `last_seq`. To apply tick `seq`:
copy the active copy into the other one, update the other one (and any price ring, see
kernels/sma.py), write the intent to the outbox if there is one, then store the new commit word.
That single aligned int64 store is the commit: it publishes the new copy and the new last_seq at
once.

Why this survives SIGKILL at any instruction: until the commit store, nothing the committed state
reads has changed (only the inactive copy and ring slots outside the committed window), so a killed
process leaves the previous tick's state; after it, the new state is complete. Stores become visible
in program order because the store of the commit word is preceded by a release fence, which stops
the compiler from sinking state stores below it (x86-64 keeps store order itself; common/fences.py).
A killed process loses nothing it already stored: the stores are in the shared mapping, not in the
process. A tick with seq <= last_seq was applied before (a replayed batch after a restart) and is
skipped, so no tick is ever applied twice.
"""

from numba import njit

from common.fences import fence_release

# No Indian instrument trades within orders of magnitude of ₹1e7; a price at or above it is a broken
# tick, and it would overflow the exact integer sums of kernels/sma.py. Not a trade.
MAX_PRICE = 1e7


@njit
def slot_of(inst_slot, row):
    """The slot a tick updates, or -1: instrument not traded by this strategy, out of range, or no
    usable price (NaN, not positive, or not below MAX_PRICE)."""
    k = row["instrument"]
    if k >= inst_slot.shape[0]:
        return -1
    price = row["price"]
    if not 0.0 < price < MAX_PRICE:  # NaN fails both comparisons
        return -1
    return inst_slot[k]


@njit
def last_seq_of(word):
    return word >> 1


@njit
def begin_tick(copies, commit, slot, seq):
    """Copy to write tick `seq` into (filled with the committed state), or -1 if it was applied."""
    word = commit[slot]
    if seq <= word >> 1:
        return -1
    active = word & 1
    spare = 1 - active
    copies[slot, spare] = copies[slot, active]
    return spare


@njit
def commit_tick(commit, slot, seq, copy):
    """Make `copy` the state of `slot` after tick `seq`: one aligned int64 store, after a fence."""
    fence_release()
    commit[slot] = (seq << 1) | copy
