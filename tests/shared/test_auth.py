"""Token checking without servers: the dev issuer, a broker's JWKS endpoint (served locally), roles, CSRF."""

from __future__ import annotations

import http.server
import json
import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import DEV_ISSUER, DevIssuer, NotAuthenticated, Role, TokenVerifier, csrf_token_for, main
from shared.settings import ServiceSettings


@pytest.fixture
def dev_settings(tmp_path):
    return ServiceSettings(auth_dev_issuer=True, auth_dev_key_file=str(tmp_path / "key.pem"))


async def test_a_dev_token_gives_the_principal_it_names(dev_settings):
    token = DevIssuer(dev_settings.auth_dev_key_file).token("school_staff", audience="velkommen", name="Lise",
                                                            school_id="brejning")
    principal = await TokenVerifier(dev_settings).verify(token)
    assert (principal.name, principal.role, principal.school_id) == ("Lise", Role.SCHOOL_STAFF, "brejning")


async def test_dev_tokens_are_refused_unless_the_development_setting_is_on(tmp_path):
    key = tmp_path / "key.pem"
    token = DevIssuer(key).token("admin", audience="velkommen")
    production = ServiceSettings(auth_dev_issuer=False, auth_dev_key_file=str(key), auth_issuer="https://idp.example",
                                 auth_jwks_url="http://127.0.0.1:9/jwks.json")
    with pytest.raises(NotAuthenticated, match="development tokens are refused"):
        await TokenVerifier(production).verify(token)


def test_a_service_without_any_issuer_does_not_start():
    with pytest.raises(RuntimeError, match="AUTH_ISSUER"):
        TokenVerifier(ServiceSettings(auth_dev_issuer=False, auth_jwks_url=""))


async def test_the_key_file_is_private_and_reused(dev_settings, tmp_path):
    first = DevIssuer(dev_settings.auth_dev_key_file).token("admin", audience="velkommen")
    assert (tmp_path / "key.pem").stat().st_mode & 0o077 == 0
    # A second issuer (another service process) reads the same key: the first one's token is valid there.
    assert (await TokenVerifier(dev_settings).verify(first)).role is Role.ADMIN


class CountedChecks(TokenVerifier):
    """A verifier that counts the tokens it decodes and checks, and keeps only two."""

    VERIFIED_KEPT = 2

    def __init__(self, settings: ServiceSettings):
        super().__init__(settings)
        self.checks = 0

    async def _check(self, token: str) -> tuple:
        self.checks += 1
        return await super()._check(token)


async def test_a_token_is_checked_once_a_minute_and_never_known_past_its_expiry(dev_settings, monkeypatch):
    issuer = DevIssuer(dev_settings.auth_dev_key_file)
    verifier = CountedChecks(dev_settings)
    token, short = issuer.token("admin", audience="velkommen"), issuer.token("admin", audience="velkommen",
                                                                              lifetime_seconds=20)
    for _ in range(3):
        assert (await verifier.verify(token)).role is Role.ADMIN
    assert verifier.checks == 1
    now = time.time()
    monkeypatch.setattr("shared.auth.time.time", lambda: now + 61)
    await verifier.verify(token)
    assert verifier.checks == 2  # a minute later: checked again
    monkeypatch.setattr("shared.auth.time.time", lambda: now)
    await verifier.verify(short)
    monkeypatch.setattr("shared.auth.time.time", lambda: now + 21)
    await verifier.verify(short)  # past its expiry (within the decoder's 30 s leeway): checked again, not known
    assert verifier.checks == 4


async def test_only_tokens_that_passed_are_kept_and_only_so_many(dev_settings):
    issuer = DevIssuer(dev_settings.auth_dev_key_file)
    verifier = CountedChecks(dev_settings)
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            await verifier.verify(issuer.token("admin", audience="someone-else"))
    assert verifier.checks == 2
    tokens = [issuer.token("admin", audience="velkommen", subject=f"s{i}") for i in range(3)]
    for token in [*tokens, tokens[2], tokens[0]]:
        await verifier.verify(token)
    assert verifier.checks == 2 + 3 + 1  # the third pushed the first out; the third itself is still known


async def test_wrong_audience_expired_unknown_role_and_foreign_key_are_refused(dev_settings):
    issuer = DevIssuer(dev_settings.auth_dev_key_file)
    verifier = TokenVerifier(dev_settings)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"iss": DEV_ISSUER, "aud": "velkommen", "iat": now, "exp": now + 60, "sub": "x", "role": "admin"}
    bad = {
        "audience": issuer.token("admin", audience="someone-else"),
        "expired": issuer.token("admin", audience="velkommen", lifetime_seconds=-120),
        "role": jwt.encode({**claims, "role": "mayor"}, issuer.private_key(), algorithm="RS256"),
        "key": jwt.encode(claims, other_key, algorithm="RS256"),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "garbage": "a.b.c",
    }
    for why, token in bad.items():
        with pytest.raises(NotAuthenticated):
            await verifier.verify(token)
            pytest.fail(f"accepted a token with a bad {why}")


class _Jwks(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def identity_broker():
    """An identity broker's JWKS endpoint on loopback, and its signing key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    _Jwks.body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()
    server = http.server.HTTPServer(("127.0.0.1", 0), _Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield key, f"http://127.0.0.1:{server.server_port}/jwks.json"
    server.shutdown()


async def test_a_brokers_token_is_checked_against_its_jwks_url(identity_broker):
    key, url = identity_broker
    settings = ServiceSettings(auth_issuer="https://broker.herning.dk", auth_audience="velkommen",
                               auth_jwks_url=url, auth_role_claim="roles")
    now = int(time.time())
    claims = {"iss": "https://broker.herning.dk", "aud": "velkommen", "iat": now, "exp": now + 300,
              "sub": "K1234", "name": "Karen", "roles": ["jobcenter_adviser", "some_other_system_role"]}
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
    principal = await TokenVerifier(settings).verify(token)
    assert (principal.subject, principal.role) == ("K1234", Role.JOBCENTER_ADVISER)
    forged = jwt.encode({**claims, "iss": "https://evil.example"}, key, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(NotAuthenticated, match="unknown issuer"):
        await TokenVerifier(settings).verify(forged)


def test_the_csrf_token_belongs_to_one_session():
    assert csrf_token_for("session-a") == csrf_token_for("session-a")
    assert csrf_token_for("session-a") != csrf_token_for("session-b")


def test_the_cli_prints_a_token_the_services_accept(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AUTH_DEV_KEY_FILE", str(tmp_path / "cli.pem"))
    main(["token", "--role", "borgerservice", "--name", "Bo"])
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["role"], claims["name"], claims["iss"]) == ("borgerservice", "Bo", DEV_ISSUER)
    with pytest.raises(SystemExit):
        main(["token", "--role", "school_staff"])  # a school is required
