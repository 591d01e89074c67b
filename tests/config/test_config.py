"""The loader and the schema: merging, validation with dotted paths, secrets, child processes."""

import multiprocessing
import os
import pickle

import msgspec
import orjson
import pytest

from common.errors import ConfigError
from config.loader import CONFIG_DIR, DEFAULT_PATH, LoadedConfig, effective_json, load_config
from config.schema import Config, MACrossoverParams, StrategyConfig, minutes_of_day

FAKE_KITE = {"KITE_API_KEY": "kk-fake-key", "KITE_ACCESS_TOKEN": "kt-fake-token"}
NO_DOTENV = None


def default_tree() -> dict:
    with open(DEFAULT_PATH, "rb") as f:
        return orjson.loads(f.read())


def write_json(path, tree) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(tree))
    return str(path)


def load_tree(tmp_path, tree, **kwargs) -> LoadedConfig:
    kwargs.setdefault("environ", {})
    return load_config(write_json(tmp_path / "config.json", tree), dotenv_path=NO_DOTENV, **kwargs)


def error_of(tmp_path, mutate, **kwargs) -> ConfigError:
    tree = default_tree()
    mutate(tree)
    with pytest.raises(ConfigError) as info:
        load_tree(tmp_path, tree, **kwargs)
    return info.value


def test_default_config_runs_sim_feed_paper_broker_and_one_ma_crossover():
    loaded = load_config(environ={}, dotenv_path=NO_DOTENV)
    config = loaded.config
    assert loaded.sources == (DEFAULT_PATH,)
    assert (config.feed.source, config.broker.name) == ("sim", "paper")
    [strategy] = config.strategies
    assert strategy.kind == "ma_crossover"
    assert isinstance(strategy.params, MACrossoverParams)
    assert config.strategy_symbols(strategy) == tuple(i.symbol for i in config.instruments)


def nse_tick_band(price: float) -> float:
    for upper, tick in ((250, 0.01), (1000, 0.05), (5000, 0.10), (10000, 0.50), (20000, 1.00)):
        if price < upper:
            return tick
    return 5.00


def test_default_universe_uses_nse_tick_bands_and_kite_tokens():
    instruments = load_config(environ={}, dotenv_path=NO_DOTENV).config.instruments
    assert 20 <= len(instruments) <= 24
    for inst in instruments:
        assert inst.tick_size == nse_tick_band(inst.ref_price), inst.symbol
        assert inst.exchange_token == inst.token >> 8, inst.symbol  # NSE segment of a Kite token
    assert {i.symbol: i.token for i in instruments}["RELIANCE"] == 738561


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_env_overlay_loads_on_top_of_the_default(env):
    loaded = load_config(env=env, environ=FAKE_KITE, dotenv_path=NO_DOTENV)
    assert loaded.sources == (DEFAULT_PATH, os.path.join(CONFIG_DIR, "env", f"{env}.json"))


def test_prod_overlay_trades_live_on_kite_with_durable_journals():
    config = load_config(env="prod", environ=FAKE_KITE, dotenv_path=NO_DOTENV).config
    assert (config.feed.source, config.broker.name, config.journal.fsync) == (
        "kite",
        "kite",
        "always",
    )
    assert config.broker.is_live


def test_overlay_merges_dicts_recursively_and_replaces_lists(tmp_path):
    base = default_tree()
    base["risk"] = {"max_order_qty": 7, "max_open_orders": 3}
    write_json(tmp_path / "env" / "mine.json", {
        "risk": {"max_open_orders": 9},
        "strategies": [{"name": "b", "kind": "ma_crossover", "instruments": ["SBIN"]}],
    })
    config = load_tree(tmp_path, base, env="mine").config
    assert (config.risk.max_order_qty, config.risk.max_open_orders) == (7, 9)
    assert [s.name for s in config.strategies] == ["b"]


def test_overlay_with_unknown_key_is_reported_against_the_overlay_file(tmp_path):
    write_json(tmp_path / "env" / "mine.json", {"risk": {"max_ordr_qty": 9}})
    with pytest.raises(ConfigError) as info:
        load_tree(tmp_path, default_tree(), env="mine")
    assert info.value.path == "risk.max_ordr_qty"
    assert info.value.source.endswith(os.path.join("env", "mine.json"))
    assert "did you mean 'max_order_qty'" in str(info.value)


def test_bad_value_is_reported_against_the_file_that_set_it(tmp_path):
    base = default_tree()
    base["risk"] = {"max_order_qty": 0}
    write_json(tmp_path / "env" / "mine.json", {"risk": {"max_open_orders": 9}})
    with pytest.raises(ConfigError) as info:
        load_tree(tmp_path, base, env="mine")
    assert info.value.source.endswith("config.json")
    assert info.value.path == "risk.max_order_qty"


def test_unknown_env_lists_the_known_environments():
    with pytest.raises(ConfigError) as info:
        load_config(env="qa", environ={}, dotenv_path=NO_DOTENV)
    assert "dev, prod, staging" in str(info.value)


@pytest.mark.parametrize(
    "mutate, path, words",
    [
        (
            lambda t: t.update(risk={"max_order_qty": "10"}),
            "risk.max_order_qty",
            "expected int, got str",
        ),
        (lambda t: t.update(risk={"max_order_qty": 0}), "risk.max_order_qty", ">= 1, got 0"),
        (lambda t: t["instruments"][3].update(tick_size=-0.05), "instruments[3].tick_size", "> 0"),
        (lambda t: t["instruments"][3].pop("token"), "instruments[3].token", "missing"),
        (
            lambda t: t["instruments"][3].update(ref_price=1520.03),
            "instruments[3].ref_price",
            "multiple",
        ),
        (
            lambda t: t["instruments"][4].update(symbol="RELIANCE"),
            "instruments[4].symbol",
            "duplicate",
        ),
        (lambda t: t.update(feed={"source": "rply"}), "feed.source", "choose from"),
        (lambda t: t.update(feed={"ring_capacity": 1000}), "feed.ring_capacity", "power of two"),
        (lambda t: t.update(feed={"source": "replay"}), "feed.replay.path", "required"),
        (
            lambda t: t.update(risk={"square_off": "15:45"}),
            "risk.session_end",
            "later than square_off",
        ),
        (lambda t: t.update(risk={"entry_cutoff": "9am"}), "risk.entry_cutoff", "HH:MM"),
        (lambda t: t.update(supervisor={"http_port": 70000}), "supervisor.http_port", "<= 65535"),
        (
            lambda t: t["strategies"][0].update(params={"fast": 30, "slow": 10}),
            "strategies[0].params.slow",
            "greater than fast",
        ),
        (
            lambda t: t["strategies"][0].update(params={"fsat": 3}),
            "strategies[0].params.fsat",
            "'fast'",
        ),
        (
            lambda t: t["strategies"][0].update(kind="rsi"),
            "strategies[0].kind",
            "unknown strategy kind",
        ),
        (lambda t: t["strategies"][0].update(name="macross_1"), "strategies[0].name", "1-8"),
        (
            lambda t: t["strategies"][0].update(instruments=["SBIN", "ZOMATO"]),
            "strategies[0].instruments[1]",
            "unknown instrument",
        ),
        (
            lambda t: t["strategies"].append({"name": "mac", "kind": "ma_crossover"}),
            "strategies[1].name",
            "duplicate",
        ),
        (lambda t: t.update(broker={"name": "kite"}), "broker.name", "live feed"),
        (
            lambda t: t.update(feed={"source": "upstox"}),
            "instruments[0].broker_key",
            "instrument_key",
        ),
        (lambda t: t.update(stages={"orders": {"cores": [0, 0]}}), "stages.orders.cores", "twice"),
    ],
)
def test_invalid_value_names_the_dotted_path_of_the_field(tmp_path, mutate, path, words):
    error = error_of(tmp_path, mutate, available_cores=[0, 1])
    assert error.path == path
    assert words in str(error)
    assert str(error).startswith(f"{error.source}: {path}: ")


def test_core_not_available_to_this_process_is_rejected(tmp_path):
    error = error_of(tmp_path, lambda t: t.update(stages={"signals": {"cores": [1, 5]}}),
                     available_cores=[0, 1])
    assert error.path == "stages.signals.cores[1]"


def test_replay_source_needs_an_existing_file(tmp_path):
    missing = str(tmp_path / "nothing.csv")
    error = error_of(
        tmp_path, lambda t: t.update(feed={"source": "replay", "replay": {"path": missing}})
    )
    assert error.path == "feed.replay.path"
    (tmp_path / "nothing.csv").write_text("recorded ticks\n")
    tree = default_tree()
    tree["feed"] = {"source": "replay", "replay": {"path": missing}}
    assert load_tree(tmp_path, tree).config.feed.replay.resolved_format() == "csv"


def test_replay_example_validates_once_its_recording_exists(tmp_path, monkeypatch):
    example = os.path.join(CONFIG_DIR, "examples", "replay.json")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError):
        load_config(example, environ={}, dotenv_path=NO_DOTENV)
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "session.csv").write_text("recorded ticks\n")
    assert load_config(example, environ={}, dotenv_path=NO_DOTENV).config.feed.source == "replay"


def test_credential_in_json_is_rejected_without_echoing_its_value(tmp_path):
    error = error_of(tmp_path, lambda t: t.update(broker={"kite": {"access_token": "tok-S3CRET"}}))
    assert error.path == "broker.kite.access_token"
    assert "KITE_ACCESS_TOKEN" in str(error)
    assert "tok-S3CRET" not in str(error)


def test_kite_broker_without_credentials_names_the_missing_variable(tmp_path):
    def live_kite(tree):
        tree.update(feed={"source": "kite"}, broker={"name": "kite"})

    error = error_of(tmp_path, live_kite, environ={"KITE_API_KEY": "kk-fake-key"})
    assert error.path == "broker.name"
    assert "KITE_ACCESS_TOKEN" in str(error)
    assert "kk-fake-key" not in str(error)


def test_upstox_without_credentials_names_the_missing_variable(tmp_path):
    def live_upstox(tree):
        tree.update(feed={"source": "upstox"}, broker={"name": "upstox"})
        for i, inst in enumerate(tree["instruments"]):
            inst["broker_key"] = f"NSE_EQ|TESTISIN{i:04d}"

    error = error_of(tmp_path, live_upstox, environ={"UPSTOX_ACCESS_TOKEN": "ut-fake"})
    assert "UPSTOX_API_KEY" in str(error)
    assert "ut-fake" not in str(error)


def test_local_kite_server_needs_no_credentials(tmp_path):
    tree = default_tree()
    tree.update(broker={"name": "kite", "kite": {"local_server": True, "root": "http://127.0.0.1:9"}})
    config = load_tree(tmp_path, tree).config
    assert not config.broker.is_live


def test_command_line_overrides_are_validated_like_the_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(environ={}, dotenv_path=NO_DOTENV, overrides={"supervisor": {"http_port": -1}})
    assert (info.value.source, info.value.path) == ("command line", "supervisor.http_port")
    config = load_config(environ={}, dotenv_path=NO_DOTENV,
                         overrides={"supervisor": {"duration_s": 2.5}}).config
    assert config.supervisor.duration_s == 2.5


def test_config_is_frozen():
    config = load_config(environ={}, dotenv_path=NO_DOTENV).config
    with pytest.raises(AttributeError):
        config.risk.max_order_qty = 10**6
    assert isinstance(config.instruments, tuple)


def test_effective_json_loads_back_into_the_same_config():
    config = load_config(environ={}, dotenv_path=NO_DOTENV).config
    assert msgspec.convert(orjson.loads(effective_json(config)), Config) == config


def test_strategy_built_in_python_validates_its_params():
    assert StrategyConfig(name="x", kind="ma_crossover", params={"fast": 3}).params.fast == 3
    with pytest.raises(ValueError):
        StrategyConfig(name="x", kind="ma_crossover", params={"fast": 40})


def test_minutes_of_day_reads_24_hour_times():
    assert minutes_of_day("09:15") == 555
    with pytest.raises(ValueError):
        minutes_of_day("24:00")


def describe_in_child(loaded: LoadedConfig, conn) -> None:
    conn.send((effective_json(loaded.config), loaded.secrets.get("KITE_API_KEY"), repr(loaded)))
    conn.close()


def test_loaded_config_passes_to_a_spawned_child_process():
    loaded = load_config(env="prod", environ=FAKE_KITE, dotenv_path=NO_DOTENV)
    assert pickle.loads(pickle.dumps(loaded)) == loaded
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=describe_in_child, args=(loaded, child))
    process.start()
    try:
        child.close()
        assert parent.poll(60)
        config_json, api_key, text = parent.recv()
    finally:
        process.join(30)
        if process.is_alive():
            process.kill()
            process.join()
        parent.close()
    assert config_json == effective_json(loaded.config)
    assert api_key == FAKE_KITE["KITE_API_KEY"]
    assert FAKE_KITE["KITE_ACCESS_TOKEN"] not in text
