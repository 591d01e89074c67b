"""Secrets: environment over .env, masked everywhere, .env written with 0600."""

import os
import pickle
import stat

import msgspec
import pytest

from common.errors import ConfigError
from config.loader import load_config
from config.secrets import Secrets, find_secret_key, load_secrets, read_dotenv, write_dotenv


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_environment_wins_over_dotenv(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("KITE_API_KEY=from-file\nKITE_ACCESS_TOKEN=file-token\n")
    secrets = load_secrets({"KITE_API_KEY": "from-env"}, str(dotenv))
    assert secrets.get("KITE_API_KEY") == "from-env"
    assert secrets.get("KITE_ACCESS_TOKEN") == "file-token"


def test_empty_environment_value_does_not_mask_dotenv(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("UPSTOX_ACCESS_TOKEN=file-token\n")
    assert (
        load_secrets({"UPSTOX_ACCESS_TOKEN": ""}, str(dotenv)).get("UPSTOX_ACCESS_TOKEN")
        == "file-token"
    )


def test_only_broker_variables_are_collected():
    secrets = load_secrets({"HOME": "/root", "KITE_API_KEY": "k", "UPSTOX_API_KEY": "u"}, None)
    assert secrets.names() == ("KITE_API_KEY", "UPSTOX_API_KEY")


def test_missing_dotenv_is_no_secrets(tmp_path):
    assert load_secrets({}, str(tmp_path / ".env")).names() == ()


def test_dotenv_reads_comments_exports_and_quotes(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# broker login\n\n"
        "export KITE_API_KEY=abc123  # the app key\n"
        'KITE_API_SECRET="s p#a\\"ce"\n'
        "UPSTOX_API_KEY='lit#eral'\n"
    )
    assert read_dotenv(str(dotenv)) == {
        "KITE_API_KEY": "abc123", "KITE_API_SECRET": 's p#a"ce', "UPSTOX_API_KEY": "lit#eral",
    }


def test_malformed_dotenv_line_is_named_by_number_not_content(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("KITE_API_KEY=ok\nthis-is-a-leaked-token\n")
    with pytest.raises(ConfigError) as info:
        read_dotenv(str(dotenv))
    assert "line 2" in str(info.value)
    assert "leaked" not in str(info.value)


def test_repr_and_str_mask_every_value():
    secrets = Secrets({"KITE_API_KEY": "very-secret-key"})
    assert "very-secret-key" not in repr(secrets)
    assert "very-secret-key" not in str(secrets)
    assert "KITE_API_KEY" in repr(secrets)


def test_secrets_are_immutable_and_pickle_with_their_values():
    secrets = Secrets({"KITE_API_KEY": "k"})
    with pytest.raises(AttributeError):
        secrets._values = {}
    assert pickle.loads(pickle.dumps(secrets)) == secrets


def test_require_names_the_missing_variable():
    with pytest.raises(ConfigError) as info:
        Secrets({}).require("KITE_ACCESS_TOKEN")
    assert "KITE_ACCESS_TOKEN" in str(info.value)


def test_write_dotenv_creates_a_private_file(tmp_path):
    path = str(tmp_path / ".env")
    write_dotenv(path, "KITE_ACCESS_TOKEN", "tok1")
    assert mode_of(path) == 0o600
    assert read_dotenv(path) == {"KITE_ACCESS_TOKEN": "tok1"}


def test_write_dotenv_updates_one_key_and_keeps_the_rest(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# keep me\nKITE_API_KEY=key\nKITE_ACCESS_TOKEN=old\nKITE_ACCESS_TOKEN=older\n"
    )
    os.chmod(dotenv, 0o644)
    write_dotenv(str(dotenv), "KITE_ACCESS_TOKEN", 'new "quoted" value')
    write_dotenv(str(dotenv), "UPSTOX_ACCESS_TOKEN", "u1")
    assert dotenv.read_text().splitlines()[:2] == ["# keep me", "KITE_API_KEY=key"]
    assert read_dotenv(str(dotenv)) == {
        "KITE_API_KEY": "key",
        "KITE_ACCESS_TOKEN": 'new "quoted" value',
        "UPSTOX_ACCESS_TOKEN": "u1",
    }
    assert mode_of(dotenv) == 0o600
    assert os.listdir(tmp_path) == [".env"]


def test_write_dotenv_refuses_a_value_with_a_line_break(tmp_path):
    with pytest.raises(ConfigError):
        write_dotenv(str(tmp_path / ".env"), "KITE_ACCESS_TOKEN", "a\nEVIL=1")


@pytest.mark.parametrize(
    "tree, found",
    [
        ({"broker": {"kite": {"api_secret": "x"}}}, ("broker.kite.api_secret", "KITE_API_SECRET")),
        (
            {"feed": {"upstox": {"Access-Token": "x"}}},
            ("feed.upstox.Access-Token", "UPSTOX_ACCESS_TOKEN"),
        ),
        (
            {"instruments": [{}, {"password": "x"}]},
            ("instruments[1].password", "KITE_PASSWORD or UPSTOX_PASSWORD"),
        ),
        ({"broker": {"kite": {"kite_api_key": "x"}}}, ("broker.kite.kite_api_key", "KITE_API_KEY")),
        ({"instruments": [{"token": 1, "exchange_token": 2}]}, None),
    ],
)
def test_credential_keys_are_found_anywhere_in_a_json_tree(tree, found):
    assert find_secret_key(tree) == found


def test_no_field_of_the_schema_looks_like_a_credential():
    config = load_config(environ={}, dotenv_path=None).config
    assert find_secret_key(msgspec.to_builtins(config)) is None
