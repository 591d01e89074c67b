"""A strategy's params are declared once (its msgspec Struct); the kernel's numpy record is
derived."""

from typing import Literal

import numpy as np
import pytest

from config.schema import MACrossoverParams, PosFloat, PosInt, Section, VWAPRevertParams
from signals.outbox import ORDER_LIMIT, ORDER_TYPE_CODES
from signals.strategies.ma_crossover import MA_SMA, MACrossover
from signals.strategies.vwap_revert import VWAPRevert
from signals.strategy import Strategy, params_dtype


def test_params_dtype_when_derived_then_one_field_per_struct_field_typed_for_the_kernel():
    assert MACrossover.PARAMS_DTYPE == np.dtype([
        ("fast", np.int64), ("slow", np.int64), ("ma", np.int64), ("qty", np.int64),
        ("stop_loss_pct", np.float64), ("target_pct", np.float64), ("order_type", np.int64),
        ("limit_offset_ticks", np.int64), ("allow_short", np.int64), ("one_trade", np.int64)])
    assert VWAPRevert.PARAMS_DTYPE == np.dtype([
        ("band_pct", np.float64), ("min_session_ticks", np.int64), ("qty", np.int64),
        ("stop_loss_pct", np.float64), ("order_type", np.int64), ("limit_offset_ticks", np.int64),
        ("allow_short", np.int64)])
    for cls, params in ((MACrossover, MACrossoverParams), (VWAPRevert, VWAPRevertParams)):
        assert cls.PARAMS_DTYPE.names == params.__struct_fields__


def test_pack_params_when_text_and_bool_params_then_codes_and_zero_or_one():
    params = MACrossoverParams(fast=3, slow=7, ma="sma", order_type="LIMIT", one_trade=True,
                               allow_short=False, stop_loss_pct=0.25)
    packed = MACrossover.pack_params(params)[0]
    assert (packed["fast"], packed["slow"], packed["ma"], packed["order_type"]) == (
        3,
        7,
        MA_SMA,
        ORDER_LIMIT,
    )
    assert (packed["one_trade"], packed["allow_short"], packed["stop_loss_pct"]) == (1, 0, 0.25)


class _BreakoutParams(Section, kw_only=True):
    n: PosInt = 20
    stop_loss_pct: PosFloat = 0.5
    entry: Literal["MARKET", "LIMIT"] = "MARKET"
    confirm: bool = False


def test_strategy_when_its_struct_gains_a_field_then_the_kernel_record_and_packing_follow():
    class Breakout(Strategy):
        kind = "breakout_test"
        Params = _BreakoutParams
        CODES = {"entry": ORDER_TYPE_CODES}

    assert Breakout.PARAMS_DTYPE.names == ("n", "stop_loss_pct", "entry", "confirm")
    packed = Breakout.pack_params(_BreakoutParams(n=5, entry="LIMIT", confirm=True))[0]
    assert (packed["n"], packed["entry"], packed["confirm"]) == (5, ORDER_LIMIT, 1)


def test_strategy_when_a_text_param_has_no_codes_then_defining_it_fails_naming_the_field():
    with pytest.raises(TypeError, match=r"CODES\['entry'\] has no code for \['MARKET', 'LIMIT'\]"):
        class Breakout(Strategy):
            kind = "breakout_test"
            Params = _BreakoutParams


def test_params_dtype_when_a_field_has_no_numpy_type_then_names_the_field():
    class Named(Section, kw_only=True):
        label: str = "x"

    with pytest.raises(TypeError, match=r"Named\.label"):
        params_dtype(Named)
