"""Feed stage: turns a tick source into ring records. Entry point: `run(ctx)`."""


def run(ctx):
    from feed.stage import run as _run

    return _run(ctx)
