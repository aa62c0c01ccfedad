"""Load generator, run as its own process so it is not the thing measured.

    python -m bench.load post URL --seconds 15 --concurrency 32 [--token T]      closed loop: requests/s, latency
    python -m bench.load e2e REGISTRATION_URL --rate 50 --seconds 60 --token T --bootstrap HOST:PORT --prefix P
        open loop at a fixed rate; a registration is complete when its letter, its two intake tasks and its
        job leads have been announced on Kafka (each service publishes only after storing)

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import datetime

import httpx
import orjson
from aiokafka import AIOKafkaConsumer

from bench.common import percentile
from tests.builders import registration


def _summary(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    return {"p50_ms": round(percentile(latencies, 50) * 1000, 1), "p99_ms": round(percentile(latencies, 99) * 1000, 1),
            "max_ms": round(max(latencies) * 1000, 1)}


async def closed_loop(url: str, seconds: float, concurrency: int, token: str | None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = registration()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await http.post(url, json=body, headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
            if response.status_code in (200, 201):
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        # Warm up the connections and the server (not counted).
        await asyncio.gather(*(http.post(url, json=body, headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
                               for _ in range(concurrency)))
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"requests": len(latencies), "errors": errors, "seconds": round(elapsed, 2),
            "per_second": round(len(latencies) / elapsed, 1), **_summary(latencies)}


class FlowObserver:
    """Watches the arrival and output topics and tells when each posted registration is complete.

    Where the time goes, per stage (wall clock; all processes are on this machine): POST -> arrival on Kafka
    (registration's outbox relay) -> output event created (consumer: fetch, queue, handle) -> output on Kafka
    (that service's relay) -> seen here. For each case, the stages of its slowest output.
    """

    def __init__(self, arrivals_topic: str):
        self.arrivals_topic = arrivals_topic
        self.posted: dict[str, float] = {}
        self.posted_wall: dict[str, float] = {}
        self.answered: list[float] = []  # POST answer times
        self.post_errors = 0
        self.seen: dict[str, dict] = {}
        self.arrival_at: dict[str, float] = {}
        self.stages: dict[str, dict[str, float]] = {}
        self.by_type: dict[str, list[float]] = {}  # arrival on Kafka -> each output created, per output type
        self.done: dict[str, float] = {}

    def complete_if_done(self, case_id: str) -> None:
        # Called for every output event and when the POST's answer comes: under load the outputs can all be
        # seen before the answer to the POST is.
        state = self.seen.get(case_id)
        if (state is not None and case_id in self.posted and case_id not in self.done and state["letter"]
                and len(state["tasks"]) >= 2 and state["leads"]):
            self.done[case_id] = state["last"]

    def record(self, topic: str, timestamp_ms: int, value: bytes, now: float) -> None:
        event = orjson.loads(value)
        case_id = event["payload"]["case_id"]
        if topic == self.arrivals_topic:
            self.arrival_at[case_id] = timestamp_ms / 1000
            return
        if case_id in self.done:
            # A later change (a waitlisted child's place in line, published every few seconds) is not part of
            # the flow's latency: it made the stages look seconds long.
            return
        created = datetime.fromisoformat(event["occurred_at"]).timestamp()
        if case_id in self.arrival_at:
            self.by_type.setdefault(event["type"], []).append(created - self.arrival_at[case_id])
        slowest = self.stages.setdefault(case_id, {})
        if timestamp_ms / 1000 >= slowest.get("published", 0):
            slowest.update(created=created, published=timestamp_ms / 1000, seen=time.time())
        state = self.seen.setdefault(case_id, {"letter": False, "tasks": set(), "leads": False})
        if event["type"] == "WelcomeLetterGenerated":
            state["letter"] = True
        elif event["type"] == "SchoolIntakeStatusChanged":
            state["tasks"].add(event["payload"]["task_id"])
        elif event["type"] in ("JobLeadsFound", "JobLeadStatusChanged"):
            state["leads"] = True  # all leads of an arrival are announced by one event (one write)
        state["last"] = now
        self.complete_if_done(case_id)

    async def watch(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batches.values():
                for r in records:
                    self.record(r.topic, r.timestamp, r.value, now)

    async def post(self, http: httpx.AsyncClient, url: str, body: dict, headers: dict[str, str]) -> None:
        key = str(uuid.uuid4())
        started, wall_started = time.perf_counter(), time.time()
        try:
            response = await http.post(url, json=body, headers={**headers, "Idempotency-Key": key})
        except httpx.HTTPError:  # overloaded past the client's timeout: counted, the run goes on
            self.post_errors += 1
            return
        if response.status_code not in (200, 201):
            self.post_errors += 1
            return
        case_id = response.json()["case_id"]
        self.posted[case_id] = started
        self.answered.append(time.perf_counter() - started)
        self.posted_wall[case_id] = wall_started
        self.complete_if_done(case_id)

    def stage_breakdown(self) -> dict[str, list[float]]:
        breakdown: dict[str, list[float]] = {"registration_relay": [], "consumer": [], "output_relay": [],
                                             "to_reader": []}
        for case_id in self.done:
            st = self.stages.get(case_id)
            if st is None or case_id not in self.arrival_at:
                continue
            breakdown["registration_relay"].append(self.arrival_at[case_id] - self.posted_wall[case_id])
            breakdown["consumer"].append(st["created"] - self.arrival_at[case_id])
            breakdown["output_relay"].append(st["published"] - st["created"])
            breakdown["to_reader"].append(st["seen"] - st["published"])
        return breakdown

    def latencies_by_half(self) -> tuple[list[float], list[float]]:
        """Completions in the first and the last half of the run: a growing lag shows as later ones taking
        longer."""
        ordered = sorted(self.done, key=lambda c: self.posted[c])
        half = len(ordered) // 2
        return ([self.done[c] - self.posted[c] for c in ordered[:half]],
                [self.done[c] - self.posted[c] for c in ordered[half:]])


async def _consumer_at_end(topics: list[str], bootstrap: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=f"bench-{uuid.uuid4()}",
                                auto_offset_reset="latest", enable_auto_commit=False)
    await consumer.start()
    while not consumer.assignment():  # wait for the assignment before the first registration
        await consumer.getmany(timeout_ms=100)
    for tp in consumer.assignment():
        await consumer.seek_to_end(tp)
    return consumer


async def open_loop_e2e(url: str, rate: float, seconds: float, token: str, bootstrap: str, prefix: str,
                        drain: float) -> dict:
    arrivals = f"{prefix}onboarding.newcomer-arrived.v1"
    topics = [f"{prefix}onboarding.welcome-letter-generated.v1", f"{prefix}onboarding.school-intake-status-changed.v1",
              f"{prefix}onboarding.job-leads-found.v1", f"{prefix}onboarding.job-lead-status-changed.v1", arrivals]
    consumer = await _consumer_at_end(topics, bootstrap)
    flow = FlowObserver(arrivals)
    watcher = asyncio.create_task(flow.watch(consumer))
    headers = {"Authorization": f"Bearer {token}"}
    body = registration()
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as http:
        tasks = []
        t0 = time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(flow.post(http, url, body, headers)))
        await asyncio.gather(*tasks)
        offered_seconds = time.perf_counter() - t0
        end_of_load = time.perf_counter()
        backlog_at_end = len(flow.posted) - len(flow.done)
        deadline = time.perf_counter() + drain
        while len(flow.done) < len(flow.posted) and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
        drain_seconds = time.perf_counter() - end_of_load
    watcher.cancel()
    await consumer.stop()
    latencies = [flow.done[c] - flow.posted[c] for c in flow.done]
    first, second = flow.latencies_by_half()
    return {"stages_ms": {k: _summary(v) for k, v in flow.stage_breakdown().items()},
            "post_answer_ms": _summary(flow.answered),
            "consumer_ms_by_output": {k: _summary(v) for k, v in flow.by_type.items()},
            "rate": rate, "seconds": round(offered_seconds, 1), "posted": len(flow.posted),
            "post_errors": flow.post_errors, "complete": len(flow.done),
            "incomplete": len(flow.posted) - len(flow.done), "backlog_at_end_of_load": backlog_at_end,
            "drain_seconds": round(drain_seconds, 1), **_summary(latencies),
            "p50_first_half_ms": _summary(first)["p50_ms"], "p50_second_half_ms": _summary(second)["p50_ms"]}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    sub = parser.add_subparsers(dest="mode", required=True)
    post = sub.add_parser("post")
    post.add_argument("url")
    post.add_argument("--seconds", type=float, default=15)
    post.add_argument("--concurrency", type=int, default=32)
    post.add_argument("--token")
    e2e = sub.add_parser("e2e")
    e2e.add_argument("url")
    e2e.add_argument("--rate", type=float, default=50)
    e2e.add_argument("--seconds", type=float, default=60)
    e2e.add_argument("--token", required=True)
    e2e.add_argument("--bootstrap", required=True)
    e2e.add_argument("--prefix", default="")
    e2e.add_argument("--drain", type=float, default=30)
    args = parser.parse_args()
    if args.mode == "post":
        result = asyncio.run(closed_loop(args.url, args.seconds, args.concurrency, args.token))
    else:
        result = asyncio.run(open_loop_e2e(args.url, args.rate, args.seconds, args.token, args.bootstrap, args.prefix,
                                           args.drain))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
