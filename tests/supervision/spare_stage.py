"""A stage for tests/supervision/test_spare.py: records which process ran it, with which restart
count, then ends (or stays until killed when its run dir holds `stay`)."""

import os
import time


def run(ctx) -> int:
    with open(os.path.join(ctx.run_dir, f"ran.{os.getpid()}"), "w") as f:
        f.write(str(ctx.restarts))
    while os.path.exists(os.path.join(ctx.run_dir, "stay")):
        time.sleep(0.01)
    return 0
