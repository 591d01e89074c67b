"""Post-run reports: report.html, its charts and summary.json's `statistics`, from a run directory's
files.

Not a stage: nothing here runs while trading. It sits above the stages (like backtest/), so it may
use their pure modules where the report must agree with them: the fills are replayed through the
positions stage's own book (positions/positionbook.py, whose accounting is common/accounting.py),
and a tick file is read by the replay feed's reader (common/replaycolumns.py). No stage imports it
(tests/test_layering.py).

    python -m reports.report RUN_DIR       # report.html for any finished (or killed) run directory
"""
