"""The event catalogue: an AsyncAPI 3 document generated from the event models and the services' PUBLISHES /
CONSUMES lists. Checked in as docs/asyncapi.yaml; a test fails when the models change and it was not
regenerated.

    python -m shared.asyncapi            write docs/asyncapi.yaml
    python -m shared.asyncapi --check    exit 1 if docs/asyncapi.yaml is out of date
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.bus import dead_letter_topic
from shared.events import ALL_EVENTS, EventEnvelope, EventSpec

SERVICES = ("registration", "welcome_pack", "school_intake", "job_match")
DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "asyncapi.yaml"
# One payload schema per published event version, kept forever: the compatibility test compares versions.
SNAPSHOTS = DOCUMENT.parent / "event-schemas"


def snapshot_path(spec: EventSpec) -> Path:
    return SNAPSHOTS / f"{spec.type}.v{spec.version}.json"


def _open_for_newer_versions(schema: Any) -> Any:
    """The published contract leaves objects open: a compatible newer version adds fields, and readers of the
    older one drop them (shared/events.py). That readers refuse unknown fields in their own version is their
    rule, not the contract's, so pydantic's `additionalProperties: false` is left out."""
    if isinstance(schema, dict):
        return {k: _open_for_newer_versions(v) for k, v in schema.items()
                if not (k == "additionalProperties" and v is False)}
    if isinstance(schema, list):
        return [_open_for_newer_versions(v) for v in schema]
    return schema


def payload_schema(spec: EventSpec) -> dict[str, Any]:
    schema: dict[str, Any] = _open_for_newer_versions(spec.payload.model_json_schema())
    return schema


def _message_id(spec: EventSpec) -> str:
    return f"{spec.type}V{spec.version}"


def _channel_id(spec: EventSpec) -> str:
    return spec.type[0].lower() + spec.type[1:]


def _roles() -> dict[str, dict[str, list[str]]]:
    roles: dict[str, dict[str, list[str]]] = {spec.topic: {"publishers": [], "consumers": []} for spec in ALL_EVENTS}
    for service in SERVICES:
        handlers = importlib.import_module(f"services.{service}.handlers")
        for spec in handlers.PUBLISHES:
            roles[spec.topic]["publishers"].append(service)
        for spec in handlers.CONSUMES:
            roles[spec.topic]["consumers"].append(service)
    return roles


def document() -> dict[str, Any]:
    envelopes: list[tuple[type[BaseModel], Literal["validation"]]] = [
        (EventEnvelope[spec.payload], "validation") for spec in ALL_EVENTS]  # type: ignore[name-defined]
    keys, schema = models_json_schema(envelopes, ref_template="#/components/schemas/{model}")
    schema = _open_for_newer_versions(schema)
    roles = _roles()
    channels, operations, messages = {}, {}, {}
    for spec, (model, _) in zip(ALL_EVENTS, envelopes, strict=True):
        mid, cid = _message_id(spec), _channel_id(spec)
        who = roles[spec.topic]
        channels[cid] = {
            "address": spec.topic,
            "description": (f"Published by {', '.join(who['publishers']) or 'nobody'}; consumed by "
                            f"{', '.join(who['consumers']) or 'nobody'}. A consumer that cannot handle an event "
                            f"writes it to {dead_letter_topic(spec.topic)} with the reason in its headers. "
                            "Installations may prefix every topic name (KAFKA_TOPIC_PREFIX)."),
            "messages": {mid: {"$ref": f"#/components/messages/{mid}"}},
        }
        messages[mid] = {
            "name": spec.type,
            "title": f"{spec.type} v{spec.version}",
            "summary": (spec.payload.__doc__ or "").strip().splitlines()[0] if spec.payload.__doc__ else spec.type,
            "contentType": "application/json",
            "payload": keys[(model, "validation")],
            "bindings": {"kafka": {"key": {"type": "string", "description": f"payload.{spec.key}"},
                                   "bindingVersion": "0.5.0"}},
            "x-event-version": spec.version,
            "x-min-reader-version": spec.min_reader_version or spec.version,
        }
        for action, services in (("send", who["publishers"]), ("receive", who["consumers"])):
            for service in services:
                operations[f"{service}.{action}.{spec.type}"] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{cid}"},
                    "messages": [{"$ref": f"#/channels/{cid}/messages/{mid}"}],
                    "x-service": service,
                }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Velkommen events",
            "version": "1",
            "description": ("Every event the Velkommen services exchange. The envelope is the same for all; the "
                            "topic name carries the breaking version; `version` / `min_reader_version` in the "
                            "envelope say which readers can read an event (see shared/events.py). No event "
                            "carries a CPR number."),
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "127.0.0.1:9092", "protocol": "kafka",
                              "description": "deploy/kafka.sh (single-node KRaft)"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schema.get("$defs", {})},
    }


def render() -> str:
    return ("# Generated by `python -m shared.asyncapi` from shared/events.py and services/*/handlers.py.\n"
            "# Do not edit: regenerate.\n" + yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=110))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.asyncapi", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != text:
            print(f"{DOCUMENT} is out of date: run python -m shared.asyncapi", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_text(text)
    print(f"wrote {DOCUMENT}")
    SNAPSHOTS.mkdir(exist_ok=True)
    for spec in ALL_EVENTS:
        path = snapshot_path(spec)
        if not path.exists():  # a published version's snapshot is never rewritten (the test compares it)
            path.write_text(json.dumps(payload_schema(spec), indent=2, sort_keys=True) + "\n")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
