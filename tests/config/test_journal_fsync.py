"""journal.fsync: durable by default with a live broker, fast by default on paper, explicit always
wins."""

import msgspec
import orjson
import pytest

from config.loader import DEFAULT_PATH, effective_json, load_config
from config.schema import Config

FAKE_KITE = {"KITE_API_KEY": "kk-fake-key", "KITE_ACCESS_TOKEN": "kt-fake-token"}


def load(tmp_path, mutate, environ=None):
    with open(DEFAULT_PATH, "rb") as f:
        tree = orjson.loads(f.read())
    mutate(tree)
    path = tmp_path / "config.json"
    path.write_bytes(orjson.dumps(tree))
    return load_config(str(path), environ=environ or {}, dotenv_path=None).config


def live_kite(tree: dict) -> None:
    tree.setdefault("feed", {})["source"] = "kite"
    tree.setdefault("broker", {})["name"] = "kite"


def test_fsync_when_the_broker_is_live_and_fsync_unset_then_batch(tmp_path):
    config = load(tmp_path, live_kite, environ=FAKE_KITE)
    assert config.broker.is_live
    # "batch": every flush is fdatasync'd, and orders flushes before every broker call.
    assert config.journal.fsync == "batch"


def test_fsync_when_a_local_kite_rehearsal_and_fsync_unset_then_batch_as_in_production(tmp_path):
    def local(tree):
        live_kite(tree)
        tree["broker"]["kite"] = {"local_server": True}     # no credentials needed
    assert load(tmp_path, local).journal.fsync == "batch"


def test_fsync_when_paper_and_fsync_unset_then_never(tmp_path):
    assert load(tmp_path, lambda tree: None).journal.fsync == "never"


@pytest.mark.parametrize("policy", ["never", "always"])
def test_fsync_when_set_explicitly_then_kept_whatever_the_broker(tmp_path, policy):
    def explicit(tree):
        live_kite(tree)
        tree["journal"] = {"fsync": policy}
    assert load(tmp_path, explicit, environ=FAKE_KITE).journal.fsync == policy


def test_effective_config_records_the_resolved_policy_and_loads_back_unchanged(tmp_path):
    config = load(tmp_path, live_kite, environ=FAKE_KITE)
    tree = orjson.loads(effective_json(config))
    assert tree["journal"]["fsync"] == "batch"
    assert msgspec.convert(tree, Config) == config
