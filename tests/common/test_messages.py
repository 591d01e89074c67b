"""Messages and their codecs: every type round-trips both formats; bad bytes are a BusError."""

import types
import typing

import msgspec
import numpy as np
import pytest

from common import codec
from common.clock import now_ns
from common.errors import BusError
from common.messages import (
    ALL_MESSAGES,
    MESSAGE_TYPES,
    Message,
    OrderFilled,
    PositionChanged,
    SupervisorEvent,
    TicksProcessed,
)


def _sample_value(tp, name: str):
    """A value for a field of type `tp` that differs from every default (so defaults are tested)."""
    if tp is bool:
        return True           # every bool field defaults to False
    if tp is int:
        return 7 + len(name)
    if tp is float:
        return 1.25 + len(name)
    if tp is str:
        return f"{name}-value"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return [_sample_value(args[0], name), _sample_value(args[0], name + "2")]
    if origin in (typing.Union, types.UnionType):
        return _sample_value(next(a for a in args if a is not type(None)), name)
    if isinstance(tp, type) and issubclass(tp, Message):
        return sample(tp)
    raise AssertionError(f"no sample value for a {tp!r} field: extend _sample_value")


def sample(cls: type[Message]) -> Message:
    """An instance of `cls` with every field, envelope included, set to a non-default value."""
    values = {f.name: _sample_value(f.type, f.name) for f in msgspec.structs.fields(cls)}
    values["v"] = 2
    return cls(**values)


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def test_all_messages_lists_every_message_class_once():
    assert len(set(ALL_MESSAGES)) == len(ALL_MESSAGES)
    assert set(_all_subclasses(Message)) == set(ALL_MESSAGES)
    assert MESSAGE_TYPES == {cls.__name__: cls for cls in ALL_MESSAGES}


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda c: c.__name__)
def test_msgpack_round_trip_preserves_type_and_every_field(cls):
    msg = sample(cls)
    back = codec.decode(codec.encode(msg))
    assert type(back) is cls
    assert back == msg


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda c: c.__name__)
def test_json_round_trip_preserves_type_and_every_field(cls):
    msg = sample(cls)
    line = codec.encode_json(msg)
    assert b"\n" not in line
    back = codec.decode_json(line + b"\n")
    assert type(back) is cls
    assert back == msg


def test_json_record_carries_the_class_name_as_type_tag():
    record = codec.decode_json_dict(codec.encode_json(sample(OrderFilled)))
    assert record["type"] == "OrderFilled"
    assert record["seq"] == sample(OrderFilled).seq


def test_envelope_defaults_mark_an_unstamped_message_created_now():
    before = now_ns()
    msg = TicksProcessed(ts_event_ns=5, upto_seq=10, intents_sent=0)
    after = now_ns()
    assert (msg.v, msg.source, msg.seq) == (1, "", 0)
    assert before <= msg.ts_init_ns <= after


def test_messages_are_immutable():
    msg = sample(TicksProcessed)
    with pytest.raises(AttributeError):
        msg.seq = 99  # type: ignore[misc]


def test_optional_supervisor_fields_round_trip_as_none():
    msg = SupervisorEvent(ts_event_ns=1, kind="spawn", stage="feed", pid=10, cores=[0])
    assert codec.decode_json(codec.encode_json(msg)).exit_code is None
    assert codec.decode(codec.encode(msg)).signal is None


def test_numpy_scalars_are_encoded_as_plain_numbers():
    row = np.zeros(1, dtype=[("seq", np.int64), ("price", np.float64)])
    row["seq"], row["price"] = 42, 101.5
    msg = PositionChanged(ts_event_ns=int(row["seq"][0]), instrument=row["seq"][0], symbol="INFY",
                          qty=1, avg_price=row["price"][0], realised_pnl_inr=0.0,
                          unrealised_pnl_inr=0.0, last_price=0.0)
    for back in (codec.decode(codec.encode(msg)), codec.decode_json(codec.encode_json(msg))):
        assert type(back.instrument) is int and back.instrument == 42
        assert type(back.avg_price) is float and back.avg_price == 101.5


def test_an_int_in_a_float_field_decodes_as_float():
    msg = PositionChanged(ts_event_ns=1, instrument=1, symbol="INFY", qty=1, avg_price=100,
                          realised_pnl_inr=0, unrealised_pnl_inr=0, last_price=0)
    back = codec.decode_json(codec.encode_json(msg))
    assert type(back.avg_price) is float and back.avg_price == 100.0


_valid = codec.encode(sample(OrderFilled))


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xc1",                                   # a byte msgpack never uses
        _valid[: len(_valid) // 2],                # truncated frame
        _valid + b"\x00",                          # trailing garbage
        msgspec.msgpack.encode({"type": "NoSuchMessage", "seq": 1}),
        msgspec.msgpack.encode({"type": "TicksProcessed", "upto_seq": "ten"}),
        msgspec.msgpack.encode([1, 2, 3]),
    ],
    ids=["empty", "invalid-byte", "truncated", "trailing", "unknown-type", "bad-field", "array"],
)
def test_decode_of_a_malformed_payload_raises_bus_error(payload):
    with pytest.raises(BusError):
        codec.decode(payload)


@pytest.mark.parametrize(
    "line",
    [b"", b"{", b"[1,2]", b'{"type":"NoSuchMessage"}', b'{"type":"TicksProcessed","seq":1}',
     b"\xff\xfe"],
    ids=["empty", "torn", "array", "unknown-type", "missing-fields", "not-utf8"],
)
def test_decode_json_of_a_malformed_line_raises_bus_error(line):
    with pytest.raises(BusError):
        codec.decode_json(line)


def test_nan_cannot_survive_json_which_is_why_journals_verify_records():
    msg = PositionChanged(ts_event_ns=1, instrument=1, symbol="INFY", qty=0, avg_price=float("nan"),
                          realised_pnl_inr=0.0, unrealised_pnl_inr=0.0, last_price=0.0)
    assert np.isnan(codec.decode(codec.encode(msg)).avg_price)  # msgpack carries it
    with pytest.raises(BusError):
        codec.decode_json(codec.encode_json(msg))


def test_decode_json_dict_rejects_a_line_that_is_not_an_object():
    with pytest.raises(BusError):
        codec.decode_json_dict(b"[1]")
