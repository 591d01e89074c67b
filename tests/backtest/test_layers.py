"""backtest/ sits on top, beside supervisor.py: it may import the stages' engines, nothing imports
it."""

import pytest

from tests.test_layering import STAGES, _files, _imports


@pytest.mark.parametrize("package", [*STAGES, "common", "config"])
def test_no_stage_common_or_config_module_imports_backtest(package):
    offenders = sorted(str(p) for p in _files(package) if "backtest" in _imports(p))
    assert offenders == []
