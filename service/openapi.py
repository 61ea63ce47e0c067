"""The OpenAPI document: bearer security, and the problem body on every documented error."""

from http import HTTPStatus

import msgspec
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from msgspec import UNSET, UnsetType


class FieldError(msgspec.Struct, frozen=True):
    field: str
    message: str


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | UnsetType = UNSET


_WHEN = {
    304: "The task is still at the version named in `If-None-Match`",
    401: "Missing, malformed, expired or unverifiable token",
    403: "The path's user is not the token's user",
    404: "No such task for this user",
    413: "Request body over 64 KiB",
    409: "A request with this `Idempotency-Key` is still being processed; retry shortly",
    410: "The cursor is older than the retention window; sync again without `since`",
    412: "The task has changed since the version named in `If-Match`",
    415: "Request body is not JSON",
    422: "Invalid body, field or query parameter; each bad field is named in `errors`",
}


def responses(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=Problem if status >= 400 else None,
            description=_WHEN.get(status, HTTPStatus(status).phrase),
            media_type="application/problem+json",
            generate_examples=False,
        )
        for status in statuses
    }


def openapi_config(version: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Tasks API",
        version=version,
        description="Each signed-in user's own tasks. Authenticate with a Better Auth JWT.",
        path="/schema",
        render_plugins=[ScalarRenderPlugin()],
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
            }
        ),
    )
