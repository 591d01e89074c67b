"""`python -m config.instruments_cli`: a dump becomes a config's instruments, which the loader
accepts."""

import json
import os
import subprocess
import sys

from config.instruments_cli import main
from config.loader import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "orders", "fixtures")
KITE = os.path.join(FIXTURES, "kite_instruments.csv")
UPSTOX = os.path.join(FIXTURES, "upstox", "bod_nse.json")


def test_kite_dump_into_a_config_file_keeps_its_other_sections_and_loads(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"risk": {"max_order_qty": 50}, "instruments": []}))
    assert (
        main(
            [
                "kite",
                KITE,
                "INFY",
                "ADANIPORTS",
                "--ref-price",
                "ADANIPORTS=1400",
                "--into",
                str(path),
            ]
        )
        == 0
    )
    doc = json.loads(path.read_text())
    assert doc["risk"] == {"max_order_qty": 50}
    assert [i["symbol"] for i in doc["instruments"]] == ["INFY", "ADANIPORTS"]
    assert doc["instruments"][1]["ref_price"] == 1400.0
    config = load_config(str(path)).config
    assert [i.symbol for i in config.instruments] == ["INFY", "ADANIPORTS"]
    assert config.instruments[0].token == 408065


def test_an_unpriced_instrument_or_an_unknown_symbol_stops_it_with_exit_code_2(capsys):
    assert main(["kite", KITE, "ADANIPORTS"]) == 2
    assert "--ref-price" in capsys.readouterr().err
    assert main(["kite", KITE, "INFYY"]) == 2
    assert "INFY" in capsys.readouterr().err          # the near spelling is offered


def test_upstox_dump_prints_instruments_json_from_the_command_line():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "config.instruments_cli",
            "upstox",
            UPSTOX,
            "RELIANCE",
            "--ref-price",
            "RELIANCE=1480",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    (inst,) = json.loads(out.stdout)["instruments"]
    assert inst["symbol"] == "RELIANCE" and inst["broker_key"].startswith("NSE_EQ|")
