"""The OpenAPI document and the interactive docs: bearer security, the problem body on every
documented error, and Swagger UI served by the API itself."""

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Router
from litestar._openapi.schema_generation import SchemaCreator
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.datastructures import CacheControlHeader
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, Operation, Schema, SecurityScheme
from litestar.static_files import create_static_files_router
from litestar.typing import FieldDefinition
from msgspec import UNSET, UnsetType
from swagger_ui_bundle import swagger_ui_path

from service.auth import QUERY_CREDENTIAL

DOCS_PATH = "/schema"
# The bundle's folder is named after its Swagger UI version, so the URLs change with it.
ASSETS_PATH = f"/assets/{swagger_ui_path.name}"
ONE_YEAR_SECONDS = 365 * 24 * 3600


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


# What each status means, wherever it is answered.
_WHEN = {
    304: "The task is still at the version named in `If-None-Match`",
    401: "Missing, malformed, expired or unverifiable token (`WWW-Authenticate` says why)",
    403: "The path's user is not the token's user",
    404: "No such task for this user",
    409: "A request with this `Idempotency-Key` is still being processed; retry shortly",
    410: "The cursor is older than the retention window; sync again without `since`",
    412: "The task has changed since the version named in `If-Match`",
    413: "Request body over 64 KiB",
    415: "Request body is not JSON",
    422: "Invalid body, field, header or query parameter; each bad one is named in `errors`",
    429: "Over the request budget, or (events) too many open streams; `Retry-After` says when "
    "to try again",
    503: "The database is unreachable, or the service too busy to start the request; "
    "`Retry-After` says when to try again",
}

# Every status an operation answers besides its success, by operation id: adding a route or a
# status is one line here, and tests/test_openapi.py holds the API to it.
_TASK = (401, 403, 429, 503)  # any task route: the token, the path's user, the budget, the database
_BODY = (413, 415, 422)  # any route that reads a JSON body
STATUSES: dict[str, tuple[int, ...]] = {
    "listTasks": (*_TASK, 422),
    "createTask": (*_TASK, *_BODY, 409),
    "taskStats": _TASK,
    "getTask": (*_TASK, 304, 404),
    "replaceTask": (*_TASK, *_BODY, 404, 412),
    "patchTask": (*_TASK, *_BODY, 404, 412),
    "completeTask": (*_TASK, *_BODY, 404, 412),
    "deleteTask": (*_TASK, 404, 412),
    "listTrash": (*_TASK, 422),
    "restoreTask": (*_TASK, 404, 412),
    "purgeTask": (*_TASK, 404),
    "emptyTrash": _TASK,
    "listChanges": (*_TASK, 410, 422),
    "streamChanges": (*_TASK, 410, 422),
    "health": (429,),
    "ready": (429, 503),
}
# Operations whose request body may be left out.
OPTIONAL_BODY = {"completeTask"}


def _response(status: int) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem if status >= 400 else None,
        description=_WHEN[status],
        media_type="application/problem+json",
        generate_examples=False,
    )


@dataclass
class AsAnswered(Operation):
    """An operation as the API really answers it. Litestar documents a `400` in its own error
    shape for every operation that takes input, and marks every request body required; here
    invalid input is a `422` problem, and some bodies are optional."""

    def __post_init__(self) -> None:
        if self.responses is not None:
            self.responses.pop("400", None)
        if self.request_body is not None and self.operation_id in OPTIONAL_BODY:
            self.request_body.required = False


def documented(operation_id: str) -> dict[str, Any]:
    """The route decorator's arguments that document `operation_id` as `STATUSES` says."""
    return {
        "operation_id": operation_id,
        "responses": {status: _response(status) for status in sorted(STATUSES[operation_id])},
        "operation_class": AsAnswered,
    }


class RequestBodySchemas(StructSchemaPlugin):
    """Request bodies (the structs that refuse unknown fields) say so with
    `additionalProperties: false`, and state a field's default in words rather than as
    `default`: openapi-typescript (with its default options) makes every property that has a
    `default` required, right for a response but wrong for a request (`completed` would be
    mandatory in a create body)."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return super().is_plugin_supported_field(field_definition) and bool(
            field_definition.annotation.__struct_config__.forbid_unknown_fields
        )

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        for property_schema in (schema.properties or {}).values():
            if isinstance(property_schema, Schema) and property_schema.default is not None:
                default = msgspec.json.encode(property_schema.default).decode()
                said = property_schema.description
                said = f"{said.rstrip('.')}. " if said else ""
                property_schema.description = f"{said}Default: `{default}`."
                property_schema.default = None
        return schema


class OfflineSwaggerUI(SwaggerRenderPlugin):
    """Swagger UI whose scripts, styles and icon come from the API (pinned by the
    `swagger-ui-bundle-v2` package), so the docs work with no internet access."""

    def __init__(self) -> None:
        assets = f"{DOCS_PATH}{ASSETS_PATH}"
        super().__init__(
            js_url=f"{assets}/swagger-ui-bundle.js",
            css_url=f"{assets}/swagger-ui.css",
            standalone_preset_js_url=f"{assets}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{assets}/favicon-32x32.png'>",
        )

    def receive_router(self, router: Router) -> None:
        super().receive_router(router)
        router.register(
            create_static_files_router(
                ASSETS_PATH,
                directories=[swagger_ui_path],
                cache_control=CacheControlHeader(max_age=ONE_YEAR_SECONDS, immutable=True),
            )
        )


def openapi_config(version: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Tasks API",
        version=version,
        description="Each signed-in user's own tasks. Authenticate with a Better Auth JWT.",
        path=DOCS_PATH,
        render_plugins=[OfflineSwaggerUI()],
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                # Only where a route says so: browsers' EventSource cannot send headers.
                "AccessTokenQuery": SecurityScheme(
                    type="apiKey",
                    name=QUERY_CREDENTIAL,
                    security_scheme_in="query",
                    description="The same JWT as a query parameter, on the events route only",
                ),
            }
        ),
    )
