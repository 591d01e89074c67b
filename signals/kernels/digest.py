"""How the signals kernels use numba's on-disk cache without ever running stale machine code.

numba's cache (cache=True) keys a function's entry on its own file only, and the entry holds the
machine code of every njit function it calls. When a callee in another file changes, numba still
loads the old entry (numba issues #1833 and #9483, a documented limitation); and a cached helper is
itself loaded stale when a caller is recompiled. Two rules close both holes:

- Only entry points (what Python calls: each strategy's kernel, each kernel module's `*_update`) are
  `@njit(cache=True)`. The helpers they call (`*_step`, bracket prices, the commit and outbox
  protocol) are plain `@njit`: compiled into their caller's entry, never cached on their own. An
  `*_update` calls helpers of its own file only, whose stamp numba checks.
- A strategy kernel calls helpers from many files, so it is built inside a function that takes
  `KERNEL_DIGEST` and refers to it. numba's cache key includes the values a function closes over:
  change any source listed in `_sources()` and the key changes, and the kernel is compiled afresh.
"""

import hashlib
from pathlib import Path

_SIGNALS = Path(__file__).resolve().parent.parent
_COMMON = _SIGNALS.parent / "common"


def _sources() -> list[Path]:
    kernels = sorted((_SIGNALS / "kernels").glob("*.py"))
    return kernels + [_SIGNALS / "outbox.py", _SIGNALS / "strategy.py", _COMMON / "fences.py",
                      _COMMON / "dtypes.py", _COMMON / "clock.py"]


def source_digest(paths) -> int:
    """A non-negative 62-bit digest of the files' bytes (an unreadable file counts as empty)."""
    hasher = hashlib.blake2b(digest_size=8)
    for path in paths:
        hasher.update(path.name.encode())
        try:
            hasher.update(path.read_bytes())
        except OSError:
            # a missing source cannot be compiled from either; the digest only has to be stable
            pass
    return int.from_bytes(hasher.digest(), "little") >> 2


KERNEL_DIGEST = source_digest(_sources())
