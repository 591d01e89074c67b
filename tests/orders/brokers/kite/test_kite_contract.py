"""The broker contract (tests/orders/brokers/broker_contract.py) run against KiteBroker + the local
Kite server."""

import pytest

from tests.orders.brokers.broker_contract import *  # noqa: F401,F403 - the contract's test functions
from tests.orders.brokers.kite.kite_support import make_kite  # noqa: F401 - fixture


@pytest.fixture
def broker_factory(make_kite):  # noqa: F811
    return make_kite
