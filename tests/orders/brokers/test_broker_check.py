"""`python -m orders.brokers.kite.check` / `upstox.check` against the local venues: the session is
verified by a profile call, the registered static IPs shown where the API tells them, and the
morning routine (login, then check) is one command."""

import io

from localvenue.kite.server import LOCAL_API_SECRET as KITE_SECRET
from orders.brokers.kite import check as kite_check
from orders.brokers.upstox import check as upstox_check
from tests.orders.brokers.kite.kite_support import kite, make_kite  # noqa: F401 - fixtures
from tests.orders.brokers.upstox.upstox_support import make_upstox, upstox  # noqa: F401 - fixtures


def run(module, argv, **kwargs) -> tuple[int, str]:
    out = io.StringIO()
    code = module.main(argv, stdout=out, **kwargs)
    return code, out.getvalue()


def test_kite_check_when_session_is_good_then_exit_0_with_user_and_egress_ip_hint(kite, tmp_path):
    code, out = run(
        kite_check,
        ["--root", kite.server.url, "--local", "--dotenv", str(tmp_path / ".env")],
        environ={},
    )
    assert code == 0, out
    assert "Kite session OK: user LOCAL1" in out
    assert "does not report the IP" in out and "developers.kite.trade" in out
    assert kite.server.count("GET", "/user/profile") == 1


def test_kite_check_when_token_refused_then_exit_1_and_no_token_printed(kite, tmp_path):
    kite.server.fail_next("token", route="GET /user/profile")
    code, out = run(
        kite_check,
        ["--root", kite.server.url, "--local", "--dotenv", str(tmp_path / ".env")],
        environ={},
    )
    assert code == 1 and "kite check failed" in out and "local-token" not in out


def test_kite_check_with_login_stores_the_token_then_verifies_it(kite, tmp_path):
    dotenv = tmp_path / ".env"
    environ = {"KITE_API_KEY": "local", "KITE_API_SECRET": KITE_SECRET}
    token = kite.server.issue_request_token()
    code, out = run(kite_check, ["--login", "--request-token", token, "--root", kite.server.url,
                                 "--dotenv", str(dotenv)], environ=environ, stdin=io.StringIO())
    assert code == 0, out
    assert "KITE_ACCESS_TOKEN=" in dotenv.read_text()
    assert "Kite session OK: user LOCAL1" in out


def test_kite_check_without_credentials_names_the_missing_variable(tmp_path):
    code, out = run(kite_check, ["--dotenv", str(tmp_path / ".env")], environ={})
    assert code == 1 and "KITE_API_KEY" in out


def test_upstox_check_when_session_is_good_then_prints_registered_static_ips(upstox, tmp_path):
    code, out = run(
        upstox_check,
        ["--host", upstox.server.url, "--local", "--dotenv", str(tmp_path / ".env")],
        environ={},
    )
    assert code == 0, out
    assert "Upstox session OK: user LOCAL1" in out
    assert "Registered static IPs for API orders: 203.0.113.10" in out
    assert "does not report the IP" in out


def test_upstox_check_when_no_static_ip_is_registered_then_exit_1(upstox, tmp_path):
    upstox.server.fail_next(
        "reply",
        route="GET /v2/user/ip",
        body=b'{"status": "success", "data": {"user_id": "LOCAL1", "primary_ip": null}}',
    )
    code, out = run(
        upstox_check,
        ["--host", upstox.server.url, "--local", "--dotenv", str(tmp_path / ".env")],
        environ={},
    )
    assert code == 1 and "No static IP is registered" in out


def test_upstox_check_when_token_refused_then_exit_1(upstox, tmp_path):
    upstox.server.fail_next("token", route="GET /v2/user/profile")
    code, out = run(
        upstox_check,
        ["--host", upstox.server.url, "--local", "--dotenv", str(tmp_path / ".env")],
        environ={},
    )
    assert code == 1 and "upstox check failed" in out and "local-upstox-token" not in out


def test_upstox_check_with_login_code_stores_the_token_then_verifies_it(upstox, tmp_path):
    dotenv = tmp_path / ".env"
    code, out = run(
        upstox_check,
        [
            "--login-code",
            upstox.server.issue_auth_code(),
            "--host",
            upstox.server.url,
            "--local",
            "--dotenv",
            str(dotenv),
        ],
        environ={},
    )
    assert code == 0, out
    assert "UPSTOX_ACCESS_TOKEN=" in dotenv.read_text() and "Upstox session OK" in out


def test_upstox_check_with_login_reads_the_pasted_redirect_url_then_verifies(upstox, tmp_path):
    dotenv = tmp_path / ".env"
    pasted = io.StringIO(f"http://127.0.0.1:8080/?code={upstox.server.issue_auth_code()}&state=x\n")
    code, out = run(upstox_check, ["--login", "--host", upstox.server.url, "--local", "--dotenv",
                                   str(dotenv)], environ={}, stdin=pasted)
    assert code == 0, out
    assert "Log in to Upstox at:" in out and "Upstox session OK" in out
    assert "UPSTOX_ACCESS_TOKEN=" in dotenv.read_text()
