"""Positions stage: fills → positions and P&L, marked to market. Entry point:
positions.stage.run(ctx)."""
