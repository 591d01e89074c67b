"""Deterministic ids: same inputs, same id, in any process; client ids fit Kite's tag."""

import re

import pytest

from common.ids import ROLE_PREFIX, client_order_id, fill_id, intent_id, role_of

KITE_TAG = re.compile(r"[A-Za-z0-9]{1,20}\Z")


def test_intent_id_is_readable_and_deterministic():
    assert intent_id("ma_x", 3, 1042) == "ma_x:3:1042"
    assert intent_id("ma_x", 3, 1042) == intent_id("ma_x", 3, 1042)


@pytest.mark.parametrize("role", sorted(ROLE_PREFIX))
@pytest.mark.parametrize("n", [0, 1, 7, 35, 36, 10_000])
def test_client_order_id_fits_a_kite_tag(role, n):
    coid = client_order_id(intent_id("ma_x", 3, 1042), role, n)
    assert KITE_TAG.match(coid), coid
    assert len(coid) == 20
    assert coid == coid.upper()


def test_client_order_id_is_stable_across_processes_and_versions():
    # A changed derivation would make a restarted orders stage miss its own orders at the broker.
    assert client_order_id("ma_x:3:1042", "ENTRY") == "EIZLGHK32LKVN5NPZNAM"
    assert client_order_id("ma_x:3:1042", "STOP", 2) == "SXM5DAKZXM7YIDOHSE3I"


def test_client_order_id_starts_with_its_readable_role_letter():
    iid = intent_id("ma_x", 3, 1042)
    roles = ("ENTRY", "STOP", "TARGET", "SQUAREOFF", "FLATTEN")
    assert [client_order_id(iid, role)[0] for role in roles] == ["E", "S", "T", "Q", "F"]
    assert client_order_id(iid, "ENTRY", 2).startswith("EX")


def test_client_order_id_accepts_the_role_letter_as_well_as_the_name():
    iid = intent_id("ma_x", 3, 1042)
    assert client_order_id(iid, "E", 3) == client_order_id(iid, "ENTRY", 3)


def test_client_order_ids_are_unique_over_a_busy_day():
    ids = set()
    count = 0
    for tick in range(5_000):
        iid = intent_id(("ma_x", "rsi")[tick % 2], tick % 50, tick)
        for role, n in (("ENTRY", 0), ("STOP", 0), ("TARGET", 0), ("ENTRY", 1), ("ENTRY", 2),
                        ("STOP", 1), ("TARGET", 1), ("SQUAREOFF", 0), ("FLATTEN", 0),
                        ("FLATTEN", 1), ("SQUAREOFF", 1), ("STOP", 2), ("TARGET", 2),
                        ("ENTRY", 3), ("ENTRY", 4), ("STOP", 3), ("TARGET", 3), ("ENTRY", 5),
                        ("ENTRY", 6), ("ENTRY", 7)):
            ids.add(client_order_id(iid, role, n))
            count += 1
    assert count == 100_000
    assert len(ids) == count


def test_role_of_reads_the_role_back_and_ignores_foreign_tags():
    iid = intent_id("ma_x", 3, 1042)
    for role in ROLE_PREFIX:
        assert role_of(client_order_id(iid, role)) == role
        assert role_of(client_order_id(iid, role, 4)) == role
    assert role_of("manual") == ""
    assert role_of("") == ""
    assert role_of("Z" * 20) == ""


@pytest.mark.parametrize("role,n", [("SLICE", 0), ("entry", 0), ("", 0), ("ENTRY", -1)])
def test_client_order_id_rejects_unknown_roles_and_negative_numbers(role, n):
    with pytest.raises(ValueError):
        client_order_id("ma_x:3:1042", role, n)


def test_fill_ids_are_deterministic_and_distinct_per_fill():
    coid = client_order_id("ma_x:3:1042", "ENTRY")
    assert fill_id(coid, 1) == fill_id(coid, 1)
    assert len({fill_id(coid, n) for n in range(1, 100)}) == 99
    assert fill_id(coid, 1).startswith(coid)
