"""The three frictions that stopped students' unchanged Lambdas (#41), over real HTTP.

Each client below is our own minimal rewrite of a pattern in students' `lambda/index.py` files:
urllib (so `Connection: close`), the body in the shape their own server took. A POST to the bare
URL, a base URL ending in `/` joined to a path starting with `/`, and the chat shape sent to
`/generate`.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from unittest.mock import ANY

import pytest
from openai import OpenAI

from simplechat.api.merge_slashes import MergeSlashesMiddleware
from simplechat.engines.fake import FakeEngine
from tests.support.live import live_server, metric

KEY = "course-key-41"
HISTORY = [
    {"role": "user", "content": "日本の首都は？"},
    {"role": "assistant", "content": "東京です。"},
]
CHAT_SHAPE = {"message": "その人口は？", "conversationHistory": HISTORY}
GENERATE_SHAPE = {
    "prompt": "日本の首都は？",
    "max_new_tokens": 512,
    "do_sample": True,
    "temperature": 0.7,
    "top_p": 0.9,
}
OPENAI_SHAPE = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "こんにちは"}]}
THE_THREE_ROUTES = ("/chat", "/generate", "/v1/chat/completions")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with live_server(FakeEngine(context_length=2048), max_body_bytes=1 << 16) as url:
        yield url


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[str]:
    with live_server(FakeEngine(context_length=2048), api_key=[KEY]) as url:
        yield url


class Answer:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def post(url: str, body: Any, headers: dict[str, str] | None = None) -> Answer:
    """As students' Lambdas post: urllib (which sends `Connection: close`), JSON by hand."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as refused:
        return Answer(refused.code, refused.headers, refused.read())


# 1. POST to the bare URL ------------------------------------------------------------------


def test_the_chat_shape_at_the_root_is_answered_as_chat(server: str) -> None:
    answer = post(server, CHAT_SHAPE)  # the tunnel URL as it is, no path
    assert answer.status == 200
    assert answer.headers["X-Simplechat-Route"] == "/chat"
    timed = {"response_time": ANY, "timings": ANY}  # the clock's, different each time
    assert answer.json() == {**post(server + "/chat", CHAT_SHAPE).json(), **timed}
    assert answer.json()["success"] is True
    assert answer.json()["response"] == "You said: その人口は？"


def test_the_root_with_a_slash_and_the_chat_shape_lets_the_course_ui_show_the_answer(
    server: str,
) -> None:
    # A passthrough Lambda: the model server's JSON goes straight back to the course's web UI.
    data = post(server + "/", {"message": "hello there"}).json()
    assert data["success"] is True and data["response"] == "You said: hello there"


def test_the_generate_shape_at_the_root_is_answered_as_generate(server: str) -> None:
    answer = post(server, GENERATE_SHAPE)
    assert answer.status == 200
    assert answer.headers["X-Simplechat-Route"] == "/generate"
    body = answer.json()
    assert body["generated_text"] == body["response"] == "You said: 日本の首都は？"
    assert isinstance(body["response_time"], float)


def test_the_openai_shape_at_the_root_is_answered_as_chat_completions(server: str) -> None:
    answer = post(server, OPENAI_SHAPE)
    assert answer.status == 200
    assert answer.headers["X-Simplechat-Route"] == "/v1/chat/completions"
    body = answer.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "You said: こんにちは"


def test_the_openai_shape_at_the_root_streams_as_chat_completions_does(server: str) -> None:
    answer = post(server, {**OPENAI_SHAPE, "stream": True})
    assert answer.status == 200
    assert answer.headers["X-Simplechat-Route"] == "/v1/chat/completions"
    assert answer.headers["Content-Type"].startswith("text/event-stream")
    events = [line for line in answer.body.decode().splitlines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    text = "".join(
        json.loads(event[6:])["choices"][0]["delta"].get("content", "") for event in events[:-1]
    )
    assert text == "You said: こんにちは"


def test_a_root_error_is_the_named_routes_own(server: str) -> None:
    answer = post(server, {"message": "   "})
    assert answer.status == 400
    assert answer.headers["X-Simplechat-Route"] == "/chat"
    assert answer.json()["error"]["param"] == "message"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"message": "hi", "prompt": "hi"}, "'message' and 'prompt'"),
        ({"prompt": "hi", "messages": []}, "'prompt' and 'messages'"),
        ({}, "names none"),
        ({"text": "hi"}, "names none"),
        (["hi"], "names none"),
        (b"", "names none"),
        (b"{not json", "not valid JSON"),
    ],
    ids=["message+prompt", "prompt+messages", "empty object", "unknown", "array", "empty", "bad"],
)
def test_an_ambiguous_or_unknown_root_body_is_a_400_listing_the_three_shapes(
    server: str, body: Any, says: str
) -> None:
    answer = post(server, body)
    assert answer.status == 400
    error = answer.json()["error"]
    assert says in error["message"]
    for route in THE_THREE_ROUTES:
        assert f"POST {route}" in error["message"]
    for field in ('"message"', '"conversationHistory"', '"prompt"', '"messages"'):
        assert field in error["message"]
    assert error["code"] == "unknown_body_shape"
    assert "X-Simplechat-Route" not in answer.headers


def test_get_root_still_describes_the_api_and_post_root_is_answered(server: str) -> None:
    with urllib.request.urlopen(server + "/", timeout=30) as response:
        described = json.loads(response.read())
    assert described["name"] == "simplechat" and "POST /chat" in described["endpoints"]
    assert post(server, {"message": "hi"}).status == 200  # was 405
    put = urllib.request.Request(server + "/", data=b"{}", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(put, timeout=30)
    assert refused.value.code == 405
    assert refused.value.headers["Allow"] == "GET, POST"


def test_a_root_post_counts_under_the_route_that_answered(server: str) -> None:
    before = metric(server, "simplechat_requests_total", route="/generate", status="200")
    assert post(server, {"prompt": "count me"}).status == 200
    after = metric(server, "simplechat_requests_total", route="/generate", status="200")
    assert after == before + 1


def test_a_root_post_from_another_sites_page_is_refused_as_chat_is(server: str) -> None:
    evil = {"Origin": "https://evil.example"}
    for url in (server + "/chat", server):
        answer = post(url, CHAT_SHAPE, headers=evil)
        assert answer.status == 403
        assert answer.json()["error"]["code"] == "cross_site_request"
    assert post(server, CHAT_SHAPE).status == 200  # the same request without the Origin


def test_a_root_post_over_the_body_limit_is_a_413_as_on_chat(server: str) -> None:
    huge = {"message": "x" * (1 << 17)}
    for url in (server + "/chat", server):
        answer = post(url, huge)
        assert answer.status == 413
        assert "larger than" in answer.json()["error"]["message"]
    assert post(server, {"message": "x" * 1000}).status == 200


# 2. Repeated slashes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("//generate", GENERATE_SHAPE, "generated_text"),
        ("//chat", CHAT_SHAPE, "response"),
        ("/v1//chat/completions", OPENAI_SHAPE, "choices"),
        ("//v1///chat//completions", OPENAI_SHAPE, "choices"),
    ],
)
def test_repeated_slashes_count_as_one(server: str, path: str, body: Any, field: str) -> None:
    answer = post(server + path, body)
    assert answer.status == 200
    assert field in answer.json()


def test_a_base_url_ending_in_a_slash_joined_to_slash_generate_is_answered(server: str) -> None:
    base = server + "/"  # as a student stores it in the Lambda's environment
    answer = post(base + "/generate", GENERATE_SHAPE)
    assert answer.status == 200
    assert answer.json()["generated_text"] == "You said: 日本の首都は？"


def test_the_openai_sdk_with_a_doubled_slash_in_its_base_url_is_answered(server: str) -> None:
    client = OpenAI(base_url=server + "//v1", api_key="unused", max_retries=0)
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content == "You said: hi"


def test_merging_slashes_touches_the_path_only() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "//v1///models",
        "raw_path": b"//v1///models",
        "query_string": b"next=//a//b",
        "headers": [(b"host", b"x")],
    }
    asyncio.run(MergeSlashesMiddleware(app)(scope, None, None))  # type: ignore[arg-type]
    assert seen["path"] == "/v1/models" and seen["raw_path"] == b"/v1/models"
    assert seen["query_string"] == b"next=//a//b"
    assert seen["headers"] == [(b"host", b"x")]
    assert scope["path"] == "//v1///models"  # the server's own scope (its access log) is kept


# 3. The chat shape sent to /generate ----------------------------------------------------


def test_the_chat_shape_sent_to_generate_is_answered_as_chat(server: str) -> None:
    answer = post(server + "/generate", CHAT_SHAPE)
    assert answer.status == 200
    body = answer.json()
    assert body["success"] is True
    assert body["response"] == body["generated_text"] == "You said: その人口は？"
    assert isinstance(body["response_time"], float)
    as_chat = post(server + "/chat", CHAT_SHAPE).json()
    assert body["usage"] == as_chat["usage"]  # the history reached the prompt, as on /chat


def test_the_history_sent_to_generate_reaches_the_prompt(server: str) -> None:
    alone = post(server + "/generate", {"message": "その人口は？"}).json()
    with_history = post(server + "/generate", CHAT_SHAPE).json()
    assert with_history["usage"]["prompt_tokens"] > alone["usage"]["prompt_tokens"]


def test_generate_answers_from_the_prompt_when_there_is_one_else_from_the_message(
    server: str,
) -> None:
    body = post(server + "/generate", {"prompt": "from the prompt", "message": "not this"}).json()
    assert body["generated_text"] == "You said: from the prompt"  # as before
    body = post(server + "/generate", {"message": "from the message"}).json()
    assert body["generated_text"] == "You said: from the message"


def test_a_bad_chat_shape_sent_to_generate_names_the_field(server: str) -> None:
    answer = post(server + "/generate", {"message": "hi", "conversationHistory": "no"})
    assert answer.status == 400
    assert answer.json()["error"]["param"] == "conversationHistory"


# With an API key ------------------------------------------------------------------------


@pytest.mark.parametrize("url_path", ["", "/", "//chat"])
def test_without_the_key_a_root_or_doubled_slash_post_is_a_401_as_chat_is(
    keyed_server: str, url_path: str
) -> None:
    assert post(keyed_server + "/chat", CHAT_SHAPE).status == 401
    answer = post(keyed_server + url_path, CHAT_SHAPE)
    assert answer.status == 401
    assert answer.json()["error"]["code"] == "invalid_api_key"
    assert post(keyed_server + url_path, CHAT_SHAPE, {"X-API-Key": "wrong"}).status == 401
    assert post(keyed_server + url_path, CHAT_SHAPE, {"X-API-Key": KEY}).status == 200


@pytest.mark.parametrize(
    ("body", "route"),
    [(CHAT_SHAPE, "/chat"), (GENERATE_SHAPE, "/generate"), (OPENAI_SHAPE, "/v1/chat/completions")],
)
def test_with_the_key_a_root_post_is_answered(keyed_server: str, body: Any, route: str) -> None:
    answer = post(keyed_server, body, {"Authorization": f"Bearer {KEY}"})
    assert answer.status == 200
    assert answer.headers["X-Simplechat-Route"] == route


def test_the_chat_shape_sent_to_generate_needs_the_key_as_generate_does(keyed_server: str) -> None:
    assert post(keyed_server + "/generate", CHAT_SHAPE).status == 401
    answer = post(keyed_server + "//generate", CHAT_SHAPE, {"X-API-Key": KEY})
    assert answer.status == 200
    assert answer.json()["success"] is True


def test_an_ambiguous_root_body_without_the_key_is_a_401_first(keyed_server: str) -> None:
    ambiguous = {"message": "a", "prompt": "b"}
    assert post(keyed_server, ambiguous).status == 401
    answer = post(keyed_server, ambiguous, {"Authorization": f"Bearer {KEY}"})
    assert answer.status == 400
    assert answer.json()["error"]["code"] == "unknown_body_shape"
