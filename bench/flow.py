"""The onboarding flow measured against its own raw parts (#8). `make bench` runs this after the letter and
matching benchmarks; results: printed table + bench/results/flow-<time>.json.

1. Registration API: POST /registrations per second at concurrency 32 (outbox, audit, auth) and p50/p99,
   against a bare FastAPI endpoint doing one insert into the same database server -> ratio.
2. End to end: a steady 50 registrations/s for 60 s; time from POST to letter, intake tasks and leads stored
   (announced on Kafka), p50/p99; then higher rates, to find the highest one sustained without growing lag.
3. Consumers: replay N arrival events (BENCH_REPLAY_EVENTS, default 50,000) through each consumer service,
   events/s, against a raw aiokafka consume-only loop over the same topic, and against that loop storing one
   minimal document per event (the ceiling of any consumer that stores anything, on this database).
4. Compaction: what the outbox compaction (which production runs an hour later, outside run 2's window) costs
   per registration, run over everything the runs before left (bench/compaction.py).
5. Cost: peak RSS (VmHWM) of each service during run 2.

Everything runs on a private Kafka + FerretDB (tests/faults/harness.py) on free ports. The load generator is a
separate process (bench/load.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from bench.common import ROOT, machine, production_intervals
from bench.compaction import compaction_cost
from shared import bus
from shared.events import NEWCOMER_ARRIVED, to_json
from shared.settings import ServiceSettings
from tests.builders import arrival_event, registration
from tests.faults.harness import PREFIX, Installation, free_port, group_lag

SECTIONS = set(os.environ.get("BENCH_SECTIONS", "registration,e2e,sustain,compaction,consumers").split(","))
E2E_SECONDS = float(os.environ.get("BENCH_E2E_SECONDS", "60"))
# The end-to-end rate (50/s is the target; a lower one that the machine keeps up with measures the cost per
# registration without a backlog, whose catching up would be counted against the wrong window).
E2E_RATE = float(os.environ.get("BENCH_E2E_RATE", "50"))
# Before any section: load at E2E_RATE until the broker's JIT compiler has done most of its work. A fresh broker
# compiles for about the first 70 s of load at 50/s (its compiler threads, per 10 s: 0.6-1.2 s of CPU, then
# 0.05-0.35 s): after a 15 s warm-up, 38 % of the broker's CPU in the measured run was compilation (~1.2 ms per
# registration), a start-up cost a broker that runs for weeks does not have. Its compiler's CPU in the measured
# run is reported apart (kafka_jit_compiler, part of kafka).
WARMUP_SECONDS = float(os.environ.get("BENCH_WARMUP_SECONDS", "75"))
REPLAY_EVENTS = int(os.environ.get("BENCH_REPLAY_EVENTS", "50000"))
REPLAY_SERVICES = os.environ.get("BENCH_REPLAY_SERVICES", "welcome_pack,school_intake,job_match").split(",")
SUSTAIN_RATES = [float(r) for r in os.environ.get("BENCH_SUSTAIN_RATES", "75,100,150,200").split(",") if r]


def run_load(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.load", *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr.strip()[-1500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def start_bare_insert(inst: Installation) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "MONGODB_URI": inst.mongodb_uri, "MONGODB_DATABASE": "velkommen_bench_bare"}
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.bare_insert:app", "--port", str(port),
                                "--no-access-log", "--log-level", "warning"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{url}/docs", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return process, url


def peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


async def raw_consume(bootstrap: str, topic: str, expect: int) -> float:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"raw-{uuid.uuid4()}",
                                auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=500)
    await consumer.start()
    got, started = 0, None
    try:
        while got < expect:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            for records in batches.values():
                if started is None:
                    started = time.perf_counter()
                got += len(records)
    finally:
        await consumer.stop()
    return got / (time.perf_counter() - started)


async def raw_consume_and_store(bootstrap: str, mongodb_uri: str, topic: str, expect: int) -> float:
    """The ceiling of any consumer that stores something per event on this database: the raw loop plus one
    unordered insert_many of a minimal document per event and one offset commit per poll (what our consumers do
    at the least), no parsing, no rules."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"raw-store-{uuid.uuid4()}",
                                auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=500)
    client = AsyncMongoClient(mongodb_uri)
    collection = client[f"velkommen_raw_store_{uuid.uuid4().hex[:6]}"]["events"]
    await consumer.start()
    got, started = 0, None
    try:
        while got < expect:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            docs = [{"_id": f"{tp.partition}:{r.offset}", "key": r.key} for tp, records in batches.items()
                    for r in records]
            if not docs:
                continue
            if started is None:
                started = time.perf_counter()
            await collection.insert_many(docs, ordered=False)
            await consumer.commit()
            got += len(docs)
    finally:
        await consumer.stop()
        await client.drop_database(collection.database.name)
        await client.close()
    return got / (time.perf_counter() - started)


async def write_arrivals(bootstrap: str, topic: str, n: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024,
                                acks="all", enable_idempotence=True)
    await producer.start()
    try:
        body = registration()
        pending = []
        for _ in range(n):
            event = arrival_event(body)
            pending.append(await producer.send(topic, value=to_json(event), key=str(event.payload.case_id).encode()))
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def replay_through(inst: Installation, service: str, topic_prefix: str, n: int) -> dict:
    """Start a fresh instance of the service on the replay topics and time it through the n events: from the
    first committed batch to a lag of zero (start-up is reported apart)."""
    topic = topic_prefix + NEWCOMER_ARRIVED.topic
    group = f"{topic_prefix}{service}"
    admin = AIOKafkaAdminClient(bootstrap_servers=inst.bootstrap)
    await admin.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=inst.bootstrap)
    await consumer.start()
    [described] = await admin.describe_topics([topic])
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    ends = await consumer.end_offsets(partitions)
    await consumer.stop()
    database = f"velkommen_replay_{service}"
    primed_s = await prime(inst, service, database)
    started = time.perf_counter()
    process, _ = start_replica(inst, service, topic_prefix, database, "replay")
    first_seen = first_lag = None
    try:
        while True:
            offsets = await admin.list_consumer_group_offsets(group)
            lag = sum(ends[tp] - (offsets[tp].offset if tp in offsets else 0) for tp in partitions)
            now = time.perf_counter()
            if first_seen is None and lag < n:
                first_seen, first_lag = now, lag
            if lag == 0:
                break
            if process.poll() is not None:
                raise RuntimeError(f"{service} exited during the replay; see {inst.workdir}/replay-{service}.log")
            await asyncio.sleep(0.25)
    finally:
        await admin.close()
        process.terminate()
        process.wait(timeout=60)
    seconds = now - first_seen
    consumed = first_lag  # what was left at the first commit seen, all handled by now
    return {"events": n, "seconds": round(seconds, 1), "per_second": round(consumed / seconds, 1) if seconds else None,
            "startup_to_first_commit_s": round(first_seen - started, 1), "primed_s": primed_s}


def start_replica(inst: Installation, service: str, topic_prefix: str, database: str,
                  name: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.serve", service, "--port", str(port)], cwd=ROOT,
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": inst.bootstrap, "MONGODB_URI": inst.mongodb_uri,
             "KAFKA_TOPIC_PREFIX": topic_prefix, "MONGODB_DATABASE": database,
             "AUTH_DEV_ISSUER": "true", "AUTH_DEV_KEY_FILE": str(inst.key_file), "OUTBOX_POLL_SECONDS": "1"},
        stdout=open(inst.workdir / f"{name}-{service}.log", "w"), stderr=subprocess.STDOUT)
    return process, port


async def prime(inst: Installation, service: str, database: str) -> float:
    """A fresh service database first loads what the service starts with (job_match: its sample listings, each
    announced by an event that job_match itself consumes to re-match spouses). A replay of arrivals starts from a
    loaded database, as after a bug fix in production: so the service runs once on other topics until its relay
    has published everything, and stops (gracefully) before the replay."""
    started = time.perf_counter()
    process, port = start_replica(inst, service, f"prime-{uuid.uuid4().hex[:6]}.", database, "prime")
    published, quiet_since = None, None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{service} exited while priming; see {inst.workdir}/prime-{service}.log")
                try:
                    metrics = (await client.get("/metrics")).text
                except httpx.HTTPError:
                    await asyncio.sleep(0.3)
                    continue
                pending = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                              if line.startswith("velkommen_outbox_pending_events"))
                now_published = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                                    if line.startswith("velkommen_events_published_total"))
                if pending == 0 and now_published == published:
                    if time.perf_counter() - quiet_since > 3:
                        break
                else:
                    published, quiet_since = now_published, time.perf_counter()
                await asyncio.sleep(0.5)
    finally:
        process.terminate()
        process.wait(timeout=60)
    return round(time.perf_counter() - started, 1)


RESULTS = ROOT / "bench" / "results" / f"flow-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"


def report(name: str, value: object, results: dict | None = None) -> None:
    """Each result is printed as soon as it is known, and the results so far saved (a long run interrupted
    still tells something)."""
    print(f"[bench] {name}: {json.dumps(value)}", flush=True)
    if results is not None:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2))


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


async def main() -> None:
    results: dict = {"machine": machine(), "started": datetime.now(UTC).isoformat(timespec="seconds"),
                     "sections": sorted(SECTIONS)}
    workdir = Path(tempfile.mkdtemp(prefix="velkommen-bench-"))
    inst = Installation(workdir, service_env=production_intervals())
    inst.start()
    try:
        token = inst.token("borgerservice")
        if WARMUP_SECONDS and SECTIONS & {"registration", "e2e", "sustain"}:
            # Steady state is what is measured: the broker's JIT, the services' caches and connection pools
            # warm up first (a fresh installation's first minute is slower, and not what runs for years).
            results["warm_up"] = end_to_end(inst, token, E2E_RATE, WARMUP_SECONDS, drain=30)
            # ... and what it left behind (the timeline, mails, relays) is done before anything is measured.
            results["warm_up"]["quiet_after_s"] = wait_until_quiet(inst)
            report("warm_up", {k: results["warm_up"][k]
                               for k in ("posted", "complete", "p50_ms", "p99_ms", "quiet_after_s")})
        if "registration" in SECTIONS:
            # The registration service alone: the consumers would otherwise work off its arrivals meanwhile, on
            # the same database and CPU as the baseline.
            for service in CONSUMERS:
                inst.kill_service(service, signal.SIGTERM)
            results["registration_api"] = registration_vs_bare_insert(inst, token)
            report("registration_api", results["registration_api"], results)
            for service in CONSUMERS:
                inst.start_service(service, wait=False)
            for service in CONSUMERS:
                inst.wait_ready(service)
            results["catch_up"] = await catch_up(inst)
            report("catch_up", results["catch_up"], results)
        if "e2e" in SECTIONS:
            before, cpu_before = database_commands(inst), cpu_seconds(inst)
            results["end_to_end_50_per_s"] = end_to_end(inst, token, E2E_RATE, E2E_SECONDS, drain=30)
            posted = results["end_to_end_50_per_s"]["posted"]
            results["db_commands_per_registration"] = per_registration(before, database_commands(inst), posted)
            report("db_commands_per_registration", results["db_commands_per_registration"], results)
            cpu_after = cpu_seconds(inst)
            results["cpu_ms_per_registration"] = cpu_ms_per(cpu_before, cpu_after, max(posted, 1))
            report("cpu_ms_per_registration", results["cpu_ms_per_registration"], results)
            results["peak_rss_mib"] = {s: peak_rss_mib(p.pid) for s, p in inst.processes.items()}
            results["mails_after_the_run"] = await mails_after_the_run(inst)
            report("mails_after_the_run", results["mails_after_the_run"], results)
            report("end_to_end_50_per_s", results["end_to_end_50_per_s"], results)
            report("peak_rss_mib", results["peak_rss_mib"], results)
        if "sustain" in SECTIONS:
            results["sustain"] = highest_sustained_rate(inst, token)
            report("sustain", results["sustain"], results)
        if "compaction" in SECTIONS:  # (stops the services: the last section but the consumers, which does too)
            results["compaction"] = await compaction_cost(inst, lambda: cpu_seconds(inst).get("ferretdb", 0.0))
            report("compaction", results["compaction"], results)
        if "consumers" in SECTIONS:
            # Alone on the machine: the installation's own services stop first (their relays and consumers would
            # share the database and the CPU with the one being measured).
            for service in list(inst.processes):
                inst.kill_service(service, signal.SIGTERM)
            results["consumers"] = await consumers_vs_raw(inst)
            report("consumers", results["consumers"], results)
    finally:
        inst.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"\nflow benchmark -> {RESULTS.relative_to(ROOT)}")
    print(table(summary_rows(results)))


CONSUMERS = ("welcome_pack", "school_intake", "job_match")


async def catch_up(inst: Installation) -> dict:
    """The consumers work off the arrivals registered while they were stopped: how long, how many per second."""
    started = time.perf_counter()
    backlog = {s: await group_lag(inst, s) for s in CONSUMERS}
    while any([await group_lag(inst, s) for s in CONSUMERS]):
        await asyncio.sleep(0.5)
    seconds = time.perf_counter() - started
    return {"backlog_events": backlog, "seconds": round(seconds, 1),
            "per_second": {s: round(n / seconds, 1) for s, n in backlog.items()}}


def registration_vs_bare_insert(inst: Installation, token: str) -> dict:
    """Alternated twice (machines drift); the ratio compares the better run of each."""
    bare, bare_url = start_bare_insert(inst)
    try:
        reg_runs, bare_runs = [], []
        for _ in range(2):
            bare_runs.append(run_load("post", f"{bare_url}/documents", "--seconds", "10", "--concurrency", "32"))
            reg_runs.append(run_load("post", f"{inst.urls['registration']}/registrations", "--seconds", "10",
                                     "--concurrency", "32", "--token", token))
    finally:
        bare.terminate()
    reg = max(reg_runs, key=lambda r: r["per_second"])
    base = max(bare_runs, key=lambda r: r["per_second"])
    return {"registration": reg_runs, "bare_insert": bare_runs,
            "ratio": round(reg["per_second"] / base["per_second"], 2)}


def end_to_end(inst: Installation, token: str, rate: float, seconds: float, drain: float) -> dict:
    return run_load("e2e", f"{inst.urls['registration']}/registrations", "--rate", str(rate), "--seconds",
                    str(seconds), "--token", token, "--bootstrap", inst.bootstrap, "--prefix", PREFIX,
                    "--drain", str(drain))


async def mails_after_the_run(inst: Installation) -> dict[str, dict[str, int]]:
    """Each service's mails sent so far and still pending, read after the run's drain: a sender that keeps up
    leaves (almost) none pending."""
    client: AsyncMongoClient = AsyncMongoClient(inst.mongodb_uri)
    try:
        counts = {}
        for service, database in inst.databases.items():
            db = client[database]
            counts[service] = {"sent": await db["notifications_sent"].count_documents({}),
                               "pending": await db["notifications"].count_documents({})}
        return {s: c for s, c in counts.items() if c["sent"] or c["pending"]}
    finally:
        await client.close()


def cpu_seconds(inst: Installation) -> dict[str, float]:
    """CPU time (user + system) used so far by each service, the broker, the database, the mail server (Mailpit,
    the stand-in for a municipality's relay: on this machine, not ours in production) and the load generators."""
    pids = {service: process.pid for service, process in inst.processes.items()}
    for name in ("kafka", "ferretdb", "mailpit"):
        pid_file = inst.workdir / "data" / name / f"{name}.pid"
        if pid_file.exists():
            pids[name] = int(pid_file.read_text().strip())
    used = {}
    for name, pid in pids.items():
        try:
            used[name] = stat_cpu_seconds(Path(f"/proc/{pid}/stat"))
        except (OSError, IndexError, ValueError):
            continue
    if "kafka" in pids:
        used["kafka_jit_compiler"] = jit_compiler_seconds(pids["kafka"])
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # finished load generator processes
    used["load_generator"] = children.ru_utime + children.ru_stime
    return used


def wait_until_quiet(inst: Installation, busy_share: float = 0.1, at_most_s: float = 120.0) -> float:
    """Wait until our processes together use less than `busy_share` of a core over a second (at most
    `at_most_s`); returns the seconds waited."""
    started = time.perf_counter()
    before = cpu_seconds(inst)
    while time.perf_counter() - started < at_most_s:
        time.sleep(1.0)
        after = cpu_seconds(inst)
        if ours_ms(cpu_ms_per(before, after, 1.0)) < busy_share * 1000:
            break
        before = after
    return round(time.perf_counter() - started, 1)


def jit_compiler_seconds(pid: int) -> float:
    """CPU time of a JVM's JIT compiler threads (named "C1 CompilerThre..." / "C2 CompilerThre..."), which is
    part of the process's: how much of the broker's CPU was still its warm-up."""
    used = 0.0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            if "CompilerThre" in (task / "comm").read_text():
                used += stat_cpu_seconds(task / "stat")
        except (OSError, IndexError, ValueError):
            continue  # a compiler thread that ended meanwhile
    return used


def stat_cpu_seconds(stat: Path) -> float:
    """User + system CPU seconds from a /proc .../stat file (of a process or a thread)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


# Not ours: the mail server stands in for a municipality's relay, the load generator for the users; the broker's
# JIT compiler is counted in "kafka" already.
NOT_OURS = ("mailpit", "load_generator", "kafka_jit_compiler")


def ours_ms(cpu_ms: dict[str, float]) -> float:
    """The CPU ms of our processes together (the four services, the broker and the database)."""
    return round(sum(v for k, v in cpu_ms.items() if k not in NOT_OURS), 2)


def cpu_ms_per(before: dict[str, float], after: dict[str, float], per: float, digits: int = 2) -> dict[str, float]:
    """CPU milliseconds each process used between two cpu_seconds() readings, per `per` (registrations, seconds)."""
    return {k: round((after[k] - before.get(k, 0)) * 1000 / per, digits) for k in after}


def database_commands(inst: Installation) -> dict[str, dict[str, float]]:
    """Each service's database commands so far, by "command collection" (from its /metrics)."""
    counts: dict[str, dict[str, float]] = {}
    for service, url in inst.urls.items():
        mine = counts.setdefault(service, {})
        for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
            if line.startswith("velkommen_db_commands_total{"):
                labels, value = line.rsplit(" ", 1)
                fields = dict(part.split("=", 1) for part in labels[labels.index("{") + 1:-1].split(","))
                mine[f"{fields['command'].strip(chr(34))} {fields['collection'].strip(chr(34))}"] = float(value)
    return counts


def per_registration(before: dict, after: dict, registrations: int) -> dict:
    """Database commands per registration during the run, per service (total and the five biggest)."""
    out = {}
    for service, counts in after.items():
        diff = {k: v - before.get(service, {}).get(k, 0) for k, v in counts.items()}
        diff = {k: round(v / max(registrations, 1), 2) for k, v in sorted(diff.items(), key=lambda kv: -kv[1]) if v}
        out[service] = {"total": round(sum(diff.values()), 2), "top": dict(list(diff.items())[:5])}
    return out


SUSTAIN_SECONDS = 20.0  # of load per rate tried


def highest_sustained_rate(inst: Installation, token: str) -> dict:
    """Sustained: every registration completes, later ones are not slower than earlier ones (no growing lag), and
    the POSTs are answered within the load's time (a quarter longer at most: 100/s once took 31 s to post and
    answer 20 s of load, 64/s in effect, and passed the other checks)."""
    sustained, attempts = None, []
    for rate in [50.0, *SUSTAIN_RATES]:
        try:
            run = end_to_end(inst, token, rate, SUSTAIN_SECONDS, drain=20)
        except RuntimeError as exc:  # the load generator itself gave up: not sustained
            attempts.append({"rate": rate, "error": str(exc)})
            report(f"sustain_{rate:.0f}_per_s", attempts[-1])
            break
        attempts.append(run)
        report(f"sustain_{rate:.0f}_per_s", run)
        growing = (run["p50_second_half_ms"] or 0) > 2 * (run["p50_first_half_ms"] or 1) + 200
        behind = run["seconds"] > 1.25 * SUSTAIN_SECONDS
        if run["incomplete"] or growing or behind or run["post_errors"]:
            break
        sustained = rate
    return {"highest_sustained_per_s": sustained, "attempts": attempts}


async def consumers_vs_raw(inst: Installation) -> dict:
    replay_prefix = f"replay-{uuid.uuid4().hex[:6]}."
    topic = replay_prefix + NEWCOMER_ARRIVED.topic
    await bus.ensure_topics(ServiceSettings(kafka_bootstrap_servers=inst.bootstrap, kafka_topic_prefix=replay_prefix),
                            [NEWCOMER_ARRIVED])
    await write_arrivals(inst.bootstrap, topic, REPLAY_EVENTS)
    raw = await raw_consume(inst.bootstrap, topic, REPLAY_EVENTS)
    stored = await raw_consume_and_store(inst.bootstrap, inst.mongodb_uri, topic, REPLAY_EVENTS)
    consumers: dict = {"events": REPLAY_EVENTS, "raw_aiokafka_per_s": round(raw, 1),
                       "raw_consume_and_store_per_s": round(stored, 1)}
    report("raw_consume", {k: consumers[k] for k in ("raw_aiokafka_per_s", "raw_consume_and_store_per_s")})
    for service in REPLAY_SERVICES:
        run = await replay_through(inst, service, replay_prefix, REPLAY_EVENTS)
        run["ratio_to_raw"] = round(run["per_second"] / raw, 4) if run["per_second"] else None
        run["ratio_to_raw_store"] = round(run["per_second"] / stored, 3) if run["per_second"] else None
        consumers[service] = run
        report(f"replay_{service}", run)
    return consumers


def summary_rows(results: dict) -> list[tuple[str, str]]:
    rows = [("machine", results["machine"])]
    if "registration_api" in results:
        r = results["registration_api"]
        best = max(r["registration"], key=lambda x: x["per_second"])
        base = max(r["bare_insert"], key=lambda x: x["per_second"])
        rows += [("registration POST/s (c=32)",
                  f"{best['per_second']}  p50 {best['p50_ms']} ms  p99 {best['p99_ms']} ms"),
                 ("bare insert POST/s (c=32)",
                  f"{base['per_second']}  p50 {base['p50_ms']} ms  p99 {base['p99_ms']} ms"),
                 ("registration / bare insert", str(r["ratio"]))]
    if "catch_up" in results:
        c = results["catch_up"]
        rows.append(("catch-up after the API run", f"{sum(c['backlog_events'].values())} events in {c['seconds']} s"))
    if "end_to_end_50_per_s" in results:
        e = results["end_to_end_50_per_s"]
        rows += [(f"end to end @{E2E_RATE:g}/s, {E2E_SECONDS:.0f} s",
                  f"p50 {e['p50_ms']} ms  p99 {e['p99_ms']} ms  max {e['max_ms']} ms  "
                                                          f"({e['complete']}/{e['posted']} complete)"),
                 ("  consumer stage by output (p50 / p99 ms)",
                  ", ".join(f"{k} {v['p50_ms']} / {v['p99_ms']}"
                            for k, v in e.get("consumer_ms_by_output", {}).items())),
                 ("  POST answered in",
                  f"p50 {e['post_answer_ms']['p50_ms']} ms  p99 {e['post_answer_ms']['p99_ms']} ms"),
                 ("  where the time goes (p50 / p99 ms)",
                  ", ".join(f"{k} {v['p50_ms']} / {v['p99_ms']}" for k, v in e.get("stages_ms", {}).items())),
                 ("  database commands per registration",
                  ", ".join(f"{k} {v['total']}" for k, v in results.get("db_commands_per_registration", {}).items())),
                 ("  CPU ms per registration",
                  ", ".join(f"{k} {v}" for k, v in results.get("cpu_ms_per_registration", {}).items())),
                 ("  ours (services, kafka, ferretdb)",
                  f"{ours_ms(results.get('cpu_ms_per_registration', {}))} CPU ms per registration"),
                 ("  mails after the drain (sent / pending)",
                  ", ".join(f"{k} {v['sent']} / {v['pending']}" for k, v in results["mails_after_the_run"].items())),
                 ("peak RSS MiB", ", ".join(f"{k} {v}" for k, v in results["peak_rss_mib"].items()))]
    if "sustain" in results:
        rows.append(("highest sustained rate", f"{results['sustain']['highest_sustained_per_s']} /s"))
    if "compaction" in results:
        t = results["compaction"]["total"]
        rows.append((f"outbox compaction ({results['compaction']['cases']} cases), per registration",
                     f"{t['commands_per_registration']} commands, CPU ms: compactor "
                     f"{t['compactor_cpu_ms_per_registration']}, database {t['database_cpu_ms_per_registration']}"))
    if "consumers" in results:
        c = results["consumers"]
        rows.append((f"raw consume ({c['events']} events)", f"{c['raw_aiokafka_per_s']} events/s"))
        rows.append(("raw consume + one insert per event", f"{c['raw_consume_and_store_per_s']} events/s"))
        rows += [(f"replay {s}", f"{c[s]['per_second']} events/s (ratio to raw {c[s]['ratio_to_raw']}, "
                                 f"to raw + insert {c[s]['ratio_to_raw_store']})")
                 for s in REPLAY_SERVICES if s in c]
    return rows


if __name__ == "__main__":
    asyncio.run(main())
