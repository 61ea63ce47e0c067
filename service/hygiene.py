"""HTTP semantics around the app: headers every response carries, `HEAD` on every `GET`
route, `Allow` that lists every method, and CORS preflights refused with a problem body.

Litestar answers a refused preflight with a plain-text 400; the contract wants a 403 problem,
so a preflight that names an origin, method or header the CORS policy does not allow is
answered here, before Litestar sees it. Allowed ones go on to Litestar's CORS handling.

Litestar 2 builds a path's `OPTIONS` answer when the path's first handler is registered, so its
`Allow` names that handler's methods only (litestar#4169, fixed in Litestar 3); the full list
is put in here from the finished routes.
"""

import asyncio
from collections.abc import Iterable, Mapping, Set

from litestar.config.cors import CORSConfig
from litestar.constants import DEFAULT_ALLOWED_CORS_HEADERS
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import send_problem

_ALWAYS = [(b"x-content-type-options", b"nosniff")]
_TASK_DATA = [(b"cache-control", b"no-store")]  # tasks are personal: no cache keeps a copy
_TASK_DATA_PREFIX = "/api/"


def _preflight_refusal(cors: CORSConfig, scope: Scope) -> str | None:
    """Why a preflight is refused, or None when the policy allows it (or it is no preflight:
    an `OPTIONS` without `Origin` just gets `Allow`)."""
    headers = Headers.from_scope(scope)
    if "origin" not in headers:
        return None
    if not cors.is_origin_allowed(headers["origin"]):
        return "This origin is not allowed"
    method = headers.get("access-control-request-method")
    if method and not cors.is_allow_all_methods and method not in cors.allow_methods:
        return f"The method {method} is not allowed"
    allowed = {name.lower() for name in (*cors.allow_headers, *DEFAULT_ALLOWED_CORS_HEADERS)}
    requested = headers.get("access-control-request-headers", "").split(",")
    refused = [name.strip() for name in requested if name.strip().lower() not in allowed]
    if refused and not cors.is_allow_all_headers:
        return f"The headers {', '.join(refused)} are not allowed"
    return None


def hygiene(app: ASGIApp, cors: CORSConfig, methods_by_path: Mapping[str, Set[str]]) -> ASGIApp:
    """`methods_by_path`: each route's path template and the methods it answers."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        extra = _ALWAYS + _TASK_DATA if scope["path"].startswith(_TASK_DATA_PREFIX) else _ALWAYS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _replaced(message.get("headers", []), extra)
                if message["status"] in _ALLOW_STATUSES:
                    _list_every_method(message, methods_by_path.get(scope.get("path_template")))
            await send(message)

        if scope["method"] == "OPTIONS" and (reason := _preflight_refusal(cors, scope)):
            await send_problem(send_with_headers, 403, reason)
            return
        await app(scope, receive, send_with_headers)

    return middleware


# The answers that carry `Allow`: to `OPTIONS`, and "method not allowed".
_ALLOW_STATUSES = frozenset({204, 405})


def _replaced(headers: Iterable[tuple[bytes, bytes]], extra: list[tuple[bytes, bytes]]) -> list:
    """`headers` with `extra` in place of any of the same names (raw ASGI names are lower
    case)."""
    names = {name for name, _ in extra}
    return [header for header in headers if header[0] not in names] + extra


def _list_every_method(message: Message, methods: Set[str] | None) -> None:
    headers = MutableScopeHeaders.from_message(message)
    if "allow" in headers and methods:
        headers["Allow"] = ", ".join(sorted(methods))


def head_as_get(app: ASGIApp) -> ASGIApp:
    """Answers `HEAD` on every `GET` route: routed, authenticated and answered as the `GET`,
    with the same status and headers and no body (RFC 9110, 9.3.2)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await app(scope, receive, send)
            return

        answered = asyncio.Event()

        async def without_body(message: Message) -> None:
            """The headers, then at once the end of an empty body; nothing after that."""
            if answered.is_set():
                return
            await send(message)
            if message["type"] == "http.response.start":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                answered.set()

        async def gone_once_answered() -> Message:
            """Once answered, the app is told that the client has gone, so that a stream (the
            events route) stops instead of running on unseen."""
            waits = [asyncio.ensure_future(receive()), asyncio.ensure_future(answered.wait())]
            done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for waiting in pending:
                waiting.cancel()
            return waits[0].result() if waits[0] in done else {"type": "http.disconnect"}

        await app({**scope, "method": "GET"}, gone_once_answered, without_body)

    return middleware


def answered_methods(methods: set[str]) -> set[str]:
    """A route's methods, with `HEAD` wherever there is `GET` (see `head_as_get`)."""
    return (methods | {"HEAD"}) if "GET" in methods else methods
