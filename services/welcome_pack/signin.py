"""The family's way in before MitID: a personal sign-in link in the letter, its code single-use and expiring.

- A case has one current code. The code is an HMAC of a random nonce with SIGN_IN_SECRET: the database holds the
  nonce and the code's SHA-256 hash, never the code, so neither a copy of the database nor the secret alone gives
  a working link; the letter (HTML, PDF, mail) is printed with the code derived again when it is shown.
- Using it (a POST from the link's page: mail scanners that fetch links must not spend it) spends it — a unique
  insert of its hash, atomic on FerretDB too — and starts a session for that one case: a random token in an
  HttpOnly cookie, stored only as its hash, valid FAMILY_SESSION_DAYS.
- Borgerservice can issue a new code (the old one stops working at once); erasure deletes codes and sessions.
- Wrong, used and expired codes get the same answer; failures are counted per case and per client, and past
  SIGN_IN_MAX_FAILURES_PER_CASE / _PER_CLIENT within SIGN_IN_FAILURE_WINDOW_MINUTES tries are refused unseen.
- Nothing of this travels on Kafka.

MitID later: the municipality's identity broker (the one staff sign in through, see shared/auth.py) can return
the citizen's CPR number to a `/family/mitid` callback; welcome_pack holds no CPR number, so registration would
publish a case-to-pseudonym mapping (the broker's persistent pseudonym, not the CPR number) in a new event, and
the callback starts the same kind of session for the case it maps to. Nothing else changes for the pages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta


def digest(secret_value: str) -> str:
    return hashlib.sha256(secret_value.encode()).hexdigest()


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def derive_code(key: bytes, case_id: str, nonce: str) -> str:
    """The code printed in the letter (26 characters of base32, 130 bits)."""
    mac = hmac.new(key, f"sign-in:{case_id}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.b32encode(mac).decode().rstrip("=")[:26].lower()


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class SignInLimits:
    failures_per_case: int
    failures_per_client: int
    window: timedelta

    def since(self, now: datetime) -> datetime:
        return now - self.window


def session_is_current(stored: dict | None, now: datetime) -> bool:
    return stored is not None and stored["expires_at"] > now


def code_document(case_id: str, nonce: str, code: str, now: datetime, valid: timedelta, issued_by: str) -> dict:
    return {"_id": case_id, "nonce": nonce, "code_hash": digest(code), "issued_at": now, "expires_at": now + valid,
            "issued_by": issued_by}


def code_is_current(stored: dict | None, code: str, now: datetime) -> bool:
    """The code matches the case's current one and has not expired (spending is checked by the caller)."""
    if stored is None:
        return False
    return hmac.compare_digest(stored["code_hash"], digest(code)) and stored["expires_at"] > now

