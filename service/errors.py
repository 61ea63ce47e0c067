"""The one place where failures become RFC 9457 problem details."""

import logging
import re
from http import HTTPStatus
from typing import Any

import msgspec
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException
from litestar.types import Send
from sqlalchemy import exc as sa_exc

from persistence.domain import (
    CursorExpired,
    IdempotencyKeyReused,
    InvalidField,
    PreconditionFailed,
    RequestInFlight,
    TaskNotFound,
)
from service.auth import MissingToken
from service.live import TooManyStreams
from service.observability import current_request_id

logger = logging.getLogger("taskapi.errors")

RETRY_AFTER_SECONDS = "5"
STREAM_RETRY_AFTER_SECONDS = "30"  # a stream's place frees when another one ends

_AT_PATH = re.compile(r"^(.*) - at `\$\.?([^`]*)`$")  # msgspec: "Expected `bool`... - at `$.x`"
MALFORMED_BODY = {"key": "body", "message": "malformed JSON or not UTF-8"}


def problem(
    status: int,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> ProblemDetailsException:
    return ProblemDetailsException(
        type_="about:blank",
        title=HTTPStatus(status).phrase,
        status_code=status,
        detail=detail,
        headers=headers,
        extra=extra,
    )


async def send_problem(
    send: Send, status: int, detail: str, *, headers: dict[str, str] | None = None
) -> None:
    """A problem answered by a layer around the app, before Litestar sees the request."""
    title = HTTPStatus(status).phrase
    body = msgspec.json.encode(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}
    )
    raw_headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def _field_error(error: dict[str, Any]) -> dict[str, str]:
    key = error.get("key") or "data"
    field = "body" if key == "data" else key  # "data": the body as a whole
    return {"field": field, "message": error.get("message", "invalid value")}


def msgspec_error(error: msgspec.ValidationError, field: str = "") -> dict[str, str]:
    """Litestar's shape (`key`, `message`) of a msgspec validation error, for a value that was
    decoded as `field` (or as the whole body)."""
    text = str(error)
    match = _AT_PATH.match(text)
    message, path = match.groups() if match else (text, "")
    if path and field:
        path = path if path.startswith("[") else f".{path}"
    return {"key": f"{field}{path}" or "data", "message": message}


def _validation_problem(errors: list[dict[str, str]]) -> ProblemDetailsException:
    return problem(422, "The request is not valid", extra={"errors": errors})


def _from_validation(exc: ValidationException) -> ProblemDetailsException:
    raw = exc.extra if isinstance(exc.extra, list) else []
    return _validation_problem([_field_error(item) for item in raw] or [_body_error(exc)])


def _body_error(exc: HTTPException) -> dict[str, str]:
    return {"field": "body", "message": exc.detail}


def _from_http(exc: HTTPException) -> ProblemDetailsException:
    if isinstance(exc, MissingToken):
        return problem(401, exc.detail, headers={"WWW-Authenticate": "Bearer"})
    if exc.status_code == 401:
        description = exc.detail.replace('"', "'")
        challenge = f'Bearer error="invalid_token", error_description="{description}"'
        return problem(401, exc.detail, headers={"WWW-Authenticate": challenge})
    if exc.status_code == 400:  # Litestar's answer to unparseable input; the contract says 422
        return _validation_problem([_body_error(exc)])
    if exc.status_code == 429:
        return _from_rate_limit(exc)
    if exc.status_code >= 500:  # a framework's own words stay in the log
        return _from_unexpected(exc)
    status = HTTPStatus(exc.status_code)
    detail = exc.detail if exc.detail != status.phrase else status.description
    return problem(status, detail, headers=exc.headers)


def _from_rate_limit(exc: HTTPException) -> ProblemDetailsException:
    headers = {"Retry-After": "1"} | dict(exc.headers or {})
    return problem(429, "Too many requests; retry after the time given", headers=headers)


def _from_invalid_field(exc: InvalidField) -> ProblemDetailsException:
    return _validation_problem([{"field": exc.field, "message": exc.message}])


def _from_not_found(exc: TaskNotFound) -> ProblemDetailsException:
    return problem(404, str(exc))


def _from_precondition_failed(exc: PreconditionFailed) -> ProblemDetailsException:
    return problem(412, str(exc))


def _from_cursor_expired(_: CursorExpired) -> ProblemDetailsException:
    return problem(
        410,
        "The cursor is older than the retention window; sync again without `since`",
    )


def _from_key_reused(_: IdempotencyKeyReused) -> ProblemDetailsException:
    message = "was already used with a different request body"
    return _validation_problem([{"field": "Idempotency-Key", "message": message}])


def _from_in_flight(_: RequestInFlight) -> ProblemDetailsException:
    return problem(
        409,
        "A request with this Idempotency-Key is still being processed; retry shortly",
        headers={"Retry-After": "1"},
    )


def _from_too_many_streams(_: TooManyStreams) -> ProblemDetailsException:
    return problem(
        429,
        "Too many open event streams for this user; close one or retry later",
        headers={"Retry-After": STREAM_RETRY_AFTER_SECONDS},
    )


def _from_unavailable(exc: Exception) -> ProblemDetailsException:
    logger.warning(
        "database unavailable (request %s): %s", current_request_id(), type(exc).__name__
    )
    return problem(
        503,
        "The database is unavailable; retry shortly",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def _from_rate_limit_store_down(exc: Exception) -> ProblemDetailsException:
    logger.warning("Redis unavailable (request %s): %s", current_request_id(), type(exc).__name__)
    return problem(
        503,
        "The rate-limit store is unavailable; retry shortly",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def _from_database_error(exc: sa_exc.DBAPIError) -> ProblemDetailsException:
    """A connection lost in the middle of a statement or a commit comes as a plain `DBAPIError`
    that SQLAlchemy marks as a disconnect."""
    return _from_unavailable(exc) if exc.connection_invalidated else _from_unexpected(exc)


def _from_unexpected(exc: Exception) -> ProblemDetailsException:
    logger.error("unhandled error (request %s)", current_request_id(), exc_info=exc)
    return problem(500, "An unexpected error occurred; it has been logged")


_PROBLEMS = {
    ValidationException: _from_validation,
    HTTPException: _from_http,
    InvalidField: _from_invalid_field,
    TaskNotFound: _from_not_found,
    PreconditionFailed: _from_precondition_failed,
    CursorExpired: _from_cursor_expired,
    IdempotencyKeyReused: _from_key_reused,
    RequestInFlight: _from_in_flight,
    TooManyStreams: _from_too_many_streams,
    # Connection-level failures (refused, timed out, dropped): the request may be retried.
    OSError: _from_unavailable,
    sa_exc.OperationalError: _from_unavailable,
    sa_exc.InterfaceError: _from_unavailable,
    sa_exc.TimeoutError: _from_unavailable,
    sa_exc.DBAPIError: _from_database_error,
    Exception: _from_unexpected,
}


def problem_details(*, redis: bool) -> ProblemDetailsConfig:
    """`redis`: whether a Redis rate-limit store is configured, whose client is imported only
    then (it adds about 19 MiB to every worker)."""
    problems: dict[type[Exception], Any] = dict(_PROBLEMS)
    if redis:
        from redis import exceptions as redis_exc

        problems[redis_exc.ConnectionError] = _from_rate_limit_store_down
        problems[redis_exc.TimeoutError] = _from_rate_limit_store_down
    return ProblemDetailsConfig(exception_to_problem_detail_map=problems)
