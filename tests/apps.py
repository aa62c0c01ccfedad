"""Runs a service's FastAPI app in-process with its lifespan (real database, real Kafka) for tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from shared.auth import DevIssuer, Role
from shared.settings import ServiceSettings


def token(settings: ServiceSettings, role: Role | str, school_id: str | None = None, name: str | None = None) -> str:
    return DevIssuer(settings.auth_dev_key_file).token(role, audience=settings.auth_audience, name=name,
                                                       school_id=school_id)


def as_role(settings: ServiceSettings, role: Role | str, school_id: str | None = None,
            name: str | None = None) -> dict[str, str]:
    """Request headers of a staff member with this role (a dev-issuer bearer token)."""
    return {"Authorization": f"Bearer {token(settings, role, school_id, name)}"}


@contextlib.asynccontextmanager
async def running(app: FastAPI, role: Role | str | None = None, school_id: str | None = None,
                  name: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the running app; with `role`, every request carries that role's token unless told otherwise."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = as_role(app.state.settings, role, school_id, name) if role else {}
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as client:
            yield client
