"""`--check-config` opens a replay feed's file: a bad one is exit 2 with one line naming the file,
the line and the column, before anything starts."""

import io

import orjson
import pytest

from config.cli import EXIT_CONFIG_ERROR, EXIT_OK, check_config
from config.loader import DEFAULT_PATH
from tests.config.test_check_config_cli import check
from tests.feed.test_replay_file_errors import BAD_FILES, GOOD, T0, TOO_BIG


def replay_config(tmp_path, content: bytes) -> str:
    (tmp_path / "session.csv").write_bytes(content)
    with open(DEFAULT_PATH, "rb") as f:
        tree = orjson.loads(f.read())
    tree["feed"] = {"source": "replay", "replay": {"path": str(tmp_path / "session.csv")}}
    (tmp_path / "replay.json").write_bytes(orjson.dumps(tree))
    return str(tmp_path / "replay.json")


def run_check(config: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = check_config(config, None, environ={}, dotenv_path=None, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_check_config_when_the_replay_file_is_bad_then_exit_2_naming_file_and_cause(tmp_path, kind):
    content, words = BAD_FILES[kind]
    code, out, err = run_check(replay_config(tmp_path, content))
    assert code == EXIT_CONFIG_ERROR and out == ""
    [line] = err.strip().splitlines()
    assert "feed.replay.path" in line and "session.csv" in line
    for word in words:
        assert word in line


def test_check_config_when_a_timestamp_is_above_int64_then_exit_2_naming_line_and_column(tmp_path):
    code, _, err = run_check(
        replay_config(tmp_path, f"ts_event_ns,symbol,price\n{GOOD}{TOO_BIG},SBIN,1\n".encode())
    )
    assert code == EXIT_CONFIG_ERROR and "line 22, column 'ts_event_ns'" in err


def test_check_config_when_the_replay_file_is_good_then_ok(tmp_path):
    code, out, _ = run_check(
        replay_config(tmp_path, f"ts_event_ns,symbol,price\n{T0},RELIANCE,1480.0\n".encode())
    )
    assert code == EXIT_OK and out.startswith("config OK")


def test_supervisor_check_config_when_the_replay_file_has_a_bad_byte_then_exit_2_with_its_line(
    tmp_path,
):
    content, _ = BAD_FILES["invalid_utf8"]
    result = check(tmp_path, "--config", replay_config(tmp_path, content))
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert "session.csv" in line and "line 22" in line and "0xff" in line
