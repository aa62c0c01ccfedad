"""Helpers for the benchmark scripts: the real servers, machine facts, and percentile maths."""

from __future__ import annotations

import atexit
import os
import platform
import statistics
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def servers() -> tuple[str, str]:
    """KAFKA_BOOTSTRAP_SERVERS / MONGODB_URI when set, else start the local ones with the project's scripts."""
    kafka, mongo = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("MONGODB_URI")
    if kafka and mongo:
        return kafka, mongo
    for name in ("ferretdb", "kafka"):
        script = ROOT / "deploy" / f"{name}.sh"
        was_running = subprocess.run([script, "status"], capture_output=True).returncode == 0
        subprocess.run([script, "start"], check=True)
        if not was_running:  # stopped again when the benchmark ends (they would eat CPU in the next one)
            atexit.register(subprocess.run, [script, "stop"], check=False)
    return "127.0.0.1:9092", "mongodb://127.0.0.1:27017/"


def production_intervals() -> dict[str, str]:
    """The periodic work's intervals as a production installation has them (the settings' defaults), for the
    services a benchmark starts: the fault harness polls every 0.5 s so that its scenarios settle fast, which
    would count several times the idle work of production against each registration. (The relay is woken by
    every write and the consumers by every event either way: the end-to-end path does not wait for a poll.)"""
    from services.school_intake.settings import SchoolIntakeSettings

    fields = SchoolIntakeSettings.model_fields
    return {name.upper(): str(fields[name].default) for name in
            ("outbox_poll_seconds", "notification_poll_seconds", "waitlist_positions_seconds")}


def machine() -> str:
    memory = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    processor = platform.processor() or platform.machine()
    return f"{os.cpu_count()} cores{memory}, {processor}, Python {platform.python_version()}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values)
