"""Pure rules of registration: case identity, idempotency fingerprints, CPR handling. No I/O."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import date

# Namespace for case ids derived from an Idempotency-Key: the same key always names the same case.
_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d7c1e-2b1a-4a53-9a59-8f4f1f6c0a11")
_CPR = re.compile(r"^(\d{2})(\d{2})(\d{2})-?(\d{4})$")


def case_id_for(idempotency_key: str | None) -> uuid.UUID:
    """A retried POST with the same key names the same case, so the retry cannot create a second one."""
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(_IDEMPOTENCY_NAMESPACE, idempotency_key)


def request_fingerprint(canonical_json: bytes) -> str:
    return hashlib.sha256(canonical_json).hexdigest()


def normalise_cpr(value: str) -> str:
    """Return a CPR number as DDMMYY-SSSS, or raise ValueError saying what is wrong.

    Only the date part is checked: numbers issued since 2007 need not satisfy the old modulus-11 rule.
    """
    match = _CPR.match(value.strip())
    if not match:
        raise ValueError("CPR number must look like DDMMYY-SSSS")
    day, month, year, serial = match.groups()
    try:
        date(2000 + int(year), int(month), int(day))  # century does not matter for validity, except 29 Feb
    except ValueError:
        try:
            date(1900 + int(year), int(month), int(day))
        except ValueError:
            raise ValueError("CPR number does not start with a valid date (DDMMYY)") from None
    return f"{day}{month}{year}-{serial}"


def mask_cpr(cpr: str | None) -> str | None:
    """Shown where the full number is not needed: the birth date part only."""
    return None if cpr is None else f"{cpr[:6]}-****"
