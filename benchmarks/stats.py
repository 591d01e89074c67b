"""Latency summaries and the machine description every benchmark result carries.

Percentiles are exact (numpy over all samples, no histogram buckets); times are reported in µs.
"""

import os
import platform
import sys

import numpy as np


def summarize(samples_ns) -> dict:
    """p50, p99, p99.9, max (µs), mean (µs) and count of latency samples given in ns."""
    samples = np.asarray(samples_ns, dtype=np.float64)
    if samples.size == 0:
        return {"count": 0}
    p50, p99, p999 = np.percentile(samples, [50.0, 99.0, 99.9])
    return {
        "count": int(samples.size),
        "p50_us": round(p50 / 1e3, 2),
        "p99_us": round(p99 / 1e3, 2),
        "p99_9_us": round(p999 / 1e3, 2),
        "max_us": round(float(samples.max()) / 1e3, 2),
        "mean_us": round(float(samples.mean()) / 1e3, 2),
    }


def format_latency(label: str, summary: dict) -> str:
    if not summary.get("count"):
        return f"{label:<34} no samples"
    return (
        f"{label:<34} p50 {summary['p50_us']:>8.2f}  p99 {summary['p99_us']:>8.2f}  "
        f"p99.9 {summary['p99_9_us']:>8.2f}  max {summary['max_us']:>9.2f} µs  "
        f"(n={summary['count']:,})"
    )


def ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator else None


def machine_info() -> dict:
    """Cores, CPU model, OS and the versions of the libraries the numbers depend on."""
    info = {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }
    for module in ("numpy", "numba", "zmq", "psutil"):
        try:
            info[module if module != "zmq" else "pyzmq"] = __import__(module).__version__
        except ImportError:
            info[module] = None
    if "pyzmq" in info:
        import zmq

        info["libzmq"] = zmq.zmq_version()
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def format_machine(info: dict) -> str:
    return (f"{info['cpu_model']}, {info['cores']} cores ({info['usable_cores']} usable), "
            f"Python {info['python']}, numpy {info.get('numpy')}, numba {info.get('numba')}, "
            f"pyzmq {info.get('pyzmq')} (libzmq {info.get('libzmq')})")
