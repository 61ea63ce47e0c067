"""The OpenAPI document and the interactive docs: bearer security, the problem body on every
documented error, and Swagger UI served by the API itself."""

from http import HTTPStatus

import msgspec
from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from msgspec import UNSET, UnsetType
from swagger_ui_bundle import swagger_ui_path

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
                "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
            }
        ),
    )
