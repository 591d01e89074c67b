"""Signals stage: ticks → numba strategies → intents. Entry point: signals.stage.run(ctx)."""
