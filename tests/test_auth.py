"""Bearer tokens: HS256 by shared secret, and asymmetric tokens by a real JWKS server."""

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.auth import InvalidToken, JWKSCache, TokenVerifier
from tests.helpers import TEST_SECRET, make_token

ISSUER = "https://auth.example.test"


class SigningKey:
    """A private key of one algorithm, with its public JWK under a `kid`."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self.kid = uuid.uuid4().hex
        self.private = {
            "EdDSA": lambda: ed25519.Ed25519PrivateKey.generate(),
            "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
            "ES512": lambda: ec.generate_private_key(ec.SECP521R1()),
            "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "PS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        }[algorithm]()

    @property
    def jwk(self) -> dict:
        codec = jwt.get_algorithm_by_name(self.algorithm)
        jwk = codec.to_jwk(self.private.public_key(), as_dict=True)
        return jwk | {"kid": self.kid, "alg": self.algorithm}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, sub: str | None = "alice", *, kid: str | None = None, **claims: object) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": ISSUER, "iat": now, "exp": now + 900} | claims
        if sub is not None:
            payload["sub"] = sub
        headers = {"kid": kid or self.kid}
        return jwt.encode(payload, self.private, algorithm=self.algorithm, headers=headers)


class JWKSServer:
    """A real HTTP server on loopback that serves whatever keys the test puts in it."""

    def __init__(self) -> None:
        self.keys: list[SigningKey] = []
        self.raw: bytes | None = None  # served instead of the key set when set
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                body = server.raw or json.dumps({"keys": [key.jwk for key in server.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/api/auth/jwks"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, algorithm: str) -> SigningKey:
        """A new key of `algorithm`, served as the only one in the key set."""
        key = SigningKey(algorithm)
        self.keys = [key]
        return key

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def unused_url() -> str:
    server = JWKSServer()
    server.stop()  # nothing listens there any more: connection refused
    return server.url


@pytest.fixture
def jwks_server() -> Iterator[JWKSServer]:
    server = JWKSServer()
    yield server
    server.stop()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def verifier(url: str, http: httpx.AsyncClient, clock: FakeClock | None = None) -> TokenVerifier:
    jwks = JWKSCache(url, http, clock=clock or FakeClock())
    return TokenVerifier(secret=None, jwks=jwks, issuer=(ISSUER,), audience=(ISSUER,))


def hs256_signed_with(key: bytes, payload: dict) -> str:
    """Sign by hand, as an attacker would, since PyJWT refuses to use a PEM as an HMAC key."""

    def part(data: dict) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")

    signing_input = part({"alg": "HS256", "typ": "JWT"}) + b"." + part(payload)
    signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


# --- the verifier against a real JWKS server --------------------------------------------------


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "ES512", "RS256", "PS256"])
async def test_each_asymmetric_algorithm_is_accepted(jwks_server, http, algorithm):
    key = jwks_server.publish(algorithm)
    assert (await verifier(jwks_server.url, http).verify(key.sign("user-1"))).subject == "user-1"


async def test_keys_are_cached_between_tokens(jwks_server, http):
    key = jwks_server.publish("EdDSA")
    tokens = verifier(jwks_server.url, http)
    for sub in ("a", "b", "c"):
        assert (await tokens.verify(key.sign(sub))).subject == sub
    assert jwks_server.fetches == 1


async def test_rotated_in_key_is_picked_up_and_old_key_keeps_working_while_listed(
    jwks_server, http, clock
):
    old = jwks_server.publish("EdDSA")
    tokens = verifier(jwks_server.url, http, clock)
    assert (await tokens.verify(old.sign("a"))).subject == "a"

    new = SigningKey("EdDSA")
    jwks_server.keys = [old, new]
    clock.now += 10
    assert (await tokens.verify(new.sign("b"))).subject == "b"  # refreshed without a restart
    assert (await tokens.verify(old.sign("c"))).subject == "c"  # still listed, still valid
    assert jwks_server.fetches == 2


async def test_unknown_kid_flood_costs_at_most_one_fetch_per_interval(jwks_server, http, clock):
    jwks_server.publish("EdDSA")
    tokens = verifier(jwks_server.url, http, clock)
    stranger = SigningKey("EdDSA")
    for _ in range(50):
        with pytest.raises(InvalidToken, match="unknown signing key"):
            await tokens.verify(stranger.sign(kid=uuid.uuid4().hex))
    assert jwks_server.fetches == 1
    clock.now += 9.9
    with pytest.raises(InvalidToken):
        await tokens.verify(stranger.sign(kid=uuid.uuid4().hex))
    assert jwks_server.fetches == 1
    clock.now += 0.2
    with pytest.raises(InvalidToken):
        await tokens.verify(stranger.sign(kid=uuid.uuid4().hex))
    assert jwks_server.fetches == 2


async def test_warm_cache_keeps_serving_while_the_jwks_server_is_down(jwks_server, http, clock):
    key = jwks_server.publish("EdDSA")
    tokens = verifier(jwks_server.url, http, clock)
    assert (await tokens.verify(key.sign("a"))).subject == "a"
    jwks_server.stop()
    clock.now += 60
    assert (await tokens.verify(key.sign("b"))).subject == "b"
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await tokens.verify(SigningKey("EdDSA").sign())  # a refresh is tried, fails, and says so


async def test_cold_cache_with_the_jwks_server_down_refuses_and_logs(http, caplog):
    tokens = verifier(unused_url(), http)
    with (
        caplog.at_level(logging.WARNING, logger="taskapi.auth"),
        pytest.raises(InvalidToken, match="unknown signing key"),
    ):
        await tokens.verify(SigningKey("EdDSA").sign())
    assert "JWKS fetch" in caplog.text


async def test_a_jwks_server_that_never_answers_costs_a_bounded_wait(http):
    with socket.socket() as silent:  # accepts connections, never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/api/auth/jwks"
        tokens = TokenVerifier(secret=None, jwks=JWKSCache(url, http, timeout_seconds=0.5))
        with pytest.raises(InvalidToken, match="unknown signing key"):
            await asyncio.wait_for(tokens.verify(SigningKey("EdDSA").sign()), timeout=10)


@pytest.mark.parametrize(
    "document", [b'{"keys": []}', b"[]", b'"keys"', b"<html>", b'{"keys": [{"kid": "x"}]}']
)
async def test_jwks_that_is_not_a_usable_key_set_is_a_refusal_not_a_crash(
    jwks_server, http, document
):
    jwks_server.raw = document
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier(jwks_server.url, http).verify(SigningKey("ES256").sign())


async def test_a_broken_jwks_response_does_not_wipe_the_cached_keys(jwks_server, http, clock):
    key = jwks_server.publish("EdDSA")
    tokens = verifier(jwks_server.url, http, clock)
    assert (await tokens.verify(key.sign("a"))).subject == "a"
    jwks_server.raw = b'{"keys": []}'
    clock.now += 10
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await tokens.verify(SigningKey("EdDSA").sign())  # triggers a refresh that finds nothing
    assert (await tokens.verify(key.sign("b"))).subject == "b"


async def test_a_withdrawn_key_stops_working_once_the_cache_is_refreshed(jwks_server, http, clock):
    old = jwks_server.publish("EdDSA")
    tokens = verifier(jwks_server.url, http, clock)
    assert (await tokens.verify(old.sign("a"))).subject == "a"
    jwks_server.publish("EdDSA")  # the old key rotated out upstream
    clock.now += 299
    assert (await tokens.verify(old.sign("b"))).subject == "b"  # still fresh enough
    assert jwks_server.fetches == 1
    clock.now += 2
    assert (await tokens.verify(old.sign("c"))).subject == "c"  # stale: served, refreshed behind it
    await tokens.jwks._background
    assert jwks_server.fetches == 2
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await tokens.verify(old.sign("d"))


async def test_a_key_is_only_used_with_the_algorithm_its_jwk_names(jwks_server, http):
    key = jwks_server.publish("RS256")
    now = int(time.time())
    claims = {"sub": "a", "iss": ISSUER, "aud": ISSUER, "exp": now + 60}
    ps256 = jwt.encode(claims, key.private, algorithm="PS256", headers={"kid": key.kid})
    with pytest.raises(InvalidToken, match="algorithm not allowed for this key"):
        await verifier(jwks_server.url, http).verify(ps256)


async def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(jwks_server, http):
    key = jwks_server.publish("EdDSA")
    forged = SigningKey("EdDSA").sign(kid=key.kid)
    with pytest.raises(InvalidToken, match="bad signature"):
        await verifier(jwks_server.url, http).verify(forged)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": -120}, "token expired"),  # seconds from now
        ({"nbf": 120}, "token not yet valid"),
        ({"iss": "https://elsewhere.test"}, "wrong issuer"),
        ({"aud": "https://elsewhere.test"}, "wrong audience"),
    ],
)
async def test_claims_are_checked(jwks_server, http, claims, reason):
    claims = {k: _now() + v if isinstance(v, int) else v for k, v in claims.items()}
    key = jwks_server.publish("EdDSA")
    with pytest.raises(InvalidToken, match=reason):
        await verifier(jwks_server.url, http).verify(key.sign(**claims))


async def test_missing_sub_is_refused(jwks_server, http):
    key = jwks_server.publish("EdDSA")
    with pytest.raises(InvalidToken, match="missing claim 'sub'"):
        await verifier(jwks_server.url, http).verify(key.sign(None))


async def test_hs256_signed_with_the_public_key_is_never_checked_against_it(jwks_server, http):
    key = jwks_server.publish("RS256")
    now = int(time.time())
    payload = {"sub": "mallory", "iss": ISSUER, "aud": ISSUER, "exp": now + 60}
    forged = hs256_signed_with(key.public_pem(), payload)
    with pytest.raises(InvalidToken, match="algorithm not allowed"):
        await verifier(jwks_server.url, http).verify(forged)
    both = TokenVerifier(secret=TEST_SECRET, jwks=JWKSCache(jwks_server.url, http))
    with pytest.raises(InvalidToken, match="bad signature"):
        await both.verify(forged)


# --- HS256 through the app --------------------------------------------------------------------


async def status_and_problem(client, token: str | None) -> tuple[int, dict, str]:
    headers = {} if token is None else {"Authorization": token}
    response = await client.get("/api/me/tasks", headers=headers)
    return response.status_code, response.json(), response.headers.get("www-authenticate", "")


async def test_missing_header_is_a_bare_bearer_challenge(client):
    status, problem, challenge = await status_and_problem(client, None)
    assert (status, challenge) == (401, "Bearer")
    assert problem["status"] == 401


def _now() -> int:
    return int(time.time())


# Made when the test runs, not when it is collected: tokens carry times relative to "now".
REFUSED = {
    "basic scheme": (lambda: "Basic YWxpY2U6c2VjcmV0", "not a Bearer token"),
    "no token": (lambda: "Bearer", "not a Bearer token"),
    "not a jwt": (lambda: "Bearer not.a.jwt", "malformed token"),
    "other secret": (
        lambda: "Bearer " + make_token("alice", secret="another-secret-another-secret-1234"),
        "bad signature",
    ),
    "expired": (lambda: "Bearer " + make_token("alice", ttl=-31), "token expired"),
    "not yet valid": (
        lambda: "Bearer " + make_token("alice", nbf=_now() + 60),
        "token not yet valid",
    ),
    "no sub": (lambda: "Bearer " + make_token(None), "missing claim 'sub'"),
    "no exp": (
        lambda: "Bearer " + jwt.encode({"sub": "alice"}, TEST_SECRET, algorithm="HS256"),
        "missing claim 'exp'",
    ),
    "alg none": (
        lambda: "Bearer " + jwt.encode({"sub": "a", "exp": _now() + 60}, None, algorithm="none"),
        "algorithm not allowed",
    ),
    "alg HS384": (
        lambda: (
            "Bearer " + jwt.encode({"sub": "a", "exp": _now() + 60}, TEST_SECRET, algorithm="HS384")
        ),
        "algorithm not allowed",
    ),
    "empty sub": (lambda: "Bearer " + make_token(""), "claim 'sub'"),
    "long sub": (lambda: "Bearer " + make_token("x" * 256), "claim 'sub'"),
    "control character in sub": (lambda: "Bearer " + make_token("a\x00b"), "claim 'sub'"),
}


@pytest.mark.parametrize("case", REFUSED)
async def test_refusals_say_why_without_echoing_the_token(client, case):
    make_authorization, reason = REFUSED[case]
    authorization = make_authorization()
    status, problem, challenge = await status_and_problem(client, authorization)
    assert status == 401
    assert reason in problem["detail"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    assert reason in challenge
    token = authorization.partition(" ")[2]
    if token:
        assert token not in json.dumps(problem)
        assert token not in challenge


async def test_clock_skew_of_30_seconds_is_tolerated(client):
    now = _now()
    for claims in ({"exp": now - 20}, {"nbf": now + 20}, {"iat": now + 20}):
        token = jwt.encode({"sub": "skewed", "exp": now + 60} | claims, TEST_SECRET, "HS256")
        status, _, _ = await status_and_problem(client, f"Bearer {token}")
        assert status == 200, claims


async def test_scheme_is_case_insensitive(client):
    status, _, _ = await status_and_problem(client, "bearer " + make_token("alice"))
    assert status == 200


# --- JWKS through the app, configured by BETTER_AUTH_URL alone -------------------------------


@pytest.fixture
async def jwks_client(database_url, jwks_server) -> AsyncIterator[AsyncTestClient]:
    from service.settings import Settings

    base = jwks_server.url.removesuffix("/api/auth/jwks")
    settings = Settings.from_env({"DATABASE_URL": database_url, "BETTER_AUTH_URL": base})
    async with AsyncTestClient(create_app(settings)) as client:
        yield client


async def test_better_auth_url_alone_configures_jwks_issuer_and_audience(jwks_client, jwks_server):
    base = jwks_server.url.removesuffix("/api/auth/jwks")
    key = jwks_server.publish("EdDSA")
    good = key.sign("ba-user", iss=base, aud=base)
    response = await jwks_client.post(
        "/api/me/tasks", json={"title": "t"}, headers={"Authorization": f"Bearer {good}"}
    )
    assert response.status_code == 201
    assert response.json()["user_id"] == "ba-user"

    wrong_audience = key.sign("ba-user")  # iss/aud of another server
    response = await jwks_client.get(
        "/api/me/tasks", headers={"Authorization": f"Bearer {wrong_audience}"}
    )
    assert response.status_code == 401
    # HS256 is not accepted when only the JWKS is configured
    hs = make_token("ba-user", iss=base, aud=base)
    response = await jwks_client.get("/api/me/tasks", headers={"Authorization": f"Bearer {hs}"})
    assert response.status_code == 401
    assert "algorithm not allowed" in response.json()["detail"]


async def test_jwks_down_with_cold_cache_is_401_not_500(database_url):
    from service.settings import Settings

    settings = Settings.from_env({"DATABASE_URL": database_url, "JWT_JWKS_URL": unused_url()})
    async with AsyncTestClient(create_app(settings)) as client:
        token = SigningKey("EdDSA").sign()
        response = await client.get("/api/me/tasks", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["detail"] == "unknown signing key"
