"""The hot paths' JSON responses send exactly what Starlette's JSONResponse sends."""

from __future__ import annotations

import math

import pytest
from starlette.responses import JSONResponse

from app.api.errors import NO_STORE
from app.api.responses import Rendered, header_tuples, json_response, render

CONTENTS = [
    {"access_token": "a.b.c", "token_type": "Bearer", "expires_in": 900, "scope": None},
    {"message": "Hello, Zoë-日本 \"quoted\" \\ \n", "user_id": 7, "session_id": "ab" * 16},
    {"nested": {"list": [1, 2.5, True, None, "x"]}, "empty": {}},
    [],
]


@pytest.mark.parametrize("content", CONTENTS)
def test_same_bytes_and_headers_as_jsonresponse(content: object) -> None:
    ours, theirs = json_response(content, header_tuples(NO_STORE)), JSONResponse(content, headers=NO_STORE)
    assert ours.body == theirs.body
    assert ours.raw_headers == theirs.raw_headers
    assert ours.status_code == theirs.status_code == 200 and ours.background is None
    bare = json_response(content)
    assert bare.raw_headers == JSONResponse(content).raw_headers
    assert bare.headers["content-type"] == "application/json"


def test_not_json_is_refused_as_jsonresponse_refuses_it() -> None:
    for bad in ({"x": math.nan}, {"x": math.inf}):
        with pytest.raises(ValueError):
            JSONResponse(bad)
        with pytest.raises(ValueError):
            json_response(bad)


def test_a_cached_answer_gets_its_own_header_list_each_time() -> None:
    """/protected renders a session's answer once and hands the same cached (body,
    headers) to a Rendered on every call: one response's headers, changed by a
    middleware, must not show in the next."""
    body, headers = render({"message": "Hello, alice", "user_id": 1, "session_id": "s1"})
    cached = (body, tuple(headers))
    first, second = Rendered(*cached), Rendered(*cached)
    first.headers["x-added"] = "by a middleware"
    assert "x-added" not in second.headers
    assert first.body == second.body == JSONResponse({"message": "Hello, alice", "user_id": 1, "session_id": "s1"}).body
