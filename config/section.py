"""The base of every config section and the checks sections share: field types with their bounds,
times of day, dates, and the `<field>: <why>` errors the loader turns into dotted paths
(config/schema.py has the whole shape; this is what its parts are made of)."""

import datetime
import re
from typing import Annotated

import msgspec

PosInt = Annotated[int, msgspec.Meta(gt=0)]
NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
PosFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegFloat = Annotated[float, msgspec.Meta(ge=0)]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]

_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9&_.-]{0,31}")
_STRATEGY_NAME = re.compile(r"[A-Za-z0-9]{1,8}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_RUN_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_LOCATION = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<where>[^`]*)`)?$", re.DOTALL)


def minutes_of_day(hhmm: str) -> int:
    """'09:15' -> 555. Raises ValueError for anything but a 24-hour HH:MM."""
    match = _CLOCK.fullmatch(hhmm)
    if match is None:
        raise ValueError(f"{hhmm!r} is not a 24-hour HH:MM time such as '09:15'")
    return int(match[1]) * 60 + int(match[2])


def split_location(message: str) -> tuple[str, str]:
    """Split a msgspec message into (message, location): ('Expected `int`',
    '.risk.max_order_qty')."""
    match = _LOCATION.match(message)
    assert match is not None        # every part of the pattern is optional: it matches any text
    return match["message"], match["where"] or ""


def _is_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _require(ok: object, field: str, why: str) -> None:
    if not ok:
        raise ValueError(f"{field}: {why}")


def _clock_field(value: str, field: str) -> int:
    try:
        return minutes_of_day(value)
    except ValueError as e:
        raise ValueError(f"{field}: {e}") from None


class Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every section: immutable, no unknown keys, keyword-only.

    msgspec inherits frozen and forbid_unknown_fields but applies kw_only per class, so every
    section repeats it (which also lets required fields follow defaulted ones). Each repeats frozen
    too: mypy does not carry it down to a subclass that leaves it out.
    """
