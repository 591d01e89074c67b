"""/health's Host check (DNS rebinding) on the odd names a browser or a script may send."""

import pytest

from supervision.health import is_loopback_host


@pytest.mark.parametrize(
    "host", ["LOCALHOST", "LocalHost:8080", "[::1]", "[::1]:9100", "127.0.0.1:1"]
)
def test_host_when_a_loopback_name_in_any_case_or_with_a_port_then_served(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "localhost.",
        "localhost.:80",
        "127.0.0.1.nip.io",
        "localhost.attacker.com",
        "attacker.com:80@localhost",
        "::1",
        "[::ffff:127.0.0.1]",
        "0.0.0.0",
        "127.1",
        "",
        None,
    ],
)
def test_host_when_a_rebinding_name_a_bare_ipv6_or_a_trailing_dot_then_refused(host):
    # "localhost." (the fully-qualified form) is refused too: that fails closed, and a script can
    # say "localhost"; every other name here must never be served.
    assert not is_loopback_host(host)
