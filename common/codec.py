"""Bytes <-> messages: msgpack on the bus, JSON lines in the journals. Nothing is ever pickled.

One module-level Encoder and one Decoder per format, built over the tagged union of
`messages.ALL_MESSAGES`, so decoding dispatches on the "type" tag in C and never builds a dict.

A payload that is not a known message (garbage, a truncated frame, an unknown "type", a wrong field
type) raises `BusError`; bus sockets count and drop it, journal readers refuse the journal
(`common.journalline.JournalCorrupt`: recovery must not skip a record). The caller never sees a
msgspec exception. The journal line is this JSON sealed with its checksum (common/journalline.py).

JSON caveat: msgspec writes NaN and inf as `null`, which no float field accepts on the way back,
so a NaN price would make a journal line unreadable. `JournalWriter` therefore reads every record
back before it appends it. Imports only msgspec, `common.messages` and `common.errors`.
"""

from typing import Union

import msgspec

from common.errors import BusError
from common.messages import ALL_MESSAGES, Message

AnyMessage = Union[ALL_MESSAGES]  # type: ignore[valid-type]


def _enc_hook(obj: object) -> object:
    # Values copied out of numpy arrays (tick seq, instrument index) arrive as numpy scalars, which
    # msgspec does not know; `.item()` turns them into the Python int/float the field declares.
    item = getattr(obj, "item", None)
    if item is None:
        raise TypeError(f"cannot encode a {type(obj).__name__} in a message")
    return item()


_msgpack_encoder = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_msgpack_decoder = msgspec.msgpack.Decoder(AnyMessage)
_json_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_json_decoder = msgspec.json.Decoder(AnyMessage)


def encode(msg: Message) -> bytes:
    """A message as msgpack bytes (the bus format)."""
    return _msgpack_encoder.encode(msg)


def decode(buf: bytes | bytearray | memoryview) -> Message:
    """The message in msgpack bytes.

    Raises
    ------
    BusError
        If the bytes are not a valid, known message; the message names the problem and its path.
    """
    try:
        return _msgpack_decoder.decode(buf)
    except msgspec.DecodeError as e:  # ValidationError is a DecodeError
        raise BusError(f"undecodable bus payload ({len(buf)} bytes): {e}") from None


# encode_json(msg) -> bytes: a message as one compact JSON object (no newline) with its "type" tag,
# the journal format. The encoder's own method, not a wrapper: it runs once per journal record.
encode_json = _json_encoder.encode


def decode_json(line: bytes | str) -> Message:
    """The message in one JSON line (a trailing newline is fine).

    Raises
    ------
    BusError
        If the line is not valid JSON or not a known message.
    """
    try:
        return _json_decoder.decode(line)
    except msgspec.DecodeError as e:
        raise BusError(f"undecodable journal record: {e}") from None


def decode_json_dict(line: bytes | str) -> dict:
    """One JSON line as a raw dict, for reports and tests that do not want typed messages."""
    try:
        value = msgspec.json.decode(line)
    except msgspec.DecodeError as e:
        raise BusError(f"invalid JSON record: {e}") from None
    if not isinstance(value, dict):
        raise BusError(f"journal record is a {type(value).__name__}, not an object")
    return value
