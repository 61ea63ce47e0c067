"""Request bodies: JSON only, decoded strictly.

Litestar converts bodies with msgspec's lax rules, which read `"true"` or `1` as a boolean and
a number as a date-time. Before a handler runs, this hook decodes the body strictly into the
handler's declared type (with a decoder built once per type), so such values are refused; the
lax conversion that follows then cannot change anything.
"""

from functools import cache
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import HTTPException, ValidationException

from service.errors import body_errors

JSON_MEDIA_TYPES = ("application/json", "application/merge-patch+json")


@cache
def _decoder(body_type: Any) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(body_type)


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return (length is not None and length != "0") or "transfer-encoding" in request.headers


def _is_json(media_type: str) -> bool:
    return media_type in JSON_MEDIA_TYPES or media_type.endswith("+json")


async def strict_json_body(request: Request) -> None:
    data_field = request.route_handler.parsed_data_field
    if data_field is None:
        return
    if _has_body(request) and not _is_json(request.content_type[0]):
        raise HTTPException(status_code=415, detail="The request body must be JSON")
    body = await request.body()
    if not body.strip():
        if data_field.is_optional:
            return
        raise ValidationException(extra=[{"key": "body", "message": "a JSON body is required"}])
    try:
        _decoder(data_field.annotation).decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        raise ValidationException(extra=body_errors(error)) from None
