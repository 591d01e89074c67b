"""What each long backtest command's bar shows, and where (the bar itself: common.progress)."""

from types import SimpleNamespace

from backtest.progress import progress_bar as backtest_bar
from backtest.sweep.search import progress_bar as sweep_bar
from feed.history.progress import chunk_bar


def test_backtest_bar_when_enabled_then_rows_of_the_tape_on_stdout(capsys):
    with backtest_bar(32_768, enabled=True) as advance:
        advance(16_384)
    out = capsys.readouterr()
    assert "backtest" in out.out and "16384/32768" in out.out and "rows" in out.out
    assert out.err == ""


def test_sweep_bar_when_enabled_then_cells_failed_and_eta_on_stderr(capsys):
    with sweep_bar(5, enabled=True) as advance:
        advance(1, 0)
        advance(1, 1)
    out = capsys.readouterr()
    assert out.out == ""
    for part in ("sweep", "2/5", "cells", "1 failed", "ETA"):
        assert part in out.err, part


def test_history_bar_when_enabled_then_calls_and_the_last_chunk_on_stderr(capsys):
    chunk = SimpleNamespace(symbol="INFY", first="2024-01-01", last="2024-03-31")
    with chunk_bar(3, enabled=True, label="kite minute") as advance:
        advance(chunk)
    out = capsys.readouterr()
    assert out.out == ""
    for part in ("kite minute", "1/3", "calls", "INFY 2024-01-01..2024-03-31"):
        assert part in out.err, part


def test_each_bar_when_disabled_or_history_plan_is_empty_then_nothing_is_written(capsys):
    with backtest_bar(10, enabled=False) as a, sweep_bar(10, enabled=False) as b:
        a(5)
        b(1, 1)
    with chunk_bar(0, enabled=True, label="kite minute"):
        pass
    assert capsys.readouterr() == ("", "")
