"""Last module the supervisor's forkserver preloads: collect once, then freeze the survivors.

Everything the template imported (numpy, numba, compiled kernels, the stage modules) is then moved
to a permanent generation, so a freshly forked stage never walks those objects in a garbage
collection (a full collection in a child otherwise costs ~70 ms here, and touching the objects
un-shares their pages).
"""

import gc

gc.collect()
gc.freeze()
