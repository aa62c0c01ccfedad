"""Each service's CONSUMES list is what its app really subscribes to (the fault suite and docs rely on it)."""

import importlib
from unittest import mock

import pytest

SERVICES = ("registration", "welcome_pack", "school_intake", "job_match")


@pytest.mark.parametrize("service", SERVICES)
async def test_consumes_lists_exactly_the_subscribed_events(service, infrastructure):
    app_module = importlib.import_module(f"services.{service}.app")
    handlers = importlib.import_module(f"services.{service}.handlers")
    settings_cls = next(v for k, v in vars(importlib.import_module(f"services.{service}.settings")).items()
                        if k.endswith("Settings") and k != "ServiceSettings")
    app = app_module.create_app(infrastructure.settings(settings_cls))
    with mock.patch("shared.runtime.ServiceRuntime.start_consumer") as start_consumer:
        async with app.router.lifespan_context(app):
            [subscriptions] = start_consumer.call_args.args
    assert {s.spec.topic for s in subscriptions} == {spec.topic for spec in handlers.CONSUMES}
