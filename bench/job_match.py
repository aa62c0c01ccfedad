"""Job matching benchmark (a script, not a test): prints a table.

    .venv/bin/python -m bench.job_match [--sizes 1000,10000,50000] [--repeat 50]

1. Median and p99 time to match one spouse against N stored listings, for each N: the production path, i.e.
   the matcher's in-memory ListingIndex (loaded from the database) lookup + scoring + ranking.
2. Time to re-match 1,000 open spouses after importing 1,000 new listings (the JobListingPublished batch
   handler, in batches of the consumer's max records).
Runs against the real database (FerretDB locally), each size in a fresh database that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
import zlib
from datetime import date

from pymongo import AsyncMongoClient

from bench.common import machine, median, percentile, servers
from services.job_match import domain
from services.job_match.data.make_sample_listings import make
from services.job_match.handlers import JobMatchHandlers
from services.job_match.importing import import_listings, listing_event
from services.job_match.index import ListingIndex
from services.job_match.settings import JobMatchSettings
from services.job_match.store import JobStore
from shared.erasure import ErasureLog
from shared.events import JOB_LISTING_PUBLISHED, EventEnvelope
from tests.builders import arrival, registration, spouse

TODAY = date(2026, 11, 27)  # the generator's reference day: listings are open on it


def listings(count: int, prefix: str) -> list[domain.Listing]:
    return [domain.Listing.model_validate({**row, "id": f"{prefix}-{row['id']}"})
            for row in make(count, seed=zlib.crc32(prefix.encode()), today=TODAY)]


def welder() -> domain.SpouseProfile:
    body = registration(children=[])
    body["household"]["spouse"] = spouse(occupation="svejser", skills=["TIG", "MIG/MAG"],
                                         languages=[{"language": "de", "level": "C1"}, {"language": "en",
                                                                                        "level": "B2"}])
    return domain.spouse_profile(arrival(body))


def match_one(index: ListingIndex, profile: domain.SpouseProfile) -> list[domain.JobLead]:
    return domain.rank_leads(profile, index.candidates(profile.search_terms, TODAY), TODAY, 10)


async def bench_size(client: AsyncMongoClient, settings: JobMatchSettings, size: int, repeat: int) -> dict:
    db_name = f"bench_jobs_{uuid.uuid4().hex[:8]}"
    store = JobStore(client[db_name])
    try:
        await store.ensure_indexes()
        started = time.perf_counter()
        await import_listings(store, settings, ListingIndex(), listings(size, f"N{size}"), [])
        import_s = time.perf_counter() - started
        started = time.perf_counter()
        index = ListingIndex(await store.all_listings())  # what the service does at start-up
        index_s = time.perf_counter() - started
        profile = welder()
        timings = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            leads = match_one(index, profile)
            timings.append((time.perf_counter() - t0) * 1000)
        assert len(leads) == 10 and len(index) == size
        return {"listings": size, "candidates": len(index.candidates(profile.search_terms, TODAY)),
                "median_ms": median(timings), "p99_ms": percentile(timings, 99), "import_s": import_s,
                "index_s": index_s}
    finally:
        await client.drop_database(db_name)


async def bench_rematch(client: AsyncMongoClient, settings: JobMatchSettings, spouses: int, new: int) -> dict:
    db_name = f"bench_rematch_{uuid.uuid4().hex[:8]}"
    store = JobStore(client[db_name])
    rng = random.Random(3)
    skill_sets = [["svejser", "TIG"], ["programmør", "python"], ["sygeplejerske"], ["lager", "truckcertifikat"],
                  ["kok"], ["elektriker"], ["tømrer"], ["vindmølletekniker", "hydraulik"], ["bogholder"], ["salg"]]
    try:
        await store.ensure_indexes()
        index = ListingIndex()
        await import_listings(store, settings, index, listings(5000, "BASE"), [])
        for _ in range(spouses):
            body = registration(children=[])
            skills = rng.choice(skill_sets)
            body["household"]["spouse"] = spouse(occupation=skills[0], skills=skills,
                                                 languages=[{"language": "en", "level": "C1"},
                                                            {"language": "de", "level": "B2"}])
            await store.save_spouses([domain.spouse_profile(arrival(body))])
        fresh = listings(new, "NEW")
        await import_listings(store, settings, index, fresh, [])
        envelopes = [EventEnvelope[JOB_LISTING_PUBLISHED.payload].model_validate_json(
            listing_event(listing, settings, uuid.uuid4())["value"]) for listing in fresh]
        before = await store.leads.count_documents({})
        started = time.perf_counter()
        batch = JobMatchSettings().consumer_max_records  # what the consumer hands the batch handler at most
        handlers = JobMatchHandlers(store=store, index=index, leads_per_spouse=10,
                                    erasures=ErasureLog(client[db_name], settings), today=TODAY)
        for start in range(0, len(envelopes), batch):
            await handlers.job_listings_published(envelopes[start:start + batch])
        elapsed = time.perf_counter() - started
        return {"spouses": spouses, "new_listings": new, "seconds": elapsed,
                "leads_added": await store.leads.count_documents({}) - before}
    finally:
        await client.drop_database(db_name)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--spouses", type=int, default=1000)
    parser.add_argument("--new-listings", type=int, default=1000)
    args = parser.parse_args()
    _, mongo = servers()
    client = AsyncMongoClient(mongo, tz_aware=True)
    settings = JobMatchSettings(kafka_topic_prefix="bench.")
    print(f"machine: {machine()}; database: {mongo}")
    print(f"{'listings':>9} {'candidates':>10} {'median ms':>10} {'p99 ms':>8} {'import s':>9} {'index load s':>13}")
    for size in (int(s) for s in args.sizes.split(",")):
        row = await bench_size(client, settings, size, args.repeat)
        print(f"{row['listings']:>9} {row['candidates']:>10} {row['median_ms']:>10.2f} {row['p99_ms']:>8.2f} "
              f"{row['import_s']:>9.1f} {row['index_s']:>13.1f}", flush=True)
    row = await bench_rematch(client, settings, args.spouses, args.new_listings)
    print(f"re-match {row['spouses']} spouses after importing {row['new_listings']} listings: "
          f"{row['seconds']:.1f} s ({row['leads_added']} leads added)")
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
