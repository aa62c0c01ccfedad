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


# What a form shows for pydantic's error types, in Danish and English ({...} from the error's context); an error
# type not listed here shows pydantic's own (English) message.
FORM_MESSAGES: dict[str, tuple[str, str]] = {
    "missing": ("Skal udfyldes.", "Required."),
    "string_too_short": ("Skal udfyldes.", "Required."),
    "string_too_long": ("Højst {max_length} tegn.", "At most {max_length} characters."),
    "string_pattern_mismatch": ("Ugyldigt format.", "Not in the expected format."),
    "date_from_datetime_parsing": ("Ugyldig dato (åååå-mm-dd).", "Not a valid date (yyyy-mm-dd)."),
    "date_parsing": ("Ugyldig dato (åååå-mm-dd).", "Not a valid date (yyyy-mm-dd)."),
    "date_type": ("Ugyldig dato (åååå-mm-dd).", "Not a valid date (yyyy-mm-dd)."),
    "int_parsing": ("Skal være et helt tal.", "Must be a whole number."),
    "int_type": ("Skal være et helt tal.", "Must be a whole number."),
    "greater_than_equal": ("Skal være mindst {ge}.", "Must be at least {ge}."),
    "less_than_equal": ("Må højst være {le}.", "Must be at most {le}."),
    "enum": ("Vælg en af mulighederne.", "Choose one of the options."),
    "literal_error": ("Vælg en af mulighederne.", "Choose one of the options."),
    "bool_parsing": ("Skal være ja eller nej.", "Must be yes or no."),
    "too_long": ("Højst {max_length} stk.", "At most {max_length} items."),
    "extra_forbidden": ("Ukendt felt.", "Unknown field."),
    "value_error": ("{error}", "{error}"),  # our own validators' messages (ValueError text)
}


def form_message(error: dict[str, Any], lang: str = "en") -> str:
    """One pydantic error as a form shows it, in Danish or English."""
    texts = FORM_MESSAGES.get(error["type"])
    if texts is None:
        return str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "value_error" and "email" in str(error["msg"]).lower():
        return "Ugyldig e-mailadresse." if lang == "da" else "Not a valid e-mail address."
    context = dict(error.get("ctx") or {})
    try:
        return texts[0 if lang == "da" else 1].format(**context)
    except (KeyError, IndexError):
        return str(error["msg"]).removeprefix("Value error, ")


def field_errors(exc: ValidationError, known_fields: set[str], lang: str = "en") -> dict[str, str]:
    """Error messages by form field, in Danish or English; an error inside a field that is not on the form goes
    to its nearest enclosing field, or to "" (shown above the form)."""
    return located_errors(((e["loc"], form_message(dict(e), lang)) for e in exc.errors()), known_fields)


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
