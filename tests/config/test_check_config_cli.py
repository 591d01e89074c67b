"""`python supervisor.py --check-config`, run as a real command in a scratch directory."""

import os
import subprocess
import sys

import orjson
import pytest

from config.loader import DEFAULT_PATH

SUPERVISOR = os.path.join(os.path.dirname(DEFAULT_PATH), os.pardir, "supervisor.py")
KITE_KEY = "kk-9f3e1d-never-print"
KITE_TOKEN = "kt-77ab02-never-print"


def clean_environ(**extra: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("KITE_", "UPSTOX_"))}
    environ.update(extra)
    return environ


def run_supervisor(cwd, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, os.path.abspath(SUPERVISOR), *args],
        cwd=cwd, env=clean_environ(**extra_env), capture_output=True, text=True, timeout=120,
    )


def check(cwd, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    return run_supervisor(cwd, "--check-config", *args, **extra_env)


def write_config(tmp_path, mutate=None, name="bad.json") -> str:
    with open(DEFAULT_PATH, "rb") as f:
        tree = orjson.loads(f.read())
    if mutate:
        mutate(tree)
    (tmp_path / name).write_bytes(orjson.dumps(tree, option=orjson.OPT_INDENT_2))
    return name


def assert_one_error(result, *words: str) -> None:
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    for word in words:
        assert word in line


def test_default_config_is_ok_with_a_one_line_summary(tmp_path):
    result = check(tmp_path)
    assert result.returncode == 0, result.stderr
    ok, summary = result.stdout.strip().splitlines()
    assert ok == "config OK"
    for part in ("feed: sim", "broker: paper", "mac (ma_crossover)", "instruments: 24"):
        assert part in summary
    assert result.stderr == ""


def test_unknown_key_names_file_and_field(tmp_path):
    name = write_config(tmp_path, lambda t: t.update(risk={"max_order_qt": 5}))
    assert_one_error(check(tmp_path, "--config", name), name, "risk.max_order_qt", "unknown key")


def test_wrong_type_names_file_and_field(tmp_path):
    name = write_config(tmp_path, lambda t: t["instruments"][3].update(tick_size="0.05"))
    assert_one_error(
        check(tmp_path, "--config", name), name, "instruments[3].tick_size", "expected float"
    )


def test_out_of_range_value_names_file_field_and_value(tmp_path):
    name = write_config(tmp_path, lambda t: t.update(supervisor={"restart": {"max_restarts": -1}}))
    assert_one_error(check(tmp_path, "--config", name),
                     name, "supervisor.restart.max_restarts", ">= 0", "got -1")


def test_cross_field_rule_is_checked_before_anything_starts(tmp_path):
    name = write_config(tmp_path, lambda t: t["strategies"][0].update(params={"fast": 50}))
    assert_one_error(check(tmp_path, "--config", name), "strategies[0].params.slow", "fast (50)")


def test_malformed_json_reports_line_and_column(tmp_path):
    (tmp_path / "broken.json").write_text('{\n  "risk": {\n    "max_order_qty": 10,,\n  }\n}\n')
    assert_one_error(check(tmp_path, "--config", "broken.json"), "broken.json", "line 3 column 25")


def test_missing_file_is_named(tmp_path):
    assert_one_error(check(tmp_path, "--config", "nowhere.json"), "nowhere.json", "not found")


def test_unknown_env_lists_the_known_ones(tmp_path):
    assert_one_error(check(tmp_path, "--env", "qa"), "--env", "'qa'", "dev, prod, staging")


def test_overlay_error_names_the_overlay_file(tmp_path):
    name = write_config(tmp_path)
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "late.json").write_text('{"risk": {"square_off": "15:45"}}')
    assert_one_error(check(tmp_path, "--config", name, "--env", "late"),
                     os.path.join("env", "late.json"), "risk.session_end")


def test_missing_secret_names_the_variable_and_never_a_value(tmp_path):
    result = check(tmp_path, "--env", "prod", KITE_API_KEY=KITE_KEY)
    assert_one_error(result, "KITE_ACCESS_TOKEN", "prod.json")
    assert KITE_KEY not in result.stderr


def test_secrets_from_env_or_dotenv_are_never_printed(tmp_path):
    from_env = check(tmp_path, "--env", "prod", KITE_API_KEY=KITE_KEY, KITE_ACCESS_TOKEN=KITE_TOKEN)
    (tmp_path / ".env").write_text(f"KITE_API_KEY={KITE_KEY}\nKITE_ACCESS_TOKEN={KITE_TOKEN}\n")
    from_dotenv = check(tmp_path, "--env", "prod")
    for result in (from_env, from_dotenv):
        assert result.returncode == 0, result.stderr
        assert "broker: kite" in result.stdout
        for secret in (KITE_KEY, KITE_TOKEN):
            assert secret not in result.stdout + result.stderr


def test_secret_in_json_is_refused_without_echoing_it(tmp_path):
    name = write_config(tmp_path, lambda t: t.update(broker={"kite": {"api_key": KITE_KEY}}))
    result = check(tmp_path, "--config", name)
    assert_one_error(result, "broker.kite.api_key", "KITE_API_KEY")
    assert KITE_KEY not in result.stderr


def test_bad_command_line_override_is_a_config_error(tmp_path):
    assert_one_error(
        check(tmp_path, "--http-port", "70000"), "command line", "supervisor.http_port"
    )


@pytest.mark.parametrize("args", [["--config", "nowhere.json"], ["--duration", "-5"]])
def test_running_with_a_bad_config_exits_2_before_starting(tmp_path, args):
    assert_one_error(run_supervisor(tmp_path, *args))
