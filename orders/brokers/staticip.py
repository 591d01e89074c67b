"""The broker's refusal of an order sent from an IP address it has not whitelisted.

SEBI's retail-algo framework (circular of 4 Feb 2025; NSE implementation standards NSE/INVG/67858)
makes every broker accept API orders (place, modify, cancel; GTT and multi-order too at Upstox) only
from the client's registered static IP, from 1 April 2026 for all brokers; other API calls (order
book, positions, market data) work from any IP (Zerodha: kite.trade/forum/discussion/15912; Upstox:
upstox.com/developer/api-documentation/announcements/algo-trading-circular).

Such a refusal is not a rejection of the order: every further order would be refused the same way
until a human whitelists the IP (at most one change a week), so it is a BrokerFatal with code
STATIC_IP, and its message says exactly that, which IP, and where to whitelist it.

The brokers' exact texts: a Zerodha user reported Kite's as "IP (2402:...) is not allowed"
(github.com/hopit-ai/india-trade-cli/issues/127); Upstox publishes no error code for it (its
error-code pages list none, 2026). So the refusal is recognised by its words (an IP address, or the
word IP, with "not allowed", "whitelist", "not registered", "unregistered" or "static IP"), never by
an error type or code alone: an assumption to re-check against a real refusal when one is captured.
Imports only `re` and `common.errors`.
"""

import re

from common.errors import BrokerFatal

STATIC_IP = "STATIC_IP"
WHERE = {
    "kite": "the Kite Connect developer console (developers.kite.trade > Profile > IP Whitelist)",
    "upstox": "Upstox's developer apps (My Apps > your app > Primary/Secondary static IP, or PUT "
              "/v2/user/ip); Upstox then invalidates the access token, so log in again",
}

_IP = re.compile(
    r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{0,4}){2,7})"
    r"(?![\w.:])"
)
_MENTIONS_IP = re.compile(r"\bIP\b|\bIPs\b|ip address|static ip", re.IGNORECASE)
_REFUSED = re.compile(r"not allowed|not whitelisted|whitelist|not registered|unregistered|"
                      r"static ip|not authori[sz]ed|not permitted|mismatch", re.IGNORECASE)


def is_refusal(text: str) -> bool:
    """True when a broker's error text refuses the request because of the caller's IP address."""
    return bool(_MENTIONS_IP.search(text) and _REFUSED.search(text))


def ip_in(text: str) -> str:
    """The first IPv4 or IPv6 address in `text`, or "" if it names none."""
    match = _IP.search(text)
    return match.group(0) if match else ""


def refusal(broker: str, endpoint: str, text: str, http_status: int | None) -> BrokerFatal:
    """The BrokerFatal for a static-IP refusal; `text` is the broker's (already scrubbed)
    message."""
    ip = ip_in(text)
    who = f"IP {ip}" if ip else ("this machine's IP (the broker did not name it: "
                                 f"`python -m orders.brokers.{broker}.check` says how to find it)")
    return BrokerFatal(
        f"{broker} {endpoint}: the broker refused an order from {who}: it is not whitelisted for "
        "API "
        "orders (SEBI retail-algo rules: orders only from a registered static IP); whitelist it "
        "in "
        f"{WHERE.get(broker, 'the broker developer console')} (one change a week), then start "
        "again. "
        f"The broker said: {text!r} (HTTP {http_status})",
        code=STATIC_IP,
        http_status=http_status,
    )


def egress_hint(broker: str) -> str:
    """How to find the IP the broker sees: neither Kite's nor Upstox's API reports it."""
    return (
        f"{broker}'s API does not report the IP it sees your orders come from. Find this machine's "
        f"public (egress) IP with `curl -4 https://ifconfig.me` (and `curl -6 https://ifconfig.me` "
        "if it has IPv6), run it on the machine that trades, and compare it with the IP "
        "whitelisted "
        f"in {WHERE.get(broker, 'the broker developer console')}."
    )


def masked(api_key: str) -> str:
    """An api key as printed: enough to tell which app it is, never the whole key."""
    return (
        f"{api_key[:4]}… ({len(api_key)} chars)" if len(api_key) > 8 else "(short key, not shown)"
    )


def print_session(broker: str, profile, api_key: str, stdout) -> None:
    """What `python -m orders.brokers.<broker>.check` prints for a session the broker accepted:
    the profile's user (a reply of another shape shows "?"), the app's key masked, and how to
    find the egress IP. Never a token."""
    profile = profile if isinstance(profile, dict) else {}
    print(
        f"{broker.capitalize()} session OK: user {profile.get('user_id', '?')} "
        f"({profile.get('user_name', '?')}), broker {profile.get('broker', '?')}, "
        f"exchanges {' '.join(profile.get('exchanges') or [])}",
        file=stdout,
    )
    print(f"API key (app): {masked(api_key)}", file=stdout)
    print(f"Egress IP: {egress_hint(broker)}", file=stdout)
