"""The database client. Each service owns one database (settings.mongodb_database) and reads no other."""

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect, ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError

from shared.settings import ServiceSettings

# Errors that mean "the database is not reachable right now": retry, never give up on the work.
TRANSIENT_DB_ERRORS = (AutoReconnect, ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError)


def connect(settings: ServiceSettings) -> AsyncMongoClient:
    # tz_aware: datetimes come back as UTC-aware, like the ones we write.
    return AsyncMongoClient(
        settings.mongodb_uri,
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
        connectTimeoutMS=5000,
        appname=settings.service_name,
    )


def database(client: AsyncMongoClient, settings: ServiceSettings) -> AsyncDatabase:
    return client[settings.mongodb_database]


async def ping(db: AsyncDatabase) -> None:
    await db.command("ping")
