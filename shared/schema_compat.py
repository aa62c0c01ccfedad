"""Can readers of one event version read the next? A pure check on the two payloads' JSON schemas.

A new version on the same topic may only add optional fields: readers of the old version ignore them, and
readers of the new version find them absent in old events. Anything else — a field removed, made optional or
required, a type changed, an enum value added — is a breaking change: it needs a new topic (`.v2`) instead.
"""

from __future__ import annotations

from typing import Any


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = root.get("$defs", {})[name]
    return node


def _variants(node: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    node = _resolve(node, root)
    if "anyOf" in node:
        return [_resolve(v, root) for v in node["anyOf"]]
    return [node]


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why readers of `old` could not read `new` (or the other way round); empty when compatible."""
    problems: list[str] = []
    _compare(old, old, new, new, "payload", problems)
    return problems


def _compare(old: dict, old_root: dict, new: dict, new_root: dict, path: str, problems: list[str]) -> None:
    old_variants, new_variants = _variants(old, old_root), _variants(new, new_root)
    old_types = {v.get("type") for v in old_variants}
    new_types = {v.get("type") for v in new_variants}
    if old_types != new_types:
        problems.append(f"{path}: type changed from {sorted(map(str, old_types))} to {sorted(map(str, new_types))}")
        return
    for o in old_variants:
        n = next((v for v in new_variants if v.get("type") == o.get("type")), None)
        if n is None:
            continue
        if "enum" in o or "enum" in n:
            added = set(n.get("enum", [])) - set(o.get("enum", []))
            removed = set(o.get("enum", [])) - set(n.get("enum", []))
            if added:
                problems.append(f"{path}: new values {sorted(added)} (old readers would refuse them)")
            if removed:
                problems.append(f"{path}: values {sorted(removed)} removed")
        if o.get("type") == "object" or "properties" in o:
            old_props, new_props = o.get("properties", {}), n.get("properties", {})
            old_req, new_req = set(o.get("required", [])), set(n.get("required", []))
            for name in old_props:
                if name not in new_props:
                    problems.append(f"{path}.{name}: removed")
                    continue
                if (name in old_req) != (name in new_req):
                    problems.append(f"{path}.{name}: {'now required' if name in new_req else 'no longer required'}")
                _compare(old_props[name], old_root, new_props[name], new_root, f"{path}.{name}", problems)
            for name in set(new_props) - set(old_props):
                if name in new_req:
                    problems.append(f"{path}.{name}: added as required (old events do not have it)")
        if o.get("type") == "array" and "items" in o and "items" in n:
            _compare(o["items"], old_root, n["items"], new_root, f"{path}[]", problems)
