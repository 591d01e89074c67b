"""The login helper: request token → access token in .env (0600), never printing a secret."""

import hashlib
import io
import os
import stat

import requests
from kiteconnect import KiteConnect

from config.secrets import read_dotenv
from localvenue.kite.server import LOCAL_API_SECRET
from orders.brokers.kite.login import main, request_token_of
from tests.orders.brokers.kite.kite_support import kite, make_kite  # noqa: F401 - fixtures

ENV = {"KITE_API_KEY": "local", "KITE_API_SECRET": LOCAL_API_SECRET}


def login(h, dotenv, *, environ=ENV, token=None, stdin=""):
    out = io.StringIO()
    argv = ["--dotenv", str(dotenv), "--root", h.server.url]
    if token is not None:
        argv += ["--request-token", token]
    code = main(argv, stdin=io.StringIO(stdin), stdout=out, environ=environ)
    return code, out.getvalue()


def test_login_stores_the_access_token_in_a_private_dotenv_and_prints_no_secret(kite, tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("OTHER=kept\n")
    request_token = kite.server.issue_request_token()
    code, out = login(kite, dotenv, stdin=request_token + "\n")
    assert code == 0
    assert read_dotenv(str(dotenv)) == {"OTHER": "kept", "KITE_ACCESS_TOKEN": "local-token"}
    assert stat.S_IMODE(os.stat(dotenv).st_mode) == 0o600
    assert "kite.zerodha.com/connect/login?api_key=local" in out
    for secret in ("local-token", LOCAL_API_SECRET, request_token):
        assert secret not in out


def test_the_stored_token_works_against_the_server(kite, tmp_path):
    dotenv = tmp_path / ".env"
    login(kite, dotenv, token=kite.server.issue_request_token())
    token = read_dotenv(str(dotenv))["KITE_ACCESS_TOKEN"]
    assert KiteConnect("local", access_token=token, root=kite.server.url, timeout=2).orders() == []


def test_the_whole_redirect_url_may_be_pasted():
    url = "https://127.0.0.1/callback?action=login&type=login&status=success&request_token=abc123"
    assert request_token_of(url) == "abc123"
    assert request_token_of("  abc123\n") == "abc123"


def test_a_wrong_api_secret_fails_the_checksum_without_showing_it(kite, tmp_path):
    wrong = dict(ENV, KITE_API_SECRET="not-the-secret")
    request_token = kite.server.issue_request_token()
    code, out = login(kite, tmp_path / ".env", environ=wrong, token=request_token)
    assert code == 1 and "checksum" in out
    assert "not-the-secret" not in out and request_token not in out
    assert not (tmp_path / ".env").exists()


def test_a_request_token_works_once(kite, tmp_path):
    request_token = kite.server.issue_request_token()
    assert login(kite, tmp_path / ".env", token=request_token)[0] == 0
    code, out = login(kite, tmp_path / "second.env", token=request_token)
    assert code == 1 and "invalid or has expired" in out


def test_missing_credentials_name_the_variable(kite, tmp_path):
    code, out = login(kite, tmp_path / ".env", environ={"KITE_API_KEY": "local"})
    assert code == 2 and "KITE_API_SECRET" in out


def test_the_server_accepts_only_sha256_of_key_token_and_secret(kite):
    request_token = kite.server.issue_request_token()
    form = {"api_key": "local", "request_token": request_token}
    wrong = hashlib.sha256(f"local{request_token}".encode()).hexdigest()
    answer = requests.post(f"{kite.server.url}/session/token", data=form | {"checksum": wrong},
                           timeout=2)
    assert answer.status_code == 403 and answer.json()["error_type"] == "TokenException"
    right = hashlib.sha256(f"local{request_token}{LOCAL_API_SECRET}".encode()).hexdigest()
    answer = requests.post(f"{kite.server.url}/session/token", data=form | {"checksum": right},
                           timeout=2)
    assert answer.json()["data"]["access_token"] == "local-token"
