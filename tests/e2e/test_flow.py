"""End to end: the four services as real processes on the real broker and database.

A family with a spouse and two children is registered over HTTP; each service's HTTP API then shows one
letter, two intake tasks and the spouse's leads. Prints the time from POST to all three outputs.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.builders import registration

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("registration", "welcome_pack", "school_intake", "job_match")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def system(infrastructure, tmp_path_factory):
    logs = tmp_path_factory.mktemp("e2e-logs")
    ports, processes = {}, {}
    for service in SERVICES:
        ports[service] = _free_port()
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": infrastructure.kafka_bootstrap_servers,
            "MONGODB_URI": infrastructure.mongodb_uri,
            "KAFKA_TOPIC_PREFIX": f"test-{infrastructure.run_id}-e2e.",
            "MONGODB_DATABASE": f"test_{infrastructure.run_id}_e2e_{service}",
            "OUTBOX_POLL_SECONDS": "0.5",
        }
        processes[service] = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", f"services.{service}.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(ports[service])],
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
        yield {service: f"http://127.0.0.1:{port}" for service, port in ports.items()}
    finally:
        for process in processes.values():
            process.terminate()
        for service, process in processes.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                pytest.fail(f"{service} did not stop within 20 s of SIGTERM")
            # uvicorn re-raises SIGTERM after a graceful shutdown, so the exit status is -15: read the log.
            assert "Application shutdown complete" in (logs / f"{service}.log").read_text(), service


async def test_a_registered_family_gets_a_letter_two_intake_tasks_and_job_leads(system, capsys):
    async with httpx.AsyncClient(timeout=10) as http:
        started = time.perf_counter()
        response = await http.post(f"{system['registration']}/registrations", json=registration())
        assert response.status_code == 201, response.text
        case_id = response.json()["case_id"]

        async def outputs():
            letters = (await http.get(f"{system['welcome_pack']}/letters", params={"case_id": case_id})).json()
            tasks = (await http.get(f"{system['school_intake']}/intake-tasks", params={"case_id": case_id})).json()
            leads = (await http.get(f"{system['job_match']}/leads", params={"case_id": case_id})).json()
            return letters, tasks, leads

        deadline = time.perf_counter() + 30
        while True:
            letters, tasks, leads = await outputs()
            if (letters and len(tasks) == 2 and len(leads) == 10) or time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started

        assert len(letters) == 1 and letters[0]["language"] == "en"
        assert sorted(t["kind"] for t in tasks) == ["daycare", "reception_class"]
        assert len(leads) == 10  # the sample has more than ten open welding listings
        assert all("welding" in lead["explanation"]["summary"] for lead in leads)
        html = (await http.get(f"{system['welcome_pack']}/letters/{letters[0]['letter_id']}")).text
        assert "Amira Haddad" in html and "Jonas Weber" in html
        with capsys.disabled():
            print(f"\n[e2e] POST /registrations -> letter, 2 intake tasks and {len(leads)} leads stored: "
                  f"{elapsed * 1000:.0f} ms")

        # The same registration retried with an Idempotency-Key stays one case with one set of outputs.
        key = {"Idempotency-Key": f"e2e-{case_id}"}
        first = await http.post(f"{system['registration']}/registrations", json=registration(), headers=key)
        second = await http.post(f"{system['registration']}/registrations", json=registration(), headers=key)
        assert first.json()["case_id"] == second.json()["case_id"]
