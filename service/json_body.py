"""Request bodies: JSON only, decoded strictly.

Litestar converts bodies with msgspec's lax rules, which read `"true"` or `1` as a boolean and
a number as a date-time. Before a handler runs, this hook decodes the body strictly into the
handler's declared type (with a decoder built once per type), so such values are refused; the
lax conversion that follows then cannot change anything. A refused body is looked at once
more, field by field, so that the 422 names every bad field, not just the first.
"""

from functools import cache
from typing import Any, get_args

import msgspec
from litestar import Request
from litestar.exceptions import HTTPException, ValidationException

from persistence.domain import FIELD_RULES, InvalidField
from service.errors import MALFORMED_BODY, msgspec_error

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
    except msgspec.ValidationError as error:
        struct_type = _struct_type(data_field.annotation)
        every = _field_errors(struct_type, body) if struct_type else []
        raise ValidationException(extra=every or [msgspec_error(error)]) from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        raise ValidationException(extra=[MALFORMED_BODY]) from None


def _struct_type(annotation: Any) -> type[msgspec.Struct] | None:
    """The message type a body is decoded into (`SetCompletion | None` -> `SetCompletion`)."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, msgspec.Struct):
            return candidate
    return None


def _field_errors(struct_type: type[msgspec.Struct], body: bytes) -> list[dict[str, str]]:
    """Every bad field of a body, where msgspec reports only the first: field by field, the
    types and limits, then the message's own rules. Runs only once a body has been refused."""
    try:  # the typed decoder can stop at a bad field before it reaches malformed JSON
        document = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return [MALFORMED_BODY]
    if not isinstance(document, dict):
        return []
    fields = {info.encode_name: info for info in msgspec.structs.fields(struct_type)}
    errors = [
        {"key": name, "message": "unknown or read-only field"}
        for name in document
        if name not in fields
    ]
    for name, info in fields.items():
        if name not in document:
            if info.required:
                errors.append({"key": name, "message": "required field is missing"})
            continue
        try:
            value = msgspec.convert(document[name], info.type)
            if (rule := FIELD_RULES.get(name)) is not None:
                rule(value)
        except msgspec.ValidationError as error:
            errors.append(msgspec_error(error, name))
        except InvalidField as error:
            errors.append({"key": error.field, "message": error.message})
    return errors
