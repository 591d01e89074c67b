"""The login helper exchanges a single-use auth code and stores the token in .env, never printing
it."""

from config.secrets import read_dotenv
from orders.brokers.upstox.credentials import LOCAL_ACCESS_TOKEN
from orders.brokers.upstox.login import main
from tests.orders.brokers.upstox.upstox_support import make_upstox, upstox  # noqa: F401 - fixtures


def test_code_exchange_writes_the_token_to_dotenv_and_does_not_print_it(upstox, tmp_path, capsys):
    dotenv = tmp_path / ".env"
    dotenv.write_text("OTHER=1\n")
    code = upstox.server.issue_auth_code()
    rc = main(["--code", code, "--local", "--host", upstox.server.url, "--dotenv", str(dotenv)])
    out = capsys.readouterr()
    assert rc == 0 and LOCAL_ACCESS_TOKEN not in out.out + out.err
    assert read_dotenv(str(dotenv)) == {"OTHER": "1", "UPSTOX_ACCESS_TOKEN": LOCAL_ACCESS_TOKEN}


def test_a_code_is_single_use(upstox, tmp_path, capsys):
    dotenv = str(tmp_path / ".env")
    code = upstox.server.issue_auth_code()
    args = ["--code", code, "--local", "--host", upstox.server.url, "--dotenv", dotenv]
    assert main(args) == 0
    assert main(args) == 1
    assert "UDAPI100057" in capsys.readouterr().err


def test_without_a_code_it_prints_the_authorization_url(tmp_path, capsys):
    assert main(["--local", "--dotenv", str(tmp_path / ".env")]) == 0
    assert "login/authorization/dialog?response_type=code" in capsys.readouterr().out
