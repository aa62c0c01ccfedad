"""The mail as it goes on the wire (shared.notify.message, flattened as the transport does), read back by the
standard library's modern parser: what a mail program shows. No servers."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest

from shared.notify import _WIRE, Mail, message, notification, notification_id
from shared.settings import ServiceSettings

SETTINGS = ServiceSettings(service_name="test", mail_from="Velkommen <velkommen@herning.dk>")
UNSUBSCRIBE = "https://velkommen.herning.dk/family/unsubscribe/" + "a1b2c3d4" * 16


def _read_back(mail: Mail, **extra: str) -> email.message.EmailMessage:
    doc = notification("test:x", "test", mail, case_id="c1", now=datetime(2026, 12, 4, 9, 30, tzinfo=UTC))
    doc.update(extra)
    raw = message(doc, SETTINGS).as_bytes(policy=_WIRE)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))  # SMTP's limit
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF line ends only
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


@pytest.mark.parametrize(("to", "subject", "text", "language"), [
    ("skole@herning.dk", "Ny opgave: et barn til modtageklassen", "Se opgaven i Velkommen.\n", "da"),
    ("Søren Ålund <soren@example.org>", "Velkommen til Herning, Åse og Ærø", "Kære Åse\nSe din plan.\n", "da"),
    ("أميرة حداد <amira@example.org>", "مرحبا بكم في هيرنينغ — خطتكم جاهزة الآن، يرجى تسجيل الدخول لمتابعة الخطوات",
     "مرحبا أميرة\nخطتكم جاهزة: https://velkommen.herning.dk/sign-in\n", "ar"),
    ("李伟 <li@example.org>", "欢迎来到海宁，您的计划已准备好", "您好 Li\n请登录查看您的计划。\n", "zh"),
])
def test_every_header_and_text_reads_back_as_written(to, subject, text, language):
    html = f'<p dir="auto">{text}</p>'
    parsed = _read_back(Mail(to=to, subject=subject, text=text, html=html, language=language),
                        unsubscribe=UNSUBSCRIBE)
    assert parsed["From"] == "Velkommen <velkommen@herning.dk>"
    assert parsed["To"].addresses[0].addr_spec == to.rsplit("<", 1)[-1].rstrip(">")
    if "<" in to:
        assert parsed["To"].addresses[0].display_name == to.split(" <")[0]
    assert parsed["Subject"] == subject
    assert parsed["Message-ID"] == f"<{notification_id('test:x')}@velkommen>"
    assert parsed["Date"].datetime == datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
    assert parsed["Content-Language"] == language
    assert parsed["Auto-Submitted"] == "auto-generated"
    # RFC 8058: the link exactly as given, on one line (not folded into encoded words).
    assert parsed["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [p for p in parsed.walk() if not p.is_multipart()]
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p.get_content() for p in parts] == [text, html]


def test_a_text_only_mail_is_one_part():
    parsed = _read_back(Mail(to="skole@herning.dk", subject="Ny opgave", text="Se Velkommen.\n"))
    assert parsed.get_content_type() == "text/plain" and parsed.get_content() == "Se Velkommen.\n"
    assert parsed["List-Unsubscribe"] is None


def test_a_line_break_in_a_header_value_cannot_start_a_header_of_its_own():
    parsed = _read_back(Mail(to="skole@herning.dk\r\nBcc: someone@example.org",
                             subject="Ny opgave\r\nBcc: someone@example.org", text="Se Velkommen.\n"))
    assert parsed["Bcc"] is None
    assert "\n" not in parsed["Subject"] and parsed["Subject"].startswith("Ny opgave")
    # The address is garbage now (the relay refuses it, and the mail is marked failed), not a second recipient.
    assert "someone@example.org" not in [a.addr_spec for a in parsed["To"].addresses]
