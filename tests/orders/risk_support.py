"""Risk limits for tests, built the way a run builds them: from a validated config.risk section.

`limits_of(enforce_session=False, leg_prices="signal")` is config.risk with those fields changed,
every other one at the schema's default (orders.limits.RiskLimits has no defaults of its own).
"""

from config.schema import RiskConfig
from orders.limits import RiskLimits


def limits_of(**risk) -> RiskLimits:
    """RiskLimits.from_config(RiskConfig(**risk)): a bad value fails as config would fail."""
    return RiskLimits.from_config(RiskConfig(**risk))
