"""Orders stage: intents → risk → bracket orders at the broker. Entry point:
orders.stage.run(ctx)."""
