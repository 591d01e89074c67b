"""The broker contract (tests/orders/broker_contract.py) run against UpstoxBroker + the local
server."""

import pytest

from tests.orders.broker_contract import *  # noqa: F401,F403 - the contract's test functions
from tests.orders.upstox_support import make_upstox  # noqa: F401 - fixture


@pytest.fixture
def broker_factory(make_upstox):  # noqa: F811
    return make_upstox
