"""Cost as the data grows (#16). `make bench` runs this after bench.flow; results: printed table +
bench/results/size-<time>.json.

For each size (BENCH_SIZE_CASES, default 1,000 and 100,000 cases), on a fresh installation of its own
(tests/faults/harness.py: Kafka, FerretDB, Mailpit and the four services as processes):
1. Seed. BENCH_SIZE_TEMPLATES (40) households go through the real flow (the load generator), and staff finish
   them through the APIs (the school places each child, the adviser marks each lead not relevant, Borgerservice
   closes the case). Every document of those cases, in all four databases, is then copied until the size is
   reached: each copy gets new ids (every UUID in it is mapped to a new one, consistently across services), its
   dates moved back by up to BENCH_SIZE_YEARS (5) years, and its published outbox entries removed as the
   compaction would have (shared.outbox.compaction_update). Copied by insert_many, services running.
2. Open work: BENCH_SIZE_OPEN (20) new households through the real flow: the same in every size.
3. The staff's reads, BENCH_SIZE_READS (200) each, one at a time: the case page and a case's timeline (an open
   case), the school's queue page (a school with open tasks), the lead board page: p50 / p99. A read slower than
   BENCH_SIZE_READ_BUDGET_S (120 s) in total stops early and says after how many.
4. Idle (BENCH_SIZE_IDLE_SECONDS, 30): CPU per second of each process and database commands per second with no
   requests: the periodic work (relays, mail senders, the waiting line, consumers' fetches), which a low rate
   shares among few registrations.
5. The end-to-end run of bench.flow (BENCH_SIZE_E2E_RATE, default 5/s: below this machine's saturation, so the
   figure is the flow's own latency, not a backlog's; at 10/s two cores are all but used, and runs differ by
   seconds; BENCH_SIZE_E2E_SECONDS 30): p50 / p99 and the slowest stage per output, CPU and database commands
   per registration.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId
from pymongo import AsyncMongoClient

from bench.common import ROOT, machine, percentile, production_intervals
from bench.flow import cpu_ms_per, cpu_seconds, database_commands, per_registration, run_load, table
from tests.faults.harness import PREFIX, SERVICES, Installation

SIZES = [int(n) for n in os.environ.get("BENCH_SIZE_CASES", "1000,100000").split(",") if n]
TEMPLATES = int(os.environ.get("BENCH_SIZE_TEMPLATES", "40"))
OPEN = int(os.environ.get("BENCH_SIZE_OPEN", "20"))
READS = int(os.environ.get("BENCH_SIZE_READS", "200"))
READ_BUDGET_S = float(os.environ.get("BENCH_SIZE_READ_BUDGET_S", "120"))
YEARS = float(os.environ.get("BENCH_SIZE_YEARS", "5"))
E2E_RATE = float(os.environ.get("BENCH_SIZE_E2E_RATE", "5"))
E2E_SECONDS = float(os.environ.get("BENCH_SIZE_E2E_SECONDS", "30"))
IDLE_SECONDS = float(os.environ.get("BENCH_SIZE_IDLE_SECONDS", "30"))
RESULTS = ROOT / "bench" / "results" / f"size-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Not copied: the relays' log (checkpoints, claims, markers), the reception-class seats (one per place: a copy
# would overbook the pools), mail still to send (a copy would be sent) and the change turns (*_turns: the
# compaction deletes them after a week). Nor is a document whose id holds no UUID (not a case's: listings,
# sign-in codes by hash).
NOT_COPIED = ("outbox_log", "reception_seats", "notifications", "notification_claims")
BATCH = 1000


def through_the_flow(inst: Installation, token: str, households: int) -> dict:
    """Households registered at 10/s, returned once each has its letter, tasks and leads announced."""
    return run_load("e2e", f"{inst.urls['registration']}/registrations", "--rate", "10", "--seconds",
                    str(households / 10), "--token", token, "--bootstrap", inst.bootstrap, "--prefix", PREFIX,
                    "--drain", "60")


async def finish(inst: Installation, client: AsyncMongoClient) -> int:
    """Staff finish every case there is: each child placed (or its waiting-list place declined), each lead not
    relevant, the case closed. Through the APIs, as staff would (events, timeline and all)."""
    db = {s: client[inst.databases[s]] for s in SERVICES}
    tasks = await db["school_intake"]["intake_tasks"].find({}, {"unit_id": 1, "status": 1}).to_list(None)
    leads = await db["job_match"]["leads"].find({}, {"status": 1}).to_list(None)
    cases = await db["registration"]["cases"].find({}, {"_id": 1}).to_list(None)
    adviser = {"Authorization": f"Bearer {inst.token('jobcenter_adviser')}"}
    borgerservice = {"Authorization": f"Bearer {inst.token('borgerservice')}"}
    async with httpx.AsyncClient(timeout=30) as http:
        for task in tasks:
            school = {"Authorization": f"Bearer {inst.token('school_staff', school_id=task['unit_id'])}"}
            await _move_to_the_end(http, f"{inst.urls['school_intake']}/intake-tasks/{task['_id']}", school,
                                   TASK_MOVES, db["school_intake"]["intake_tasks"], task["_id"])
        for lead in leads:
            await _move_to_the_end(http, f"{inst.urls['job_match']}/leads/{lead['_id']}", adviser, LEAD_MOVES,
                                   db["job_match"]["leads"], lead["_id"])
        for case in cases:
            r = await http.post(f"{inst.urls['registration']}/registrations/{case['_id']}/close",
                                headers=borgerservice)
            r.raise_for_status()
    return len(cases)


# The move staff make from each status until the work is finished.
TASK_MOVES = {"new": "acknowledged", "offered": "acknowledged", "acknowledged": "meeting_scheduled",
              "meeting_scheduled": "placed", "waitlisted": "declined"}
LEAD_MOVES = {"new": "not_relevant", "contacted": "not_relevant", "applied": "not_relevant"}


async def _move_to_the_end(http: httpx.AsyncClient, url: str, headers: dict[str, str], moves: dict[str, str],
                           collection: Any, doc_id: str) -> None:
    """Move one task or lead on until it is finished. A 409 (a reminder or the waiting line changed it at the
    same moment) reads it again."""
    for _ in range(20):
        current = (await collection.find_one({"_id": doc_id}, {"status": 1}))["status"]
        if current not in moves:
            return
        r = await http.post(f"{url}/transitions", json={"to": moves[current], "reason": "bench"}, headers=headers)
        if r.status_code != 409:
            r.raise_for_status()
    raise RuntimeError(f"{url} did not finish")


def copies(doc: dict[str, Any], n: int, shift: Callable[[int], timedelta]) -> Iterator[dict[str, Any]]:
    """n copies of a document: new UUIDs (the same new one for the same old one in every service's copy k),
    dates moved back by shift(k), no outbox entries left (compacted)."""
    for k in range(1, n + 1):
        yield _copy(doc, k, shift(k))


def _copy(value: Any, k: int, back: timedelta) -> Any:
    if isinstance(value, ObjectId):
        return ObjectId()
    if isinstance(value, dict):
        out = {_new_ids(key, k): _copy(v, k, back) for key, v in value.items()
               if key not in ("outbox", "outbox_added_at")}
        if "outbox" in value or "outbox_added_at" in value:
            out["outbox_compacted_at"] = datetime.now(UTC) - back  # as compaction_update leaves it
        return out
    if isinstance(value, list):
        return [_copy(v, k, back) for v in value]
    if isinstance(value, str):
        return _new_ids(value, k)
    if isinstance(value, datetime):
        return value - back
    return value


def _new_ids(text: str, k: int) -> str:
    return UUID.sub(lambda m: str(uuid.uuid5(uuid.NAMESPACE_URL, f"{k}:{m.group(0)}")), text)


async def seed(inst: Installation, client: AsyncMongoClient, cases: int) -> dict:
    """Copy every document of the finished template cases until `cases` cases are held."""
    per_template = max(cases // TEMPLATES - 1, 0)
    years = timedelta(days=365 * YEARS)

    def shift(k: int) -> timedelta:
        return years * k / max(per_template, 1)

    async def copy_database(service: str) -> int:
        db, inserted = client[inst.databases[service]], 0
        for name in await db.list_collection_names():
            if name in NOT_COPIED or name.endswith("_turns"):
                continue
            docs = [d for d in await db[name].find({}).to_list(None)
                    if isinstance(d["_id"], ObjectId) or _new_ids(str(d["_id"]), 1) != str(d["_id"])]
            batch: list[dict[str, Any]] = []
            for doc in docs:
                for copy in copies(doc, per_template, shift):
                    batch.append(copy)
                    if len(batch) >= BATCH:
                        inserted += await _insert(db[name], batch)
                        batch = []
            if batch:
                inserted += await _insert(db[name], batch)
        return inserted

    started = time.perf_counter()
    # The four databases are four SQLite files: written at once, while this process makes the next copies.
    inserted = sum(await asyncio.gather(*(copy_database(s) for s in SERVICES)))
    return {"documents_copied": inserted, "seconds": round(time.perf_counter() - started, 1),
            "cases": TEMPLATES * (per_template + 1)}


async def _insert(collection: Any, batch: list[dict[str, Any]]) -> int:
    result = await collection.insert_many(batch, ordered=False)
    return len(result.inserted_ids)


async def reads(inst: Installation, client: AsyncMongoClient) -> dict:
    db = {s: client[inst.databases[s]] for s in SERVICES}
    open_task = await db["school_intake"]["intake_tasks"].find_one({"status": {"$in": ["new", "waitlisted"]}},
                                                                  {"unit_id": 1, "case_id": 1})
    if open_task is None:
        raise RuntimeError("no open intake task: the open households did not reach school_intake")
    case_id = open_task["case_id"]
    bs = {"Authorization": f"Bearer {inst.token('borgerservice')}"}
    school = {"Authorization": f"Bearer {inst.token('school_staff', school_id=open_task['unit_id'])}"}
    adviser = {"Authorization": f"Bearer {inst.token('jobcenter_adviser')}"}
    targets = {
        "case page": (f"{inst.urls['registration']}/cases/{case_id}", bs),
        "case timeline (API)": (f"{inst.urls['registration']}/registrations/{case_id}/timeline", bs),
        "school queue page": (f"{inst.urls['school_intake']}/", school),
        "lead board page": (f"{inst.urls['job_match']}/", adviser),
        "case list page": (f"{inst.urls['registration']}/cases", bs),
    }
    out = {}
    async with httpx.AsyncClient(timeout=600) as http:
        for name, (url, headers) in targets.items():
            out[name] = await _time_reads(http, url, headers)
            print(f"[size]   {name}: {json.dumps(out[name])}", flush=True)
    return out


async def _time_reads(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> dict:
    (await http.get(url, headers=headers)).raise_for_status()  # warm (templates, connections), not counted
    latencies: list[float] = []
    budget = time.perf_counter() + READ_BUDGET_S
    while len(latencies) < READS and time.perf_counter() < budget:
        started = time.perf_counter()
        response = await http.get(url, headers=headers)
        latencies.append(time.perf_counter() - started)
        response.raise_for_status()
    return {"requests": len(latencies), "p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "p99_ms": round(percentile(latencies, 99) * 1000, 1), "bytes": len(response.content)}


def _ours(cpu_ms: dict[str, float]) -> dict[str, float]:
    """Our processes' figures: the load generator's and the mail server's (a relay elsewhere in production) are
    not the system's cost. (kafka_jit_compiler is the part of kafka's that was its JIT compiler.)"""
    return {k: v for k, v in cpu_ms.items() if k not in ("load_generator", "mailpit")}


async def idle(inst: Installation) -> dict:
    """What the installation costs with nothing to do (the periodic work: relays' scans, mail senders, reminders,
    the waiting line, consumers' fetches): CPU ms per second per process and database commands per second, over
    IDLE_SECONDS with no requests. At a low rate this, not the registrations, can be most of the CPU."""
    cpu_before, commands_before = cpu_seconds(inst), database_commands(inst)
    started = time.perf_counter()
    await asyncio.sleep(IDLE_SECONDS)  # the measurement window itself, not a wait for something to happen
    seconds = time.perf_counter() - started
    cpu_after, commands_after = cpu_seconds(inst), database_commands(inst)
    return {"seconds": round(seconds, 1),
            "cpu_ms_per_second": _ours(cpu_ms_per(cpu_before, cpu_after, seconds, 1)),
            "db_commands_per_second": {k: round(v["total"] / seconds, 2) for k, v in
                                       per_registration(commands_before, commands_after, 1).items()}}


async def one_size(cases: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"velkommen-size-{cases}-"))
    inst = Installation(workdir, service_env=production_intervals())
    inst.start()
    client = AsyncMongoClient(inst.mongodb_uri, tz_aware=True)
    try:
        token = inst.token("borgerservice")
        result: dict[str, Any] = {"templates": through_the_flow(inst, token, TEMPLATES)["complete"]}
        result["finished"] = await finish(inst, client)
        result["seed"] = await seed(inst, client, cases)
        print(f"[size] {cases}: seeded {json.dumps(result['seed'])}", flush=True)
        result["open_households"] = through_the_flow(inst, token, OPEN)["complete"]
        result["reads"] = await reads(inst, client)
        result["idle"] = await idle(inst)
        print(f"[size] {cases}: idle {json.dumps(result['idle'])}", flush=True)
        cpu_before, commands_before = cpu_seconds(inst), database_commands(inst)
        e2e = run_load("e2e", f"{inst.urls['registration']}/registrations", "--rate", str(E2E_RATE), "--seconds",
                       str(E2E_SECONDS), "--token", token, "--bootstrap", inst.bootstrap, "--prefix", PREFIX,
                       "--drain", "60")
        cpu_after, commands_after = cpu_seconds(inst), database_commands(inst)
        result["end_to_end"] = {k: e2e[k] for k in ("posted", "complete", "p50_ms", "p99_ms", "max_ms",
                                                    "p50_first_half_ms", "p50_second_half_ms", "stages_ms",
                                                    "consumer_ms_by_output")}
        result["end_to_end"]["cpu_ms_per_registration"] = _ours(cpu_ms_per(cpu_before, cpu_after,
                                                                           max(e2e["posted"], 1), 1))
        result["end_to_end"]["db_commands_per_registration"] = per_registration(commands_before, commands_after,
                                                                                e2e["posted"])
        print(f"[size] {cases}: end to end {json.dumps(result['end_to_end'])}", flush=True)
        result["database_mib"] = round(sum(f.stat().st_size for f in (workdir / "data").rglob("*.sqlite*"))
                                       / 2**20, 1)
        return result
    finally:
        await client.close()
        inst.stop()


async def main() -> None:
    results: dict[str, Any] = {"machine": machine(), "started": datetime.now(UTC).isoformat(timespec="seconds"),
                               "sizes": {}}
    for cases in SIZES:
        results["sizes"][str(cases)] = await one_size(cases)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2))
    print(f"\nsize benchmark -> {RESULTS.relative_to(ROOT)}")
    rows = [("machine", results["machine"])]
    for cases, r in results["sizes"].items():
        rows.append((f"{int(cases):,} cases held", f"{r['seed']['documents_copied']:,} documents copied in "
                                                   f"{r['seed']['seconds']} s; database {r['database_mib']} MiB"))
        rows += [(f"  {name}", f"p50 {v['p50_ms']} ms  p99 {v['p99_ms']} ms  ({v['requests']} reads)")
                 for name, v in r["reads"].items()]
        e = r["end_to_end"]
        rows.append((f"  end to end @{E2E_RATE:g}/s", f"p50 {e['p50_ms']} ms  p99 {e['p99_ms']} ms  "
                                                       f"({e['complete']}/{e['posted']} complete; p50 first half "
                                                       f"{e['p50_first_half_ms']}, second {e['p50_second_half_ms']})"))
        rows.append(("  idle: CPU ms per second", ", ".join(f"{k} {v}" for k, v in
                                                             r["idle"]["cpu_ms_per_second"].items())))
        rows.append(("  idle: DB commands per second", ", ".join(f"{k} {v}" for k, v in
                                                                  r["idle"]["db_commands_per_second"].items())))
        rows.append(("  DB commands per registration", ", ".join(f"{k} {v['total']}" for k, v in
                                                                  e["db_commands_per_registration"].items())))
        rows.append(("  CPU ms per registration",
                     ", ".join(f"{k} {v}" for k, v in e["cpu_ms_per_registration"].items())))
    print(table(rows))


if __name__ == "__main__":
    asyncio.run(main())
