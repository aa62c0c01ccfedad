"""Who is asking: OIDC-style bearer tokens (or the same token in a session cookie), roles, and a dev issuer.

In production a municipality's identity broker (behind KOMBIT's adgangsstyring) issues RS256 JWTs; we check
them against AUTH_ISSUER, AUTH_AUDIENCE and the keys at AUTH_JWKS_URL. For local use and tests a development
issuer signs tokens with a key kept in AUTH_DEV_KEY_FILE; its tokens are refused unless AUTH_DEV_ISSUER=true.

    python -m shared.auth token --role school_staff --school-id herning-brejning-skole --name "Lærer Lise"
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, HTTPException, Request, status

from shared.settings import ServiceSettings

DEV_ISSUER = "velkommen-dev"
SESSION_COOKIE = "velkommen_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Role(StrEnum):
    BORGERSERVICE = "borgerservice"          # registers households, reads cases (CPR visible)
    SCHOOL_STAFF = "school_staff"            # one school's (unit's) intake tasks; bound by the school_id claim
    JOBCENTER_ADVISER = "jobcenter_adviser"  # job leads and the spouse facts they need; no children's data
    ADMIN = "admin"                          # audit log and operations; no case data
    # A newcomer's family on its own pages (welcome_pack's sign-in link, never a staff token): its own case only.
    FAMILY = "family"


# The roles a staff token may carry (the identity broker's job functions); FAMILY is never one of them.
STAFF_ROLES: tuple[Role, ...] = tuple(r for r in Role if r is not Role.FAMILY)


@dataclass(frozen=True)
class Principal:
    subject: str
    name: str
    roles: frozenset[Role]
    school_id: str | None = None

    @property
    def role(self) -> Role:
        """The role shown and audited: the first of the principal's roles in a fixed order."""
        return next(r for r in Role if r in self.roles)

    @property
    def own_school_id(self) -> str:
        """The school (unit) a school staff member acts for; the role is refused without one (require())."""
        if self.school_id is None:
            raise Forbidden("A school staff token must name the school (school_id claim).")
        return self.school_id

    @classmethod
    def family(cls, case_id: str) -> Principal:
        """The signed-in family of one case, as it appears in the audit trail."""
        return cls(subject=f"family:{case_id}", name="family", roles=frozenset({Role.FAMILY}))

    def audit_fields(self) -> dict[str, Any]:
        return {"actor": self.subject, "actor_name": self.name, "role": self.role.value, "school_id": self.school_id}


class NotAuthenticated(Exception):
    """No credentials, or credentials that are not valid; the reason is for logs, never shown in detail."""


# ------------------------------------------------------------------------------------------------- dev issuer

class DevIssuer:
    """Signs development tokens with an RSA key created on first use (0600 file, never committed)."""

    def __init__(self, key_file: str | Path):
        self.key_file = Path(key_file)
        self._private: rsa.RSAPrivateKey | None = None

    def private_key(self) -> rsa.RSAPrivateKey:
        if self._private is None:
            if not self.key_file.exists():
                self._create()
            key = serialization.load_pem_private_key(self.key_file.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            self._private = key
        return self._private

    def _create(self) -> None:
        self.key_file.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        # Write beside, then link into place: two services starting at once both end up with the first key.
        tmp = self.key_file.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        try:
            os.link(tmp, self.key_file)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()

    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key().public_key()

    def token(self, role: Role | str, *, audience: str, name: str | None = None, school_id: str | None = None,
              subject: str | None = None, lifetime_seconds: int = 8 * 3600) -> str:
        role = Role(role)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": DEV_ISSUER, "aud": audience, "iat": now, "nbf": now - 5, "exp": now + lifetime_seconds,
            "sub": subject or f"dev-{role.value}-{school_id or 'all'}",
            "name": name or f"Dev {role.value.replace('_', ' ')}", "role": role.value,
        }
        if school_id:
            claims["school_id"] = school_id
        return jwt.encode(claims, self.private_key(), algorithm="RS256")


# --------------------------------------------------------------------------------------------- verification

class TokenVerifier:
    """Checks a token's signature, issuer, audience and lifetime, and reads the principal from its claims.

    A token checked once is known for VERIFIED_FOR_SECONDS (never past its expiry): a member of staff sends the same
    token with every request, and decoding and checking an RS256 signature was ~9 % of registration's CPU at 30
    registrations/s. Only tokens that passed are kept, at most VERIFIED_KEPT of them."""

    VERIFIED_FOR_SECONDS = 60.0
    VERIFIED_KEPT = 1024

    def __init__(self, settings: ServiceSettings):
        self.settings = settings
        self._verified: dict[str, tuple[Principal, float]] = {}  # token -> (principal, known until: time.time())
        self.dev = DevIssuer(settings.auth_dev_key_file) if settings.auth_dev_issuer else None
        self._jwks = jwt.PyJWKClient(settings.auth_jwks_url, cache_keys=True) if settings.auth_jwks_url else None
        if self.dev is None and self._jwks is None:
            raise RuntimeError("No way to check tokens: set AUTH_ISSUER and AUTH_JWKS_URL (or, for development "
                               "only, AUTH_DEV_ISSUER=true).")

    async def verify(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        principal, expires = await self._check(token)
        if len(self._verified) >= self.VERIFIED_KEPT:
            del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[token] = (principal, min(time.time() + self.VERIFIED_FOR_SECONDS, expires))
        return principal

    async def _check(self, token: str) -> tuple[Principal, float]:
        """The principal and the token's expiry, or NotAuthenticated."""
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"malformed token: {exc}") from None
        if issuer == DEV_ISSUER:
            if self.dev is None:
                raise NotAuthenticated("development tokens are refused (AUTH_DEV_ISSUER is off)")
            key: Any = self.dev.public_key()
        elif self._jwks is not None and issuer == self.settings.auth_issuer:
            try:
                # PyJWKClient fetches with urllib (blocking); the keys are cached after the first fetch.
                key = (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key
            except jwt.PyJWTError as exc:
                raise NotAuthenticated(f"no signing key: {exc}") from None
        else:
            raise NotAuthenticated("unknown issuer")
        try:
            claims = jwt.decode(token, key, algorithms=["RS256"], audience=self.settings.auth_audience,
                                issuer=issuer, options={"require": ["exp", "iat", "sub", "aud", "iss"]},
                                leeway=30)
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"invalid token: {exc}") from None
        return self._principal(claims), float(claims["exp"])

    def _principal(self, claims: dict[str, Any]) -> Principal:
        raw = claims.get(self.settings.auth_role_claim, [])
        values = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else []
        roles = frozenset(r for r in STAFF_ROLES if r.value in values)
        if not roles:
            raise NotAuthenticated("token carries no known role")
        school_id = claims.get("school_id")
        return Principal(subject=str(claims["sub"]), name=str(claims.get("name") or claims["sub"]), roles=roles,
                         school_id=str(school_id) if school_id else None)


def csrf_token_for(session_token: str, secret: bytes = b"velkommen-csrf") -> str:
    """The form token that goes with a session: only a page that could read the session cookie knows it."""
    return hmac.new(secret, session_token.encode(), hashlib.sha256).hexdigest()


# ----------------------------------------------------------------------------------------------- dependencies

class LoginRequired(HTTPException):
    def __init__(self) -> None:
        super().__init__(status.HTTP_401_UNAUTHORIZED, "Log in: a valid bearer token or session is required.",
                         headers={"WWW-Authenticate": "Bearer"})


class Forbidden(HTTPException):
    def __init__(self, detail: str = "Your role does not give access to this.") -> None:
        super().__init__(status.HTTP_403_FORBIDDEN, detail)


def _credentials(request: Request) -> tuple[str | None, bool]:
    """(token, came from the session cookie)."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else (None, False)


async def current_principal(request: Request) -> Principal | None:
    """The logged-in principal, or None (for pages that also show something to anonymous visitors)."""
    token, _ = _credentials(request)
    if not token:
        return None
    try:
        return await request.app.state.token_verifier.verify(token)
    except NotAuthenticated:
        return None


async def _authenticated(request: Request) -> Principal:
    token, from_cookie = _credentials(request)
    if not token:
        raise LoginRequired()
    try:
        principal = await request.app.state.token_verifier.verify(token)
    except NotAuthenticated:
        raise LoginRequired() from None
    if from_cookie and request.method not in _SAFE_METHODS:
        # A cookie is sent by the browser on any site's form post; the CSRF token proves the page was ours.
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            field = (await request.form()).get(CSRF_FIELD)
            sent = field if isinstance(field, str) else None
        if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_token_for(token)):
            raise Forbidden("The form is out of date or did not come from this site (CSRF check); reload the page.")
    request.state.principal = principal
    return principal


def require(*roles: Role):
    """A dependency: the principal, when it has one of `roles`; 401 without valid credentials, 403 otherwise.

    school_staff tokens without a school_id are refused: the role is only meaningful with its data limit.
    """

    async def dependency(principal: Annotated[Principal, Depends(_authenticated)]) -> Principal:
        if not principal.roles & set(roles):
            raise Forbidden()
        if Role.SCHOOL_STAFF in roles and principal.roles & set(roles) == {Role.SCHOOL_STAFF} \
                and not principal.school_id:
            raise Forbidden("A school staff token must name the school (school_id claim).")
        return principal

    dependency.__name__ = "require_" + "_or_".join(r.value for r in roles)
    return dependency


AnyStaff = Annotated[Principal, Depends(require(*STAFF_ROLES))]


# ------------------------------------------------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.auth", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="print a development token (accepted only with AUTH_DEV_ISSUER=true)")
    token.add_argument("--role", required=True, choices=[r.value for r in STAFF_ROLES])
    token.add_argument("--school-id")
    token.add_argument("--name")
    token.add_argument("--hours", type=float, default=8)
    args = parser.parse_args(argv)
    settings = ServiceSettings()
    if args.role == Role.SCHOOL_STAFF and not args.school_id:
        parser.error("--school-id is required for school_staff")
    issuer = DevIssuer(settings.auth_dev_key_file)
    print(issuer.token(args.role, audience=settings.auth_audience, name=args.name, school_id=args.school_id,
                       subject=f"dev-{uuid.uuid4().hex[:8]}", lifetime_seconds=int(args.hours * 3600)))


if __name__ == "__main__":
    main()
