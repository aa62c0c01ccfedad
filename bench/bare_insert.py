"""The baseline of the registration benchmark: a bare FastAPI endpoint that stores the request body with one
insert into the same database server, nothing else (no validation, no outbox, no audit, no auth)."""

from __future__ import annotations

import os
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from pymongo import AsyncMongoClient


@asynccontextmanager
async def lifespan(app: FastAPI):
    client = AsyncMongoClient(os.environ["MONGODB_URI"], tz_aware=True)
    app.state.collection = client[os.environ.get("MONGODB_DATABASE", "velkommen_bench_bare")]["documents"]
    yield
    await client.close()


app = FastAPI(lifespan=lifespan)


@app.post("/documents", status_code=201)
async def insert(request: Request) -> dict[str, str]:
    document = {"_id": str(uuid.uuid4()), "body": await request.json()}
    await request.app.state.collection.insert_one(document)
    return {"id": document["_id"]}
