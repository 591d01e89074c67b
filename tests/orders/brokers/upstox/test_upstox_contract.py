"""The broker contract (tests/orders/brokers/broker_contract.py) run against UpstoxBroker + the
local server."""

import pytest

from tests.orders.brokers.broker_contract import *  # noqa: F401,F403 - the contract's test functions
from tests.orders.brokers.upstox.upstox_support import make_upstox  # noqa: F401 - fixture


@pytest.fixture
def broker_factory(make_upstox):  # noqa: F811
    return make_upstox
