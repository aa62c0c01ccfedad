"""HTML forms to pydantic models and back: dotted field names build nested data, errors go next to fields.

A field named `household.children.0.full_name` fills body["household"]["children"][0]["full_name"]; a
validation error at loc ("household", "children", 0, "full_name") is shown beside that same field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError


def nest(fields: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nested dicts from dotted names. Empty values are left out (the model's default applies); numeric parts
    make lists, in index order, with gaps closed (a removed row leaves no hole)."""
    root: dict[str, Any] = {}
    for name, value in fields:
        value = value.strip()
        if not value:
            continue
        node = root
        parts = name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_lists(node[key]) for key in sorted(node, key=int)]
    return {key: _lists(value) for key, value in node.items()}


def field_errors(exc: ValidationError, known_fields: set[str]) -> dict[str, str]:
    """Error messages by form field; an error inside a field that is not on the form goes to its nearest
    enclosing field, or to "" (shown above the form)."""
    return located_errors(((e["loc"], e["msg"].removeprefix("Value error, ")) for e in exc.errors()), known_fields)


def located_errors(errors: Iterable[tuple[tuple[str | int, ...], str]], known_fields: set[str]) -> dict[str, str]:
    """The same for errors given as (field location, message): the first message per field is kept."""
    located: dict[str, str] = {}
    for where, message in errors:
        loc = [str(p) for p in where]
        name = ""
        for end in range(len(loc), 0, -1):
            if ".".join(loc[:end]) in known_fields:
                name = ".".join(loc[:end])
                break
        if name == "" and loc:
            message = f"{'.'.join(loc)}: {message}"
        located.setdefault(name, message)
    return located
