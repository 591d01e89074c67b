"""Fixtures for the orders tests: desks (engine + paper broker) that are always closed."""

import pytest

from tests.orders.stubs import Desk


@pytest.fixture
def make_desk(tmp_path):
    desks = []

    def make(**options) -> Desk:
        directory = tmp_path / f"desk{len(desks)}"
        directory.mkdir()
        desk = Desk(directory, **options)
        desks.append(desk)
        return desk

    yield make
    for desk in desks:
        desk.close()
