"""Review of the account home (issue 11.1): how a start opens the account's trading day, at its
edges.

Each test drives `dayopen.open_day` (what `python supervisor.py` calls after taking the locks) or
`open_account_day` on a private account home, with journals written in the engine's sealed format.
One test runs the real supervisor, for a refusal that must not be a traceback.
"""

import datetime as dt
import json
import os
import subprocess
import sys
import time

import pytest

from supervision import dayopen
from common.clock import ist_date
from common.journalline import seal
from supervision.accountday import SETTLEMENT, link_run_dir, open_account_day
from supervision.instancelock import take_instance_locks
from supervision.registry import RegistryError
from config.loader import load_config
from tests.chaos.harness import BASE, ROOT, merge

KEY = "paper-default"
# The paper account on a live feed (a sim or a replay keeps no account day): the local Kite ticker's
# address is never dialled here, the day is opened before any stage starts.
LIVE = merge(BASE, {"feed": {"source": "kite", "kite": {"root": "ws://127.0.0.1:9"}},
                    "broker": {"kite": {"local_server": True}}})


def _today() -> str:
    return ist_date(time.time_ns()).isoformat()


def _yesterday() -> str:
    return (ist_date(time.time_ns()) - dt.timedelta(days=1)).isoformat()


def _write(path: str, records: list[dict]) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path, "ab") as f:
        for r in records:
            f.write(seal(json.dumps(r, separators=(",", ":")).encode()))


def _config(tmp_path, home: str):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(merge(LIVE, {"run": {"account_home": home}})))
    return load_config(str(path)).config


def _marks(upto: int) -> list[dict]:
    return [{"type": "TicksProcessed", "seq": 1, "upto_seq": upto}]


def test_open_when_a_start_died_before_journaling_today_then_ticks_still_number_above_yesterday(
    tmp_path,
):
    """A start that dies before its first record leaves today's journal empty (link_run_dir creates
    it). Before: the next start saw today's journal, took ITS high-water mark (0) and numbered ticks
    from 1 again, so intent ids and broker tags repeated yesterday's."""
    home = str(tmp_path / "home")
    _write(os.path.join(home, KEY, _yesterday(), "orders.jsonl"), _marks(501))
    first = open_account_day(home, KEY)
    assert first.first_tick_seq == 501 and not first.resumed
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # the journal exists, empty; then the start died
    link_run_dir(str(run_dir), first, paper=True)
    again = open_account_day(home, KEY)
    assert again.first_tick_seq == 501
    assert not again.resumed, "an empty journal is no day to resume"


def test_open_day_when_the_old_run_dir_journaled_intents_above_the_day_then_ticks_number_above_both(
    tmp_path, capsys
):
    """Orders journals an intent only when it takes it; signals.jsonl (in the run dir) can hold
    intents above the day journal's marks when the run died. A start on that run dir reads them
    back, so its own ticks must number above them, or its intent ids repeat theirs."""
    home = str(tmp_path / "home")
    cfg = _config(tmp_path, home)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    first = dayopen.open_day(cfg, {}, str(run_dir))
    _write(os.path.join(first.dir, "orders.jsonl"), _marks(1001))
    _write(str(run_dir / "signals.jsonl"),
           [{"type": "SignalRaised", "seq": 1, "intent_id": "mac:2:1400", "tick_seq": 1400}])
    again = dayopen.open_day(cfg, {}, str(run_dir))
    assert again.first_tick_seq == 1401
    with open(run_dir / "account.json") as f:
        assert json.load(f)["first_tick_seq"] == 1401


def test_open_day_when_the_run_dir_holds_a_replay_journal_then_refused_and_yesterday_not_settled(
    tmp_path, capsys
):
    """Before: the day was created and yesterday settled (settlement.json written) before the
    conflict was found; the refused start never said so and the next start found the day already
    settled."""
    home = str(tmp_path / "home")
    cfg = _config(tmp_path, home)
    _write(
        os.path.join(home, KEY, _yesterday(), "orders.jsonl"),
        [
            {
                "type": "OrderFilled",
                "seq": 1,
                "symbol": "SBIN",
                "side": 1,
                "qty": 3,
                "leaves_qty": 0,
                "client_order_id": "E1",
            }
        ],
    )
    run_dir = tmp_path / "replay-run"
    _write(str(run_dir / "orders.jsonl"), _marks(10))
    with pytest.raises(dayopen.DayRefused):
        dayopen.open_day(cfg, {}, str(run_dir))
    assert "holds its own orders.jsonl" in capsys.readouterr().err
    assert not os.path.exists(os.path.join(home, KEY, _yesterday(), SETTLEMENT))
    assert not os.path.exists(os.path.join(home, KEY, _today()))
    assert not os.path.lexists(run_dir / "account.json")


def test_open_day_when_the_previous_day_has_damaged_lines_then_the_settlement_warns_and_keeps_their_ticks(  # noqa: E501 - the name is the test's sentence
    tmp_path, capsys
):
    home = str(tmp_path / "home")
    cfg = _config(tmp_path, home)
    journal = os.path.join(home, KEY, _yesterday(), "orders.jsonl")
    _write(journal, _marks(700))
    with open(journal, "ab") as f:  # a record whose checksum no longer matches (a flipped digit)
        f.write(
            seal(b'{"type":"TicksProcessed","seq":2,"upto_seq":900}').replace(
                b'"upto_seq":900', b'"upto_seq":901'
            )
        )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    day = dayopen.open_day(cfg, {}, str(run_dir))
    err = capsys.readouterr().err
    assert "settled the account's previous day" in err
    assert "1 line(s)" in err and "damaged" in err, err
    assert day.first_tick_seq == 901          # above the damaged record too: never below a used tag


@pytest.mark.slow
def test_supervisor_when_the_account_day_is_a_planted_symlink_then_exit_2_naming_it_without_a_traceback(  # noqa: E501 - the name is the test's sentence
    tmp_path,
):
    home = tmp_path / "home"
    (home / KEY).mkdir(parents=True, mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, home / KEY / _today())
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(merge(LIVE, {"run": {"account_home": str(home)}})))
    proc = subprocess.run(
        [
            sys.executable,
            f"{ROOT}/supervisor.py",
            "--config",
            str(cfg),
            "--run-dir",
            str(tmp_path / "run"),
            "--http-port",
            "0",
            "--no-dashboard",
            "--duration",
            "2",
        ],
        cwd=str(tmp_path),
        capture_output=True,
        timeout=120,
        env={**os.environ, "OTRADE_REGISTRY_DIR": str(tmp_path / "registry")},
    )
    out = (proc.stdout + proc.stderr).decode(errors="replace")
    assert proc.returncode == 2, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert "symlink" in out and str(home) in out
    # where to point it instead
    assert "OTRADE_ACCOUNT_HOME" in out and "OTRADE_REGISTRY_DIR" not in out
    assert os.listdir(elsewhere) == []


def test_locks_when_the_account_dir_belongs_to_another_user_then_the_refusal_names_the_account_home(
    tmp_path,
):
    """Before: "run registry ... set OTRADE_REGISTRY_DIR", which does not move the account home."""
    if os.geteuid() != 0:
        pytest.skip("planting a directory of another uid needs root")
    home = tmp_path / "home"
    (home / KEY).mkdir(parents=True, mode=0o700)
    os.chown(home / KEY, os.geteuid() + 1234, -1)
    cfg = _config(tmp_path, str(home))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with pytest.raises(RegistryError) as refused:
        take_instance_locks(cfg, {}, str(run_dir))
    assert "account home" in str(refused.value) and "OTRADE_ACCOUNT_HOME" in str(refused.value)
    assert "registry" not in str(refused.value).lower()


def _instruments_config(tmp_path, home: str, instruments: list[dict], name: str):
    path = tmp_path / f"{name}.json"
    path.write_text(
        json.dumps(merge(LIVE, {"run": {"account_home": home}, "instruments": instruments}))
    )
    return load_config(str(path)).config


def test_open_day_when_a_later_run_reorders_the_instruments_then_refused_naming_the_moved_one(
    tmp_path, capsys
):
    """Seen with the real supervisor: run 1 left RELIANCE +2 and TATASTEEL +1; run 2 the same day
    with the instrument list reversed restored them by position, its stop's flatten sold 2 TATASTEEL
    and 1 RELIANCE (the account then short TATASTEEL, still long RELIANCE) and positions.json showed
    flat."""
    home = str(tmp_path / "home")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    day = dayopen.open_day(
        _instruments_config(tmp_path, home, BASE["instruments"], "a"), {}, str(run_dir)
    )
    _write(os.path.join(day.dir, "orders.jsonl"), _marks(10))         # the day traded
    reordered = _instruments_config(tmp_path, home, list(reversed(BASE["instruments"])), "b")
    again = tmp_path / "again"
    again.mkdir()
    with pytest.raises(dayopen.DayRefused):
        dayopen.open_day(reordered, {}, str(again))
    err = capsys.readouterr().err
    assert "instrument 0 = RELIANCE" in err and "TATASTEEL" in err, err
    assert not os.path.lexists(again / "orders.jsonl")         # nothing of the day linked


def test_open_day_when_a_later_run_appends_an_instrument_then_the_day_resumes_with_it(tmp_path):
    home = str(tmp_path / "home")
    first, second = tmp_path / "r1", tmp_path / "r2"
    first.mkdir(), second.mkdir()
    day = dayopen.open_day(
        _instruments_config(tmp_path, home, BASE["instruments"][:3], "a"), {}, str(first)
    )
    _write(os.path.join(day.dir, "orders.jsonl"), _marks(10))
    wider = _instruments_config(tmp_path, home, BASE["instruments"], "b")
    assert dayopen.open_day(wider, {}, str(second)) is not None
    shorter = _instruments_config(tmp_path, home, BASE["instruments"][:2], "c")
    with pytest.raises(dayopen.DayRefused):
        dayopen.open_day(shorter, {}, str(second))     # the day now has six


def test_open_day_when_the_day_has_no_record_yet_then_any_instrument_order_is_taken(tmp_path):
    """A start that died before journaling binds nothing: the next may list its instruments anew."""
    home = str(tmp_path / "home")
    first, second = tmp_path / "r1", tmp_path / "r2"
    first.mkdir(), second.mkdir()
    assert dayopen.open_day(
        _instruments_config(tmp_path, home, BASE["instruments"], "a"), {}, str(first)
    )
    reordered = _instruments_config(tmp_path, home, list(reversed(BASE["instruments"])), "b")
    assert dayopen.open_day(reordered, {}, str(second)) is not None
