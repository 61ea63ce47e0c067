"""The OpenAPI document is valid OpenAPI 3.1, and the frontend's typed client compiles against it.

``tests/typescript/client.ts`` is written the way the Next.js frontend writes its API client:
plain ``fetch`` typed with what ``openapi-typescript`` generates from ``/schema/openapi.json``.
The second test regenerates those types from the app under test and runs ``tsc --noEmit``, so
an API change that would break the frontend's client breaks this suite.
"""

import copy
import fcntl
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from openapi_spec_validator import validate
from openapi_spec_validator.shortcuts import get_validator_cls
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing.exceptions import Unresolvable

from tests.interop.better_auth_server import install_node_packages

TYPESCRIPT_DIR = Path(__file__).resolve().parent / "typescript"
GENERATED_SCHEMA = TYPESCRIPT_DIR / "schema.d.ts"
GENERATE_TIMEOUT_S = 120.0
TSC_TIMEOUT_S = 300.0

Document = dict[str, Any]


@pytest.fixture
async def openapi_document(client: AsyncTestClient) -> Document:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    document: Document = response.json()
    return document


def openapi_problems(document: Document) -> list[str]:
    """Why `document` is not a valid OpenAPI document; empty when it is."""
    try:
        validate(document)
    except (OpenAPIValidationError, Unresolvable) as first:
        problems = []
        try:
            for error in get_validator_cls(document)(document).iter_errors():
                where = "".join(f"[{part!r}]" for part in error.path)
                problems.append(f"at document{where}: {error.message}")
        except Unresolvable as error:
            problems.append(f"unresolvable reference: {error}")
        return problems or [str(first).splitlines()[0]]
    return []


async def test_openapi_document_is_valid_openapi_3_1(openapi_document: Document) -> None:
    assert str(openapi_document.get("openapi", "")).startswith("3.1."), openapi_document.get(
        "openapi"
    )
    problems = openapi_problems(openapi_document)
    if problems:
        pytest.fail("The OpenAPI document is not valid OpenAPI 3.1:\n" + "\n".join(problems))


# A small document the validator accepts, and ways to break it that it must notice: proves
# the check above is not a no-op.
VALID_DOCUMENT: Document = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/things/{thing_id}": {
            "get": {
                "parameters": [{"name": "thing_id", "in": "path", "required": True, "schema": {}}],
                "responses": {
                    "200": {
                        "description": "ok",
                        "headers": {"ETag": {"schema": {"type": "string"}}},
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                        },
                    }
                },
            }
        }
    },
    "components": {
        "schemas": {
            "Thing": {
                "type": "object",
                "properties": {"id": {"type": "integer"}},
                "required": ["id"],
            }
        }
    },
}
OPERATION = ("paths", "/things/{thing_id}", "get")


def _set(document: Document, path: tuple[str, ...], value: object) -> None:
    *parents, last = path
    for key in parents:
        document = document[key]
    document[last] = value


@pytest.mark.parametrize(
    ("where", "value"),
    [
        pytest.param(("info",), None, id="info-not-an-object"),
        pytest.param(
            (*OPERATION, "responses", "200", "headers", "ETag"), {}, id="header-no-schema"
        ),
        pytest.param(
            (*OPERATION, "responses", "200", "content", "application/json", "schema"),
            {"$ref": "#/components/schemas/Missing"},
            id="dangling-ref",
        ),
        pytest.param(
            (*OPERATION, "parameters"),
            [{"name": "thing_id", "in": "body", "schema": {}}],
            id="parameter-in-body",
        ),
        pytest.param(("components", "schemas", "Thing", "type"), "objekt", id="unknown-type"),
        pytest.param((*OPERATION, "parameters"), [], id="path-parameter-undeclared"),
    ],
)
def test_validator_rejects_invalid_documents(where: tuple[str, ...], value: object) -> None:
    assert openapi_problems(VALID_DOCUMENT) == []
    broken = copy.deepcopy(VALID_DOCUMENT)
    _set(broken, where, value)
    assert openapi_problems(broken), f"validator accepted a document with {where} = {value!r}"


def _run(command: list[str], *, timeout: float, what: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command,
            cwd=TYPESCRIPT_DIR,
            env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{what} did not finish within {timeout:.0f} s: {exc.stdout!r} {exc.stderr!r}")


def test_typescript_client_type_checks(openapi_document: Document, tmp_path: Path) -> None:
    install_node_packages(TYPESCRIPT_DIR)
    document_path = tmp_path / "openapi.json"
    document_path.write_text(json.dumps(openapi_document, indent=2))
    bin_dir = TYPESCRIPT_DIR / "node_modules" / ".bin"

    # schema.d.ts is shared by everyone type-checking this folder: one at a time.
    with open(TYPESCRIPT_DIR / ".typecheck.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        generated = _run(
            [
                str(bin_dir / "openapi-typescript"),
                str(document_path),
                "--output",
                str(GENERATED_SCHEMA),
            ],
            timeout=GENERATE_TIMEOUT_S,
            what="openapi-typescript",
        )
        assert generated.returncode == 0, (
            f"openapi-typescript failed (exit {generated.returncode}):\n"
            f"{generated.stdout}\n{generated.stderr}"
        )
        checked = _run(
            [str(bin_dir / "tsc"), "--noEmit", "--pretty", "false", "-p", str(TYPESCRIPT_DIR)],
            timeout=TSC_TIMEOUT_S,
            what="tsc",
        )
    assert checked.returncode == 0, (
        f"tests/typescript/client.ts no longer type-checks against the API's OpenAPI document "
        f"(tsc exit {checked.returncode}); types generated into {GENERATED_SCHEMA}:\n"
        f"{checked.stdout}\n{checked.stderr}"
    )
