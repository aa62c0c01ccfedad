"""What the outbox compaction costs per registration (bench.flow's `compaction` section).

A production installation compacts an hour after the events were published (OUTBOX_KEEP_SECONDS), so the
end-to-end run never sees this work, yet every registration owes it: each document that carried events is
rewritten without them, and each event's claim and marker are deleted. Here every service's compactor runs over
what the runs before left (nothing kept: keep and grace 0), twice (entries out, then markers and claims), in this
process with the services' own code (shared.runtime.outbox_compactor with each store's targets), the services
stopped first (else their work after the runs before, e.g. a backlog still being worked off, is counted with
it). Measured: this process's CPU and the database's (less its idle rate, measured just before), and the
database commands sent, each per registration (cases in registration's database).
"""

from __future__ import annotations

import signal
import time
from typing import Any

from pymongo import AsyncMongoClient, monitoring

from services.job_match.store import JobStore
from services.registration.store import CaseStore
from services.school_intake.store import IntakeTaskStore
from services.welcome_pack.store import LetterStore
from shared.erasure import ErasureLog
from shared.runtime import outbox_compactor
from shared.settings import ServiceSettings
from tests.faults.harness import Installation

STORES: dict[str, Any] = {"registration": CaseStore, "welcome_pack": LetterStore, "school_intake": IntakeTaskStore,
                          "job_match": JobStore}
IDLE_SECONDS = 5.0


class CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def compaction_cost(inst: Installation, database_cpu_seconds: Any) -> dict[str, Any]:
    """`database_cpu_seconds()`: the database server's CPU seconds so far. Stops the installation's services."""
    for service in list(inst.processes):
        inst.kill_service(service, signal.SIGTERM)
    counter = CommandCounter()
    client: AsyncMongoClient = AsyncMongoClient(inst.mongodb_uri, tz_aware=True, event_listeners=[counter])
    try:
        cases = await client[inst.databases["registration"]]["cases"].count_documents({})
        idle_from, idle_start = database_cpu_seconds(), time.monotonic()
        time.sleep(IDLE_SECONDS)  # noqa: ASYNC251 - nothing else runs in this process meanwhile
        idle_per_second = (database_cpu_seconds() - idle_from) / (time.monotonic() - idle_start)
        services: dict[str, Any] = {}
        for service, store_class in STORES.items():
            db = client[inst.databases[service]]
            compactor = outbox_compactor(db, store_class(db).outbox_compaction(), ErasureLog(db, ServiceSettings()),
                                         keep=0, grace=0)
            commands, own, database, started = counter.count, time.process_time(), database_cpu_seconds(), \
                time.monotonic()
            runs = [await compactor.run_once(), await compactor.run_once()]
            seconds = time.monotonic() - started
            services[service] = {
                "seconds": round(seconds, 1),
                "runs": [vars(run) for run in runs],
                "commands_per_registration": round((counter.count - commands) / max(cases, 1), 2),
                "compactor_cpu_ms_per_registration": round((time.process_time() - own) * 1000 / max(cases, 1), 2),
                "database_cpu_ms_per_registration": round(
                    (database_cpu_seconds() - database - idle_per_second * seconds) * 1000 / max(cases, 1), 2),
            }
    finally:
        await client.close()
    total = {key: round(sum(s[key] for s in services.values()), 2) for key in (
        "commands_per_registration", "compactor_cpu_ms_per_registration", "database_cpu_ms_per_registration")}
    return {"cases": cases, "database_idle_cpu_ms_per_s": round(idle_per_second * 1000, 1), "total": total,
            "services": services}
