"""`/health` (JSON) and `/metrics` (Prometheus text) on 127.0.0.1, served from a daemon thread.

Both are rendered from one status snapshot (`status()` → dict, see status.py), so what an operator
sees in /health, in /metrics and in the status view can never disagree.

Only loopback host names are served (issue 12.8): binding to 127.0.0.1 keeps other hosts out, but a
web page the trader opens can point a name it controls at 127.0.0.1 (DNS rebinding) and read
positions through the browser. Such a request carries the page's own name in its Host header, so any
Host other than localhost, 127.0.0.1 or [::1] (with or without a port) gets 421 Misdirected Request.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


class _StatusCollector:
    def __init__(self, status):
        self._status = status

    def collect(self):
        snap = self._status()
        stages = snap["stages"]
        restarts = CounterMetricFamily(
            "otrade_stage_restarts", "Restarts per stage", labels=["stage"]
        )
        heartbeat = GaugeMetricFamily(
            "otrade_stage_heartbeat_age_seconds", "Age of the last heartbeat", labels=["stage"]
        )
        lag = GaugeMetricFamily(
            "otrade_stage_ring_lag_ticks", "Ticks behind the ring writer", labels=["stage"]
        )
        up = GaugeMetricFamily("otrade_stage_up", "1 when the stage is ready", labels=["stage"])
        counters = CounterMetricFamily(
            "otrade_events", "Counted events per stage", labels=["stage", "event"]
        )
        for name, s in stages.items():
            restarts.add_metric([name], s["restarts"])
            heartbeat.add_metric([name], max(s["heartbeat_age_s"], 0.0))
            lag.add_metric([name], s["ring_lag"])
            up.add_metric([name], 1.0 if s["state"] == "ready" else 0.0)
            for event, value in s["counters"].items():
                counters.add_metric([name, event], value)
        yield from (restarts, heartbeat, lag, up, counters)
        quant = GaugeMetricFamily(
            "otrade_stage_latency_quantile_seconds",
            "Stage latency quantiles",
            labels=["stage", "quantile"],
        )
        for name, s in stages.items():
            for q, key in (
                ("0.5", "p50_us"),
                ("0.99", "p99_us"),
                ("0.999", "p999_us"),
                ("1", "max_us"),
            ):
                quant.add_metric([name, q], s["latency"][key] / 1e6)
        yield quant
        trading = GaugeMetricFamily("otrade_trading_state", "0 ACTIVE, 1 REDUCING, 2 HALTED")
        trading.add_metric([], snap["trading_state_code"])
        yield trading


_LOOPBACK_HOST = re.compile(r"^(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?$", re.IGNORECASE)


def is_loopback_host(host: str | None) -> bool:
    """True for a Host header naming this machine's loopback: localhost, 127.0.0.1, [::1], optional
    :port."""
    return host is not None and _LOOPBACK_HOST.match(host.strip()) is not None


def _handler(status, registry):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            if not is_loopback_host(self.headers.get("Host")):
                body, ctype, code = b'{"error": "host not allowed"}', "application/json", 421
            elif self.path.startswith("/health"):
                body, ctype, code = (
                    orjson.dumps(status(), option=orjson.OPT_INDENT_2),
                    "application/json",
                    200,
                )
            elif self.path.startswith("/metrics"):
                body, ctype, code = generate_latest(registry), "text/plain; version=0.0.4", 200
            else:
                body, ctype, code = b'{"error": "not found"}', "application/json", 404
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):  # requests are not worth a log line each
            pass

    return Handler


class HealthServer:
    def __init__(self, port: int, status):
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_StatusCollector(status))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(status, registry))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="otrade-health", daemon=True
        )

    def start(self) -> "HealthServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=2)
