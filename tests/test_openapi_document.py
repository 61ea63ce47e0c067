"""The OpenAPI document says what the contract says the API does: each operation's statuses,
problem bodies for errors, every limit of a task, and how values are normalised."""

import pytest

from persistence.domain import (
    DESCRIPTION_MAX,
    PAGE_MAX,
    SEARCH_MAX,
    TAG_MAX,
    TAGS_MAX,
    TITLE_MAX,
    Priority,
    Recurrence,
)
from queries.messages import Order, SortKey, Status

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
}
EDITABLE = ("CreateTask", "ReplaceTask", "PatchTask")


@pytest.fixture(scope="module")
async def document(client) -> dict:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


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


async def test_each_operation_documents_exactly_the_statuses_it_answers(document):
    documented = {
        key: {int(status) for status in operation["responses"]}
        for key, operation in operations(document).items()
    }
    assert documented == CONTRACT


async def test_errors_are_problem_details_and_other_answers_are_not(document):
    for key, operation in operations(document).items():
        for status, response in operation["responses"].items():
            content = response.get("content", {})
            if int(status) >= 400:
                assert list(content) == [PROBLEM], (key, status)
                assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
            else:
                assert PROBLEM not in content, (key, status)
        assert "400" not in operation["responses"], key  # invalid input is a 422 problem


async def test_the_user_id_parameter_says_me_stands_for_the_token_user(document):
    for (_, path), operation in operations(document).items():
        if path.startswith("/api/"):
            (user_id,) = [p for p in operation["parameters"] if p["name"] == "user_id"]
            assert "`me`" in user_id["description"], path


async def test_the_complete_body_is_optional_and_other_bodies_are_required(document):
    bodies = {
        key: operation["requestBody"]["required"]
        for key, operation in operations(document).items()
        if "requestBody" in operation
    }
    assert bodies == {
        ("post", "/api/{user_id}/tasks"): True,
        ("put", "/api/{user_id}/tasks/{task_id}"): True,
        ("patch", "/api/{user_id}/tasks/{task_id}"): True,
        ("patch", "/api/{user_id}/tasks/{task_id}/complete"): False,
    }


@pytest.mark.parametrize("name", [*EDITABLE, "TaskView"])
async def test_every_limit_of_a_task_is_stated(document, name):
    schemas = document["components"]["schemas"]
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
    assert schemas["Recurrence"]["enum"] == [rule.value for rule in Recurrence]


@pytest.mark.parametrize("name", EDITABLE)
async def test_request_bodies_refuse_unknown_fields_and_require_only_a_title(document, name):
    schema = document["components"]["schemas"][name]
    assert set(schema.get("required", [])) == ({"title"} if name != "PatchTask" else set())
    assert schema["additionalProperties"] is False
    # openapi-typescript's default options make a property with a `default` required.
    assert not [field for field in schema["properties"].values() if "default" in field]


async def test_list_parameters_state_their_values_and_limits(document):
    schemas = document["components"]["schemas"]
    listing = document["paths"]["/api/{user_id}/tasks"]["get"]
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
