"""Logging: one structured line per request, a request id on every response, no secrets."""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING
from uuid import uuid4

import msgspec

if TYPE_CHECKING:  # the supervising `taskapi run` process logs without importing Litestar
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

_request_id: ContextVar[str] = ContextVar("request_id", default="-")
access_logger = logging.getLogger("taskapi.access")

_REQUEST_ID_HEADER = b"x-request-id"
_MAX_REQUEST_ID_LENGTH = 64


def current_request_id() -> str:
    return _request_id.get()


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            if 0 < len(text) <= _MAX_REQUEST_ID_LENGTH and text.isprintable():
                return text
    return None


def access_log(app: ASGIApp) -> ASGIApp:
    """Wraps the whole app (unknown routes and auth failures included): tags each request
    with an id and logs it once it is answered."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid4().hex
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (_REQUEST_ID_HEADER, request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            access_logger.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "request_id": request_id,
                },
            )
            _request_id.reset(token)

    return middleware


_RECORD_FIELDS = ("method", "path", "status", "duration_ms", "request_id")


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {key: getattr(record, key) for key in _RECORD_FIELDS if hasattr(record, key)}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return msgspec.json.encode(entry).decode()


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if hasattr(record, "duration_ms"):
            line += f" {record.duration_ms}ms id={record.request_id}"
        return line


def configure_logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(ConsoleFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    silence_server_access_log()
    # A quiet start: the progress reports of uvicorn, pgserver and Alembic only when debugging.
    if level.upper() != "DEBUG":
        for chatty in ("uvicorn.error", "pgserver", "alembic"):
            logging.getLogger(chatty).setLevel(max(root.level, logging.WARNING))


def silence_server_access_log() -> None:
    """uvicorn's access log is replaced by `taskapi.access`; it would also write query strings,
    where the events route's token may travel. uvicorn configures its loggers when it starts,
    which can be after the app was built, so this runs again at start-up."""
    logging.getLogger("uvicorn.access").disabled = True
