"""The staff mails' texts come from the services' catalogs: every message their code asks for is translated in
Danish (what staff read) and English, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("service", ["school_intake", "job_match"])
@pytest.mark.parametrize("language", ["da", "en"])
def test_every_mail_text_is_in_the_catalog(service, language):
    folder = ROOT / "services" / service
    wanted = {message for _, _, message, _, _ in extract_from_dir(str(folder), method_map=[("*.py", "python")])}
    assert len(wanted) >= 4
    with open(folder / "locales" / language / "LC_MESSAGES" / "messages.po", encoding="utf-8") as f:
        messages = {m.id: m for m in read_po(f) if m.id}
    assert set(messages) == wanted, f"{service} {language}: catalog out of date with the code"
    for message_id, message in messages.items():
        assert message.string.strip(), message_id
        assert sorted(re.findall(r"%\((\w+)\)s", message.string)) == sorted(re.findall(r"%\((\w+)\)s", message_id))
    if language == "da":
        assert sum(m.string != m.id for m in messages.values()) == len(messages)  # really Danish, every one
