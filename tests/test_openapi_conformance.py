"""Schemathesis generates requests from the live OpenAPI document, valid and invalid ones, and
every answer must be one the document declares: its status, content type, headers and body."""

import httpx
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from tests.helpers import bearer, live_server

EXAMPLES = 20  # per operation and generation mode: bounded, so the suite stays quick
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def check_answers(operation, mode: GenerationMode, path_parameters: dict, headers: dict) -> None:
    """Raises schemathesis' report (with a `curl` to reproduce) for the first request whose
    answer the document does not declare."""

    @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests on every run: a failure is never luck
        suppress_health_check=list(HealthCheck),
    )
    def call(case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        call()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        # Nothing this operation takes can be made invalid (it has no parameters at all).


def test_every_answer_is_one_the_document_declares(settings, engine, user):
    headers = bearer(user)
    with live_server(create_app(settings)) as api:
        schema = schemathesis.openapi.from_url(f"{api}/schema/openapi.json")
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path.endswith("/events"):
                continue  # a stream answers for as long as its token lasts: test_live_updates.py
            # A task of the user's own, so that task routes get past 404 (until one deletes it).
            task = httpx.post(f"{api}/api/me/tasks", json={"title": "t"}, headers=headers).json()
            known = {"user_id": "me", "task_id": task["id"]}
            path_parameters = {
                name: value for name, value in known.items() if f"{{{name}}}" in operation.path
            }
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                check_answers(operation, mode, path_parameters, headers)
