"""Staff error pages in Danish: every detail the code can raise has a Danish text, and the pages show it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shared.error_texts import ERROR_TEXTS, STATUS_TEXTS, staff_error_text

ROOT = Path(__file__).resolve().parents[2]
RAISERS = {"HTTPException", "Forbidden", "LoginRequired", "FamilySignInRequired"}


def _string_constants(tree: ast.Module) -> dict[str, str]:
    return {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            for target in node.targets if isinstance(target, ast.Name)}


def raised_details() -> dict[str, str]:
    """Every detail text given to an HTTP error in services/ and shared/: literals, module constants, and the
    defaults of the error classes' own parameters. (detail -> where)"""
    found: dict[str, str] = {}
    for path in [*ROOT.joinpath("services").rglob("*.py"), *ROOT.joinpath("shared").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        constants = _string_constants(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in RAISERS:
                args = [*node.args[1:], *(k.value for k in node.keywords if k.arg == "detail")]
                if getattr(node.func, "id", None) == "Forbidden":
                    args = [*node.args]
                for arg in args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found[arg.value] = f"{path.name}:{node.lineno}"
                    elif isinstance(arg, ast.Name) and arg.id in constants:
                        found[constants[arg.id]] = f"{path.name}:{node.lineno}"
            if isinstance(node, ast.ClassDef) and node.name in RAISERS:
                for default in (d for f in node.body if isinstance(f, ast.FunctionDef) for d in f.args.defaults):
                    if isinstance(default, ast.Constant) and isinstance(default.value, str):
                        found[default.value] = f"{path.name}:{node.lineno}"
    return found


def test_every_detail_a_staff_page_can_show_has_a_danish_text():
    details = raised_details()
    assert len(details) >= 20  # the scan finds them (it would find none if the names above went stale)
    missing = {text: where for text, where in details.items() if text not in ERROR_TEXTS}
    assert not missing, f"add Danish texts to shared/error_texts.py: {missing}"
    assert all(danish.strip() and danish != english for english, danish in ERROR_TEXTS.items())


@pytest.mark.parametrize(("detail", "status", "language", "expected"), [
    ("No lead with this id.", 404, "da", "Der er intet jobforslag med dette id."),
    ("No lead with this id.", 404, "en", "No lead with this id."),
    ("a reason is required for not_relevant", 422, "da", STATUS_TEXTS[422][0]),  # made at run time
    ({"message": "the lead was changed by someone else", "allowed": []}, 409, "da", STATUS_TEXTS[409][0]),
    ({"message": "the lead was changed by someone else"}, 409, "en", "the lead was changed by someone else"),
    (None, 404, "en", STATUS_TEXTS[404][1]),
    (None, 418, "da", "Det kunne ikke lade sig gøre."),
])
def test_the_page_text_is_danish_or_the_english_detail(detail, status, language, expected):
    assert staff_error_text(detail, status, language) == expected
