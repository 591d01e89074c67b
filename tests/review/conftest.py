"""The review's tests reuse the orders tests' desk fixture (engine + paper broker, always
closed)."""

from tests.orders.conftest import make_desk  # noqa: F401  (a fixture, found by name)
