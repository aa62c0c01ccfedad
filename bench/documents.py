"""What each kind of document one registration writes costs the database to insert (#16). `make bench` runs it;
results: printed table + bench/results/documents-<time>.json.

The end-to-end figures say how much CPU the database uses per registration, not for what. Here:
1. BENCH_DOCUMENTS_REGISTRATIONS (200) households go through the real flow (bench.load at 20/s: the four services,
   Kafka, FerretDB, Mailpit as processes, tests/faults/harness.py); the mail senders and relays finish.
2. Every collection the flow wrote to is counted: the documents it added (not the set-up data read before it:
   listings, school places), per registration, and their bytes.
3. Its documents, as stored, are inserted again into a scratch collection with the same indexes (after the
   database's own index pass: deploy/ferretdb/idindex.go), 10 per insert as the services' batches do, until
   BENCH_DOCUMENTS_INSERTS (2,000) went in: the database's CPU per document (from /proc), and so per registration.

Not counted: updates, reads and deletes (the relays' claims and markers are counted: they are inserts), and each
insert command's own cost beyond its documents (one command per batch; bench.flow counts commands).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
from pymongo import AsyncMongoClient

from bench.common import ROOT, machine, production_intervals
from bench.flow import cpu_seconds, end_to_end, table
from tests.faults.harness import Installation

REGISTRATIONS = int(os.environ.get("BENCH_DOCUMENTS_REGISTRATIONS", "200"))
INSERTS = int(os.environ.get("BENCH_DOCUMENTS_INSERTS", "2000"))
BATCH = 10
RESULTS = ROOT / "bench" / "results" / f"documents-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
SCRATCH = "velkommen_bench_documents"


async def stored(client: AsyncMongoClient, inst: Installation) -> dict[str, list[dict[str, Any]]]:
    """Every document of every collection, by "service.collection"."""
    found: dict[str, list[dict[str, Any]]] = {}
    for service, database in inst.databases.items():
        db = client[database]
        for name in sorted(await db.list_collection_names()):
            found[f"{service}.{name}"] = await db[name].find({}).to_list(length=None)
    return found


def written_since(before: dict[str, list[dict[str, Any]]],
                  after: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The documents the flow added (not the set-up data: listings, school places, the relays' log of those)."""
    written = {}
    for name, docs in after.items():
        known = {d["_id"] for d in before.get(name, [])}
        if new := [d for d in docs if d["_id"] not in known]:
            written[name] = new
    return written


async def insert_cost(client: AsyncMongoClient, inst: Installation, source: Any, docs: list[dict[str, Any]],
                      name: str) -> float | None:
    """The database's CPU ms per document to insert these documents again (new ids), with the source's indexes.
    None for a collection with a unique index besides _id (copies would be refused)."""
    indexes = [i for i in (await source.index_information()).values() if i["key"] != [("_id", 1)]]
    if any(i.get("unique") for i in indexes):
        return None
    scratch = client[SCRATCH][name.replace(".", "_")]
    await scratch.drop()
    await scratch.insert_one({"_id": "first"})  # the collection exists: its indexes are made now, not mid-run
    for index in indexes:
        await scratch.create_index(index["key"])
    await asyncio.sleep(5)  # idindex.go's pass (every 2 s) makes the indexes the queries use, as in the services
    rounds = [docs[n % len(docs)] for n in range(INSERTS)]
    before = cpu_seconds(inst)["ferretdb"]
    for start in range(0, INSERTS, BATCH):
        await scratch.insert_many([{**d, "_id": str(uuid.uuid4())} for d in rounds[start:start + BATCH]])
    per_document = (cpu_seconds(inst)["ferretdb"] - before) * 1000 / INSERTS
    await scratch.drop()
    return per_document


async def measure(inst: Installation, before: dict[str, list[dict[str, Any]]], registrations: int
                  ) -> list[dict[str, Any]]:
    client: AsyncMongoClient = AsyncMongoClient(inst.mongodb_uri, tz_aware=True)
    try:
        rows = []
        for name, docs in written_since(before, await stored(client, inst)).items():
            service, collection = name.split(".", 1)
            source = client[inst.databases[service]][collection]
            per_registration = len(docs) / registrations
            if per_registration < 0.05:  # rare writes (a place held in a reception class)
                continue
            cost = await insert_cost(client, inst, source, docs, name)
            rows.append({"collection": name, "documents_per_registration": round(per_registration, 2),
                         "bytes_per_document": round(sum(len(bson.encode(d)) for d in docs) / len(docs)),
                         "ms_per_document": None if cost is None else round(cost, 3),
                         "ms_per_registration": None if cost is None else round(cost * per_registration, 2)})
        await client.drop_database(SCRATCH)
        return sorted(rows, key=lambda r: -(r["ms_per_registration"] or 0))
    finally:
        await client.close()


async def _stored_now(inst: Installation) -> dict[str, list[dict[str, Any]]]:
    client: AsyncMongoClient = AsyncMongoClient(inst.mongodb_uri, tz_aware=True)
    try:
        return await stored(client, inst)
    finally:
        await client.close()


def main() -> None:
    inst = Installation(Path(tempfile.mkdtemp(prefix="velkommen-bench-")), service_env=production_intervals())
    inst.start()
    try:
        rate, token = 20.0, inst.token("borgerservice")
        # A few registrations first: by their end the start-up's own writes (the listings' import and its events)
        # are done, and are not counted as the flow's.
        end_to_end(inst, token, 5, 2, drain=60)
        before = asyncio.run(_stored_now(inst))
        run = end_to_end(inst, token, rate, REGISTRATIONS / rate, drain=60)
        time.sleep(5)  # the senders' and relays' last passes (their records are documents too)
        rows = asyncio.run(measure(inst, before, run["posted"]))
    finally:
        inst.stop()
    results = {"machine": machine(), "registrations": run["posted"], "inserts_per_collection": INSERTS,
               "collections": rows,
               "total_ms_per_registration": round(sum(r["ms_per_registration"] or 0 for r in rows), 2)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(table([(r["collection"], f"{r['documents_per_registration']:5.2f} docs/reg  {r['bytes_per_document']:6d} B"
                  f"  {r['ms_per_document'] if r['ms_per_document'] is not None else '-':>6} ms/doc"
                  f"  {r['ms_per_registration'] if r['ms_per_registration'] is not None else '-':>6} ms/reg")
                 for r in rows]))
    print(f"database CPU to insert one registration's documents: {results['total_ms_per_registration']} ms "
          f"({run['posted']} registrations; {RESULTS.relative_to(ROOT)})")


if __name__ == "__main__":
    main()
