"""Load a configuration: read the JSON files, merge them, validate everything, collect the secrets.

Layers, in order: the base file (`config/default.json`, or `--config FILE`), the `--env NAME`
overlay (`env/NAME.json` beside the base file, else `config/env/NAME.json`), then command-line
overrides. Dicts merge recursively; lists and scalars replace. Each value remembers the layer that
set it, so an error names the file the bad value came from. msgspec then converts the merged tree
into the frozen `Config` (types, ranges, the schema's invariants) and the loader checks what only
this machine can answer: cores, the replay file, credentials. The first problem found is raised as
one ConfigError.
"""

import difflib
import os
import re
from collections.abc import Mapping
from typing import Any

import msgspec
import orjson

from common.errors import ConfigError
from config.placement import available_cores as machine_cores
from config.placement import check_cores
from config.schema import LIVE_VENUES, STRATEGY_PARAMS, Config, StrategyConfig, split_location
from config.secrets import Secrets, find_secret_key, first_missing_secret, load_secrets

CONFIG_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PATH = os.path.join(CONFIG_DIR, "default.json")
COMMAND_LINE = "command line"
_ENV_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
# An invariant of the schema: "<field>: <why>" (msgspec's own messages start with a capital).
_OWN_FIELD = re.compile(
    r"(?P<field>[a-z_][a-z0-9_]*(?:\[\d+\])*(?:\.[a-z_][a-z0-9_]*(?:\[\d+\])*)*)"
    r": (?P<why>.*)",
    re.DOTALL,
)
_MSGSPEC = re.compile(r"(?:Expected|Object|Invalid) ")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<name>[^`]*)`")
_MISSING = re.compile(r"Object missing required field `(?P<name>[^`]*)`")
_ENUM = re.compile(r"Invalid enum value (?P<value>.*)")
_ABSENT = object()


class LoadedConfig(msgspec.Struct, frozen=True, kw_only=True):
    """A validated configuration, the files it came from, and the credentials it may use."""

    config: Config
    sources: tuple[str, ...]   # absolute paths of the files merged, base first
    secrets: Secrets


def load_config(
    path: str | None = None,
    env: str | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv_path: str | None = ".env",
    *,
    overrides: Mapping | None = None,
    available_cores: list[int] | None = None,
) -> LoadedConfig:
    """Read, merge and validate a configuration; raise ConfigError naming file and field."""
    base = os.path.abspath(path or DEFAULT_PATH)
    files = [base] + ([_overlay_path(env, base)] if env is not None else [])
    origins = _Origins()
    merged: dict = {}
    for file in files:
        merged = _merge(merged, _read_json(file), display_path(file), origins)
    if overrides:
        merged = _merge(merged, dict(overrides), COMMAND_LINE, origins)
    config = _resolve_journal_fsync(_convert(merged, origins))
    _check_machine(config, origins, machine_cores() if available_cores is None else available_cores)
    secrets = load_secrets(environ, dotenv_path)
    missing = first_missing_secret(config, secrets)
    if missing:
        raise ConfigError(missing[1], source=origins.source_of(missing[0]), path=missing[0])
    return LoadedConfig(config=config, sources=tuple(files), secrets=secrets)


def effective_json(config: Config) -> bytes:
    """The complete configuration, defaults included, as indented JSON (for the run directory)."""
    return orjson.dumps(msgspec.to_builtins(config), option=orjson.OPT_INDENT_2)


def display_path(path: str) -> str:
    """A path as a user would type it: relative to the current directory when inside it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _overlay_path(env: str, base: str) -> str:
    if not _ENV_NAME.fullmatch(env):
        raise ConfigError(f"{env!r} is not an environment name", source="--env")
    folders = dict.fromkeys(
        [os.path.join(os.path.dirname(base), "env"), os.path.join(CONFIG_DIR, "env")]
    )
    for folder in folders:
        candidate = os.path.join(folder, f"{env}.json")
        if os.path.isfile(candidate):
            return candidate
    known = sorted({name[:-5] for folder in folders if os.path.isdir(folder)
                    for name in os.listdir(folder) if name.endswith(".json")})
    raise ConfigError(f"unknown environment {env!r} (known: {', '.join(known) or 'none'})",
                      source="--env")


def _read_json(path: str) -> dict:
    shown = display_path(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ConfigError("file not found", source=shown) from None
    except OSError as e:
        raise ConfigError(f"cannot read file: {e.strerror}", source=shown) from None
    try:
        tree = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise ConfigError(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}",
                          source=shown) from None
    if not isinstance(tree, dict):
        raise ConfigError("the top level must be a JSON object", source=shown)
    found = find_secret_key(tree)
    if found:
        raise ConfigError(
            "credentials are never read from configuration files: remove this key and set the "
            f"environment variable {found[1]} (or put it in .env)", source=shown, path=found[0])
    return tree


class _Origins:
    """Which layer set each value: maps a key path, e.g. ('risk', 'max_order_qty'), to a source."""

    def __init__(self):
        self._by_path: dict[tuple, str] = {}

    def record(self, path: tuple, source: str) -> None:
        for key in [k for k in self._by_path if k[: len(path)] == path]:
            del self._by_path[key]  # the whole subtree was replaced
        self._by_path[path] = source

    def source_of(self, dotted: str) -> str:
        """The layer that set the value at `dotted`, or the nearest layer that set a neighbour."""
        parts = _parse_path(dotted)
        for n in range(len(parts), 0, -1):
            prefix = parts[:n]
            if prefix in self._by_path:
                return self._by_path[prefix]
            under = [src for key, src in self._by_path.items() if key[:n] == prefix]
            if under:
                return under[-1]  # insertion order: the latest layer that touched this section
        return next(iter(self._by_path.values()), "")


def _parse_path(dotted: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", dotted))


def _merge(base: dict, overlay: dict, source: str, origins: _Origins, prefix: tuple = ()) -> dict:
    merged = dict(base)
    for key, value in overlay.items():
        path = (*prefix, key)
        # A section new to the merge is merged into an empty one, so each of its leaves is recorded
        # as this layer's: a later layer that sets one field of it is then the one an error in
        # another of its fields is traced to, not the layer that first wrote the whole section.
        if isinstance(value, dict) and isinstance(merged.get(key, {}), dict) and value:
            merged[key] = _merge(merged.get(key, {}), value, source, origins, path)
        else:
            merged[key] = value
            origins.record(path, source)
    return merged


def _convert(merged: dict, origins: _Origins) -> Config:
    try:
        return msgspec.convert(merged, Config)
    except msgspec.ValidationError as e:
        path, message = _describe_validation_error(str(e), merged)
        raise ConfigError(message, source=origins.source_of(path), path=path) from None


def _resolve_journal_fsync(config: Config) -> Config:
    """journal.fsync left unset: durable ("batch") with a live broker, "never" for paper.

    Real money must not depend on remembering --env prod: with kite or upstox the "about to send"
    record is on disk before the broker call unless the file says otherwise.
    """
    if config.journal.fsync is not None:
        return config
    fsync = "batch" if config.broker.name in LIVE_VENUES else "never"
    return msgspec.structs.replace(
        config, journal=msgspec.structs.replace(config.journal, fsync=fsync)
    )


def _check_machine(config: Config, origins: _Origins, cores: list[int]) -> None:
    problem = check_cores(config, cores)
    if problem:
        raise ConfigError(problem[1], source=origins.source_of(problem[0]), path=problem[0])
    replay = config.feed.replay
    if config.feed.source == "replay" and not (replay.path and os.path.isfile(replay.path)):
        raise ConfigError(f"replay file {replay.path!r} does not exist",
                          source=origins.source_of("feed.replay.path"), path="feed.replay.path")


def _describe_validation_error(raw: str, merged: dict) -> tuple[str, str]:
    """Turn a msgspec message into (dotted path, plain message), e.g. ('risk.max_order_qty',
    'expected int >= 1, got 0'), naming the key itself for unknown and missing keys."""
    message, where = split_location(raw)
    path = where.lstrip(".")
    # A schema invariant may wrap another message ("params: slow: ..."): peel every field prefix.
    while match := _OWN_FIELD.fullmatch(message):
        path, message = _join(path, match["field"]), match["why"]
    if match := _UNKNOWN.fullmatch(message):
        return _join(path, match["name"]), "unknown key" + _suggestion(path, match["name"], merged)
    if match := _MISSING.fullmatch(message):
        return _join(path, match["name"]), "required key is missing"
    if match := _ENUM.fullmatch(message):
        choices = getattr(_type_at(path, merged), "values", ())
        listed = f" (choose from: {', '.join(map(str, choices))})" if choices else ""
        return path, f"invalid value {match['value']}{listed}"
    if not _MSGSPEC.match(message):
        return path, message  # the schema's own words
    plain = message.replace("`", "")
    plain = plain[:1].lower() + plain[1:]
    value = _value_at(merged, path)
    if "got" not in plain and isinstance(value, (int, float, str)):
        plain += f", got {_short(value)}"
    return path, plain


def _join(path: str, field: str) -> str:
    if not path:
        return field
    return f"{path}{field}" if field.startswith("[") else f"{path}.{field}"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _suggestion(path: str, name: str, merged: dict) -> str:
    info = _type_at(path, merged)
    fields = [f.name for f in getattr(info, "fields", ())]
    close = difflib.get_close_matches(name, fields, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _value_at(tree: object, dotted: str) -> object:
    for part in _parse_path(dotted):
        tree = _step(tree, part)
    return tree


def _step(tree: Any, part: str | int) -> object:
    try:
        return tree[part]
    except (KeyError, IndexError, TypeError):
        return _ABSENT


def _type_at(dotted: str, merged: dict) -> msgspec.inspect.Type | None:
    """The msgspec type description of the field at `dotted` (params: the strategy kind's type)."""
    info: msgspec.inspect.Type | None = msgspec.inspect.type_info(Config)
    value: object = merged
    for part in _parse_path(dotted):
        info = _without_none(info)
        if isinstance(part, int):
            info = getattr(info, "item_type", None)
        elif isinstance(info, msgspec.inspect.StructType):
            owner = info.cls
            info = next((f.type for f in info.fields if f.name == part), None)
            if owner is StrategyConfig and part == "params" and isinstance(value, dict):
                kind = value.get("kind")
                kind_type = STRATEGY_PARAMS.get(kind) if isinstance(kind, str) else None
                info = msgspec.inspect.type_info(kind_type) if kind_type else None
        else:
            return None
        value = _step(value, part)
        if info is None:
            return None
    return _without_none(info)


def _without_none(info: msgspec.inspect.Type | None) -> msgspec.inspect.Type | None:
    if isinstance(info, msgspec.inspect.UnionType):
        rest = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        return rest[0] if len(rest) == 1 else info
    return info
