"""Bearer-token authentication: Better Auth JWTs by JWKS, or HS256 tokens by a shared secret.

The algorithm is chosen from the token header against what is configured, and the key is
chosen by algorithm family, so an HS token is never checked against a public key.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import httpx
import jwt
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from persistence.domain import USER_ID_MAX
from service.settings import Settings

logger = logging.getLogger("taskapi.auth")

ASYMMETRIC_ALGORITHMS = frozenset({"EdDSA", "ES256", "ES512", "RS256", "PS256"})
HMAC_ALGORITHM = "HS256"
_HMAC_ONLY = {"alg": HMAC_ALGORITHM}
CLOCK_SKEW_SECONDS = 30
JWKS_MIN_REFRESH_SECONDS = 10.0
JWKS_MAX_AGE_SECONDS = 300.0
JWKS_FETCH_TIMEOUT_SECONDS = 5.0

_REASONS: list[tuple[type[jwt.PyJWTError], str]] = [
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed"),
    (jwt.DecodeError, "malformed token"),
]


class MissingToken(NotAuthorizedException):
    """No credentials at all: answered with a bare `WWW-Authenticate: Bearer`."""

    def __init__(self) -> None:
        super().__init__(detail="Authorization header with a Bearer token required")


class InvalidToken(NotAuthorizedException):
    """Credentials were sent but refused; `detail` says why, never echoing the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(detail=reason)


def _reason(error: jwt.PyJWTError) -> str:
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"missing claim '{error.claim}'"
    return next((text for kind, text in _REASONS if isinstance(error, kind)), "invalid token")


def _public_keys(document: object) -> dict[str, jwt.PyJWK]:
    """The usable keys of a JWKS document by `kid`. PyJWT skips keys it cannot load; keys
    without a `kid` are skipped here, and anything that is not a key set yields none."""
    if not isinstance(document, dict):
        return {}
    try:
        key_set = jwt.PyJWKSet.from_dict(document)
    except jwt.PyJWKSetError:
        return {}
    return {jwk.key_id: jwk for jwk in key_set.keys if isinstance(jwk.key_id, str)}


@dataclass
class JWKSCache:
    """Public keys by `kid`.

    An unknown `kid` triggers a fetch, at most one per `min_refresh_seconds`, so a flood of
    made-up ids costs nothing and a key rotated in is seen within that interval. Keys older
    than `max_age_seconds` are refreshed in the background while they keep serving, so a key
    withdrawn upstream stops working soon after, and a JWKS server that is down costs nothing
    while the cached keys last."""

    url: str
    client: httpx.AsyncClient
    min_refresh_seconds: float = JWKS_MIN_REFRESH_SECONDS
    max_age_seconds: float = JWKS_MAX_AGE_SECONDS
    timeout_seconds: float = JWKS_FETCH_TIMEOUT_SECONDS
    clock: Callable[[], float] = time.monotonic
    _keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    _last_attempt: float = float("-inf")
    _last_success: float = float("-inf")
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _background: asyncio.Task[None] | None = None

    async def key(self, kid: str, algorithm: str) -> Any:
        if kid not in self._keys:
            await self.refresh()
        elif self.clock() - self._last_success > self.max_age_seconds:
            self._refresh_in_background()
        jwk = self._keys.get(kid)
        if jwk is None:
            raise InvalidToken("unknown signing key")
        # PyJWT binds a key to the `alg` its JWK names, else to its type's usual one
        if jwk.algorithm_name != algorithm:
            raise InvalidToken("algorithm not allowed for this key")
        return jwk.key

    def _refresh_in_background(self) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.create_task(self.refresh())

    async def refresh(self) -> None:
        async with self._lock:
            if self.clock() - self._last_attempt < self.min_refresh_seconds:
                return
            self._last_attempt = self.clock()
            try:
                response = await self.client.get(self.url, timeout=self.timeout_seconds)
                response.raise_for_status()
                payload = response.json()
            except (httpx.HTTPError, ValueError) as error:
                logger.warning("JWKS fetch from %s failed: %s", self.url, error)
                return
            keys = _public_keys(payload)
            if not keys:  # more likely a broken deployment than every key withdrawn
                logger.warning("JWKS at %s holds no usable keys; keeping the cached ones", self.url)
                return
            self._keys = keys
            self._last_success = self.clock()


# The one route option that lets a token come as `?access_token=` (browsers' EventSource cannot
# send headers). Query strings are never logged.
CREDENTIALS_IN_QUERY = "credentials_in_query"
QUERY_CREDENTIAL = "access_token"


class VerifiedToken(NamedTuple):
    subject: str  # the acting user's id
    expires_at: float  # `exp`, Unix seconds


@dataclass
class TokenVerifier:
    """Turns a bearer token into the acting user's id and its expiry, or raises `InvalidToken`."""

    secret: str | None
    jwks: JWKSCache | None = None
    issuer: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings, client: httpx.AsyncClient | None) -> "TokenVerifier":
        """`client` fetches the JWKS; there is none when no `JWKS_URL` is set."""
        jwks = JWKSCache(settings.jwks_url, client) if settings.jwks_url and client else None
        return cls(settings.jwt_secret, jwks, settings.jwt_issuer, settings.jwt_audience)

    async def _key_for(self, header: dict[str, Any]) -> Any:
        algorithm = header.get("alg")
        if algorithm == HMAC_ALGORITHM and self.secret:
            return self.secret
        if algorithm in ASYMMETRIC_ALGORITHMS and self.jwks is not None:
            kid = header.get("kid")
            if not isinstance(kid, str) or not kid:
                raise InvalidToken("token header has no key id")
            return await self.jwks.key(kid, algorithm)
        raise InvalidToken("algorithm not allowed")

    async def verify(self, token: str) -> VerifiedToken:
        try:
            # Without a JWKS only HS256 is allowed, which PyJWT checks itself: the header need
            # not be parsed twice.
            header = jwt.get_unverified_header(token) if self.jwks is not None else _HMAC_ONLY
            claims = jwt.decode(
                token,
                key=await self._key_for(header),
                algorithms=[header["alg"]],
                issuer=list(self.issuer) or None,
                audience=list(self.audience) or None,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "sub"], "verify_aud": bool(self.audience)},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(_reason(error)) from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not 1 <= len(subject) <= USER_ID_MAX:
            raise InvalidToken(f"claim 'sub' must be a string of 1-{USER_ID_MAX} characters")
        if not subject.isprintable():
            raise InvalidToken("claim 'sub' must be printable text")
        return VerifiedToken(subject, claims["exp"])


def _bearer_token(connection: ASGIConnection) -> str:
    header = connection.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("not a Bearer token")
        return token.strip()
    if connection.route_handler.opt.get(CREDENTIALS_IN_QUERY) and (
        token := connection.query_params.get(QUERY_CREDENTIAL)
    ):
        return token
    raise MissingToken


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """`request.user` is the token's subject, `request.auth` its expiry (Unix seconds)."""

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        verifier: TokenVerifier = connection.app.state.token_verifier
        subject, expires_at = await verifier.verify(_bearer_token(connection))
        return AuthenticationResult(user=subject, auth=expires_at)


def mint_token(
    secret: str,
    subject: str,
    ttl_seconds: int,
    *,
    issuers: Sequence[str] = (),
    audiences: Sequence[str] = (),
) -> str:
    """An HS256 token for development and tests (`taskapi token`). Where the verifier checks
    `iss` and `aud`, pass what it accepts: the token carries the first of each."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": subject, "iat": now, "exp": now + ttl_seconds}
    if issuers:
        claims["iss"] = issuers[0]
    if audiences:
        claims["aud"] = audiences[0]
    return jwt.encode(claims, secret, algorithm=HMAC_ALGORITHM)
