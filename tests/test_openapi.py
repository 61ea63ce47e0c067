"""The OpenAPI document: every operation named and documented, bearer auth, typed bodies; and it
says what the contract says the API does: each operation's statuses, problem bodies for errors,
every limit of a task, and how values are normalised."""

import pytest

from persistence.domain import (
    DESCRIPTION_MAX,
    PAGE_MAX,
    RECURRENCE_MAX,
    SEARCH_MAX,
    TAG_MAX,
    TAGS_MAX,
    TIME_ZONE_MAX,
    TITLE_MAX,
    Priority,
)
from queries.messages import Order, SortKey, Status


@pytest.fixture(scope="module")
async def openapi(client) -> dict:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


async def test_every_operation_has_id_summary_and_documented_errors(openapi):
    operations = [
        (path, method, operation)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) == 16
    for path, method, operation in operations:
        assert operation.get("operationId"), (path, method)
        assert operation.get("summary"), (path, method)
        if path.startswith("/api/"):
            assert operation["security"][0] == {"BearerToken": []}
            assert {"401", "403"} <= operation["responses"].keys(), (path, method)
            problem = operation["responses"]["401"]["content"]["application/problem+json"]
            assert problem["schema"]["$ref"].endswith("/Problem")


async def test_openapi_declares_bearer_auth_and_typed_bodies(openapi):
    assert openapi["openapi"].startswith("3.1")
    assert openapi["components"]["securitySchemes"]["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    schemas = openapi["components"]["schemas"]
    assert {"TaskView", "TaskStats", "CreateTask", "PatchTask", "Problem"} <= schemas.keys()
    assert set(schemas["CreateTask"]["required"]) == {"title"}
    create = openapi["paths"]["/api/{user_id}/tasks"]["post"]
    assert {"201", "413", "415", "422"} <= create["responses"].keys()


async def test_the_events_route_is_an_event_stream_that_takes_the_token_in_the_query(openapi):
    events = openapi["paths"]["/api/{user_id}/events"]["get"]
    assert events["security"] == [{"BearerToken": []}, {"AccessTokenQuery": []}]
    assert openapi["components"]["securitySchemes"]["AccessTokenQuery"] | {"description": ""} == {
        "type": "apiKey",
        "name": "access_token",
        "in": "query",
        "description": "",
    }
    assert list(events["responses"]["200"]["content"]) == ["text/event-stream"]
    assert {"401", "403", "410", "422", "429"} <= events["responses"].keys()
    assert "Last-Event-ID" in {parameter["name"] for parameter in events["parameters"]}
    others = [
        operation["security"]
        for path, item in openapi["paths"].items()
        for operation in item.values()
        if path.startswith("/api/") and operation is not events
    ]
    assert all(security == [{"BearerToken": []}] for security in others)


async def test_interactive_docs_are_served(client):
    response = await client.get("/schema")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]


@pytest.mark.parametrize("schema", ["CreateTask", "ReplaceTask", "TaskView"])
async def test_openapi_describes_time_zone_and_recurrence_with_examples(openapi, schema):
    properties = openapi["components"]["schemas"][schema]["properties"]
    time_zone, recurrence = properties["time_zone"], properties["recurrence"]

    assert (time_zone["maxLength"], recurrence["maxLength"]) == (TIME_ZONE_MAX, RECURRENCE_MAX)
    assert recurrence["pattern"] == "^(none|daily|weekly|monthly|yearly|RRULE:.+)$"
    assert "Europe/Berlin" in time_zone["examples"]
    assert "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH" in recurrence["examples"]
    assert "IANA" in time_zone["description"]
    assert "RFC 5545" in recurrence["description"]


PROBLEM = "application/problem+json"

# The contract's statuses, by method and path: the success first, then every other answer.
CONTRACT = {
    ("get", "/api/{user_id}/tasks"): {200, 401, 403, 422, 429, 503},
    ("post", "/api/{user_id}/tasks"): {201, 401, 403, 409, 413, 415, 422, 429, 503},
    ("get", "/api/{user_id}/tasks/stats"): {200, 401, 403, 429, 503},
    ("get", "/api/{user_id}/tasks/{task_id}"): {200, 304, 401, 403, 404, 429, 503},
    ("put", "/api/{user_id}/tasks/{task_id}"): {
        *(200, 401, 403, 404, 412, 413, 415, 422, 429, 503)
    },
    ("patch", "/api/{user_id}/tasks/{task_id}"): {
        *(200, 401, 403, 404, 412, 413, 415, 422, 429, 503)
    },
    ("patch", "/api/{user_id}/tasks/{task_id}/complete"): {
        *(200, 401, 403, 404, 412, 413, 415, 422, 429, 503)
    },
    ("delete", "/api/{user_id}/tasks/{task_id}"): {204, 401, 403, 404, 412, 429, 503},
    ("get", "/health"): {200, 429},
    ("get", "/ready"): {200, 429, 503},
    ("get", "/api/{user_id}/trash"): {200, 401, 403, 422, 429, 503},
    ("post", "/api/{user_id}/trash/{task_id}/restore"): {200, 401, 403, 404, 412, 429, 503},
    ("delete", "/api/{user_id}/trash/{task_id}"): {204, 401, 403, 404, 429, 503},
    ("delete", "/api/{user_id}/trash"): {204, 401, 403, 429, 503},
    ("get", "/api/{user_id}/changes"): {200, 401, 403, 410, 422, 429, 503},
    ("get", "/api/{user_id}/events"): {200, 401, 403, 410, 422, 429, 503},
}
EDITABLE = ("CreateTask", "ReplaceTask", "PatchTask")


def operations(document: dict) -> dict[tuple[str, str], dict]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def branch(schema: dict, json_type: str) -> dict:
    """The part of `schema` for values of `json_type` (a union lists one per type)."""
    for candidate in schema.get("oneOf", [schema]):
        if candidate.get("type") == json_type:
            return candidate
    raise AssertionError(f"no {json_type} in {schema}")


async def test_each_operation_documents_exactly_the_statuses_it_answers(openapi):
    documented = {
        key: {int(status) for status in operation["responses"]}
        for key, operation in operations(openapi).items()
    }
    assert documented == CONTRACT


async def test_errors_are_problem_details_and_other_answers_are_not(openapi):
    for key, operation in operations(openapi).items():
        for status, response in operation["responses"].items():
            content = response.get("content", {})
            if int(status) >= 400:
                assert list(content) == [PROBLEM], (key, status)
                assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
            else:
                assert PROBLEM not in content, (key, status)
        assert "400" not in operation["responses"], key  # invalid input is a 422 problem


async def test_the_user_id_parameter_says_me_stands_for_the_token_user(openapi):
    for (_, path), operation in operations(openapi).items():
        if path.startswith("/api/"):
            (user_id,) = [p for p in operation["parameters"] if p["name"] == "user_id"]
            assert "`me`" in user_id["description"], path


async def test_the_complete_body_is_optional_and_other_bodies_are_required(openapi):
    bodies = {
        key: operation["requestBody"]["required"]
        for key, operation in operations(openapi).items()
        if "requestBody" in operation
    }
    assert bodies == {
        ("post", "/api/{user_id}/tasks"): True,
        ("put", "/api/{user_id}/tasks/{task_id}"): True,
        ("patch", "/api/{user_id}/tasks/{task_id}"): True,
        ("patch", "/api/{user_id}/tasks/{task_id}/complete"): False,
    }


@pytest.mark.parametrize("name", [*EDITABLE, "TaskView"])
async def test_every_limit_of_a_task_is_stated(openapi, name):
    schemas = openapi["components"]["schemas"]
    fields = schemas[name]["properties"]
    title = branch(fields["title"], "string")
    assert (title["minLength"], title["maxLength"]) == (1, TITLE_MAX)
    assert "trimming" in fields["title"]["description"]
    assert fields["description"]["maxLength"] == DESCRIPTION_MAX
    assert fields["tags"]["maxItems"] == TAGS_MAX
    tag = branch(fields["tags"], "array")["items"]
    assert (tag["minLength"], tag["maxLength"]) == (1, TAG_MAX)
    for rule in ("trimmed", "lower-cased", "duplicates are dropped"):
        assert rule in fields["tags"]["description"]
    assert schemas["Priority"]["enum"] == [level.value for level in Priority]


@pytest.mark.parametrize("name", EDITABLE)
async def test_request_bodies_refuse_unknown_fields_and_require_only_a_title(openapi, name):
    schema = openapi["components"]["schemas"][name]
    assert set(schema.get("required", [])) == ({"title"} if name != "PatchTask" else set())
    assert schema["additionalProperties"] is False
    # openapi-typescript's default options make a property with a `default` required.
    assert not [field for field in schema["properties"].values() if "default" in field]


async def test_list_parameters_state_their_values_and_limits(openapi):
    schemas = openapi["components"]["schemas"]
    listing = openapi["paths"]["/api/{user_id}/tasks"]["get"]
    parameters = {p["name"]: p for p in listing["parameters"]}
    assert parameters["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": PAGE_MAX,
        "default": 20,
    }
    assert parameters["q"]["schema"]["maxLength"] == SEARCH_MAX
    assert parameters["tag"]["schema"]["maxItems"] == TAGS_MAX
    assert schemas["Status"]["enum"] == [status.value for status in Status]
    assert schemas["SortKey"]["enum"] == [key.value for key in SortKey]
    assert schemas["Order"]["enum"] == [order.value for order in Order]
    assert "priority" in parameters["order"]["description"]
