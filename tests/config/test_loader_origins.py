"""Which file a configuration error is traced to when a base file and an overlay both write a
section (config/loader.py `_merge` records each leaf by the layer that wrote it)."""

import orjson
import pytest

from common.errors import ConfigError
from config.loader import DEFAULT_PATH, load_config


def _files(tmp_path, risk: dict | None, overlay: dict) -> str:
    """base.json: the default with `risk` as its risk section (None: none); env/late.json:
    `overlay`."""
    with open(DEFAULT_PATH, "rb") as f:
        base = orjson.loads(f.read())
    base.pop("risk", None)
    if risk is not None:
        base["risk"] = risk
    (tmp_path / "env").mkdir()
    (tmp_path / "base.json").write_bytes(orjson.dumps(base))
    (tmp_path / "env" / "late.json").write_bytes(orjson.dumps(overlay))
    return str(tmp_path / "base.json")


def test_loader_when_base_writes_a_section_and_overlay_breaks_a_rule_across_it_then_names_the_overlay(  # noqa: E501 - the name is the test's sentence
    tmp_path,
):
    path = _files(tmp_path, {"max_open_orders": 40}, {"risk": {"square_off": "15:45"}})
    with pytest.raises(ConfigError) as e:
        load_config(path, env="late", dotenv_path=None)
    assert "late.json" in str(e.value) and "risk.session_end" in str(e.value)


def test_loader_when_the_base_sets_the_bad_field_itself_then_names_the_base(tmp_path):
    path = _files(tmp_path, {"max_open_orders": -1}, {"risk": {"square_off": "15:05"}})
    with pytest.raises(ConfigError) as e:
        load_config(path, env="late", dotenv_path=None)
    assert "base.json" in str(e.value) and "risk.max_open_orders" in str(e.value)


def test_loader_when_an_overlay_writes_a_new_section_then_its_fields_load(tmp_path):
    path = _files(tmp_path, None, {"risk": {"max_brackets_per_instrument": 2}})
    assert (
        load_config(path, env="late", dotenv_path=None).config.risk.max_brackets_per_instrument == 2
    )
