"""The four services as real processes (uvicorn) on the real broker and database, for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shared.auth import DevIssuer
from tests.conftest import DEV_KEY_FILE

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("registration", "welcome_pack", "school_intake", "job_match")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class RunningSystem:
    urls: dict[str, str]
    databases: dict[str, str]   # service -> its database name
    topic_prefix: str

    def __getitem__(self, service: str) -> str:
        return self.urls[service]

    def headers(self, role: str, school_id: str | None = None, name: str | None = None) -> dict[str, str]:
        token = DevIssuer(DEV_KEY_FILE).token(role, audience="velkommen", school_id=school_id, name=name)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def system(infrastructure, tmp_path_factory, request):
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    logs = tmp_path_factory.mktemp(f"e2e-{name}-logs")
    ports = {service: _free_port() for service in SERVICES}
    urls = {service: f"http://127.0.0.1:{port}" for service, port in ports.items()}
    processes = {}
    for service in SERVICES:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": infrastructure.kafka_bootstrap_servers,
            "MONGODB_URI": infrastructure.mongodb_uri,
            "KAFKA_TOPIC_PREFIX": f"test-{infrastructure.run_id}-{name}.",
            "MONGODB_DATABASE": f"test_{infrastructure.run_id}_{name}_{service}",
            "OUTBOX_POLL_SECONDS": "0.5",
            "WAITLIST_POSITIONS_SECONDS": "0.5",
            "AUTH_DEV_ISSUER": "true",
            "AUTH_DEV_KEY_FILE": str(DEV_KEY_FILE),
            **{f"{s.upper()}_URL": url for s, url in urls.items()},
        }
        processes[service] = subprocess.Popen(
            [sys.executable, "-m", "shared.serve", service, "--port", str(ports[service])],
            cwd=ROOT, env=env, stdout=open(logs / f"{service}.log", "w"), stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        for service, port in ports.items():
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if processes[service].poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{service} did not become ready:\n{(logs / f'{service}.log').read_text()[-3000:]}")
                time.sleep(0.2)
        yield RunningSystem(urls, {s: f"test_{infrastructure.run_id}_{name}_{s}" for s in SERVICES},
                            f"test-{infrastructure.run_id}-{name}.")
    finally:
        for process in processes.values():
            process.terminate()
        for service, process in processes.items():
            try:
                code = process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                process.kill()
                pytest.fail(f"{service} did not stop within 25 s of SIGTERM")
            log_text = (logs / f"{service}.log").read_text()
            assert code == 0, f"{service} exited {code} after SIGTERM:\n{log_text[-2000:]}"
            assert "Application shutdown complete" in log_text, service
