"""Broker credentials: from environment variables or a `.env` file, never from JSON, never shown.

Only variables with a broker prefix (KITE_, UPSTOX_) are collected. The process environment wins
over `.env`; an empty value counts as unset, so `KITE_API_KEY=` in the shell does not mask the file.
A `Secrets` object never reveals a value: its repr lists names with masked values, and every error
names the variable (or the `.env` line number), never its content.
"""

import os
import re
from collections.abc import Mapping
from typing import Literal

from common.errors import ConfigError
from config.schema import LIVE_VENUES, Config

SECRET_PREFIXES = ("KITE_", "UPSTOX_")
REQUIRED_SECRETS = {
    "kite": ("KITE_API_KEY", "KITE_ACCESS_TOKEN"),
    "upstox": ("UPSTOX_API_KEY", "UPSTOX_ACCESS_TOKEN"),
}
# JSON keys that are credentials wherever they appear. Suffixes catch "kite_api_key" and the like
# without catching instrument fields such as "exchange_token".
_SECRET_KEYS = frozenset({
    "api_key", "api_secret", "access_token", "refresh_token", "request_token", "enctoken",
    "password", "pin", "totp", "totp_secret", "secret", "client_secret",
})
_SECRET_SUFFIXES = ("_secret", "_password", "_api_key", "_access_token")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_VALUE = re.compile(r"[A-Za-z0-9_\-./:+=@,%]*")
_DOUBLE_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"\s*(?:#.*)?')
_SINGLE_QUOTED = re.compile(r"'([^']*)'\s*(?:#.*)?")


class Secrets:
    """An immutable name → value map of credentials whose repr and str never show a value."""

    __slots__ = ("_values",)
    _values: dict[str, str]

    def __init__(self, values: Mapping[str, str] | None = None):
        object.__setattr__(self, "_values", dict(values or {}))

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._values.get(name, default)

    def require(self, name: str) -> str:
        """The value of `name`, or a ConfigError naming the variable."""
        value = self._values.get(name)
        if not value:
            raise ConfigError(f"environment variable {name} is not set (set it or put it in .env)")
        return value

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._values))

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __setattr__(self, name, value):
        raise AttributeError("Secrets is immutable")

    def __delattr__(self, name):
        raise AttributeError("Secrets is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secrets) and other._values == self._values

    __hash__ = None  # type: ignore[assignment]  # unhashable: typeshed types __hash__ as a method

    def __reduce__(self):
        # Pickles (for child processes) carry the values; only repr/str mask them.
        return (Secrets, (dict(self._values),))

    def __repr__(self) -> str:
        return "Secrets(" + ", ".join(f"{name}=***" for name in self.names()) + ")"

    __str__ = __repr__


def load_secrets(
    environ: Mapping[str, str] | None = None, dotenv_path: str | None = ".env"
) -> Secrets:
    """Collect KITE_* / UPSTOX_* from `.env` (if present) and then `environ` (default
    os.environ)."""
    environ = os.environ if environ is None else environ
    values = {
        k: v for k, v in read_dotenv(dotenv_path).items() if k.startswith(SECRET_PREFIXES) and v
    }
    values.update({k: v for k, v in environ.items() if k.startswith(SECRET_PREFIXES) and v})
    return Secrets(values)


def read_dotenv(path: str | None) -> dict[str, str]:
    """KEY=VALUE lines of a .env file; {} when there is none. Errors name the line, not its text."""
    if path is None or not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read: {type(e).__name__}", source=path) from None
    values = {}
    for number, line in enumerate(lines, 1):
        entry = _parse_line(line)
        if entry is False:
            raise ConfigError(f"line {number}: expected KEY=VALUE", source=path)
        if entry is not None:
            values[entry[0]] = entry[1]
    return values


def _parse_line(line: str) -> tuple[str, str] | None | Literal[False]:
    """(key, value), None for a blank or comment line, False for a malformed one."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if text.startswith("export "):
        text = text[len("export "):].lstrip()
    key, sep, rest = text.partition("=")
    key, rest = key.strip(), rest.strip()
    if not sep or not _NAME.fullmatch(key):
        return False
    if rest.startswith('"'):
        match = _DOUBLE_QUOTED.fullmatch(rest)
        return (key, re.sub(r"\\(.)", r"\1", match[1])) if match else False
    if rest.startswith("'"):
        match = _SINGLE_QUOTED.fullmatch(rest)
        return (key, match[1]) if match else False
    return key, re.split(r"\s+#", rest, maxsplit=1)[0].strip()


def write_dotenv(path: str, key: str, value: str) -> None:
    """Set `key` in the .env file at `path` (created 0600), keeping every other line as it was.

    The file is replaced atomically, so a crash leaves the old or the new file, never half of one.
    """
    if not _NAME.fullmatch(key):
        raise ConfigError(f"{key!r} is not a valid environment variable name", source=path)
    if "\n" in value or "\r" in value or "\0" in value:
        raise ConfigError(f"the value for {key} contains a line break or NUL", source=path)
    lines = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    new_line = f"{key}={_quote(value)}"
    kept, written = [], False
    for line in lines:
        entry = _parse_line(line)
        if entry and entry[0] == key:
            if not written:
                kept.append(new_line)
            written = True
        else:
            kept.append(line)
    if not written:
        kept.append(new_line)
    _replace_file(path, "\n".join(kept) + "\n")


def _quote(value: str) -> str:
    if _BARE_VALUE.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _replace_file(path: str, text: str) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is filtered by the umask and ignored for old files
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def find_secret_key(tree: object, path: str = "") -> tuple[str, str] | None:
    """The first key in a parsed JSON tree that holds a credential: (dotted path, env variable)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            here = f"{path}.{key}" if path else str(key)
            normalized = str(key).lower().replace("-", "_")
            if normalized in _SECRET_KEYS or normalized.endswith(_SECRET_SUFFIXES):
                return here, _variable_for(here, normalized)
            found = find_secret_key(value, here)
            if found:
                return found
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            found = find_secret_key(value, f"{path}[{i}]")
            if found:
                return found
    return None


def _variable_for(path: str, key: str) -> str:
    parts = re.split(r"[.\[\]]+", path.lower())
    venue = next((p for p in parts if p in LIVE_VENUES), None)
    if venue is None:
        return f"KITE_{key.upper()} or UPSTOX_{key.upper()}"
    if key.startswith(venue + "_"):
        key = key[len(venue) + 1:]
    return f"{venue.upper()}_{key.upper()}"


def first_missing_secret(config: Config, secrets: Secrets) -> tuple[str, str] | None:
    """(field path, message) for the first credential the configured venues need but lack."""
    users = (
        ("broker.name", config.broker.name, "broker"),
        ("feed.source", config.feed.source, "feed"),
    )
    for path, venue, role in users:
        if venue not in LIVE_VENUES or config.broker.is_local(venue):
            continue
        for name in REQUIRED_SECRETS[venue]:
            if not secrets.get(name):
                return path, (f"{role} {venue!r} needs the environment variable {name} (set it or "
                              f"put it in .env; broker.{venue}.local_server=true runs without it)")
    return None
