"""Web pages on other sites cannot make the model work; programs without `Origin` are unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient

from simplechat.api.app import create_app
from simplechat.engines.base import Chunk, GenerationRequest, Message, Prompt
from simplechat.engines.fake import FakeEngine
from tests.support.settings import make_settings

EVIL = "https://evil.example"
APP = "https://app.example"
KEY = "sk-test-0123456789"
COURSE_BODY = '{"message": "hi"}'


class CountingEngine(FakeEngine):
    """The fake engine, recording every call that would be model work."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: list[str] = []

    @property
    def asked(self) -> int:
        """How many answers were started (render and tokenize calls count for nothing alone)."""
        return self.calls.count("stream")

    def render_chat(self, messages: Sequence[Message]) -> Prompt:
        self.calls.append("render_chat")
        return super().render_chat(messages)

    def tokenize(self, prompt: Prompt) -> list[int]:
        self.calls.append("tokenize")
        return super().tokenize(prompt)

    def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        self.calls.append("stream")
        return super().stream(request)


@pytest.fixture
def engine() -> CountingEngine:
    return CountingEngine()


def client_for(engine: FakeEngine, **settings: Any) -> TestClient:
    return TestClient(create_app(make_settings(**settings), engine))


@pytest.fixture
def keyless(engine: CountingEngine) -> Iterator[TestClient]:
    """The defaults: no key, no --cors-origin."""
    with client_for(engine) as client:
        yield client


def assert_refused(reply: Any, status: int, code: str) -> None:
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    assert error["message"].endswith(".")


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/chat", "text/plain;charset=UTF-8", COURSE_BODY),
        ("/generate", "text/plain", '{"prompt": "hi"}'),
        ("/chat", "application/x-www-form-urlencoded", COURSE_BODY),  # an HTML form
        ("/v1/completions", "multipart/form-data; boundary=x", '{"prompt": "hi"}'),
        ("/chat", "application/json", COURSE_BODY),  # a fetch() the preflight would block
    ],
)
def test_a_cross_site_write_to_a_keyless_server_is_refused_before_the_model(
    keyless: TestClient, engine: CountingEngine, path: str, content_type: str, body: str
) -> None:
    reply = keyless.post(
        path,
        content=body,
        headers={"Origin": EVIL, "Content-Type": content_type, "Sec-Fetch-Site": "cross-site"},
    )
    assert_refused(reply, 403, "cross_site_request")
    message = reply.json()["error"]["message"]
    assert EVIL in message and "--cors-origin" in message
    assert engine.calls == []


def test_sec_fetch_site_cross_site_without_origin_is_refused(
    keyless: TestClient, engine: CountingEngine
) -> None:
    reply = keyless.post("/chat", content=COURSE_BODY, headers={"Sec-Fetch-Site": "cross-site"})
    assert_refused(reply, 403, "cross_site_request")
    assert engine.calls == []


def test_origin_null_is_another_site(keyless: TestClient, engine: CountingEngine) -> None:
    """Sandboxed iframes and file:// pages send `Origin: null`."""
    reply = keyless.post("/chat", json={"message": "hi"}, headers={"Origin": "null"})
    assert_refused(reply, 403, "cross_site_request")
    assert engine.calls == []


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json"],
)
def test_programs_without_origin_are_answered_as_before(
    keyless: TestClient, engine: CountingEngine, content_type: str | None
) -> None:
    """curl -d, urllib's data= and requests label JSON as they like; still answered."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    reply = keyless.post("/chat", content=COURSE_BODY, headers=headers)
    assert reply.status_code == 200, reply.text
    assert reply.json()["response"] == "You said: hi"
    assert engine.asked == 1


def test_reads_from_other_sites_are_not_refused_but_not_shared(keyless: TestClient) -> None:
    reply = keyless.get("/v1/models", headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
    assert reply.status_code == 200
    assert "access-control-allow-origin" not in reply.headers  # the page cannot read it


def test_by_default_no_other_origin_passes_the_preflight(keyless: TestClient) -> None:
    reply = keyless.options(
        "/chat",
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert reply.status_code >= 400
    assert "access-control-allow-origin" not in reply.headers


def test_an_allowed_origin_is_answered_and_can_read_the_answer(engine: CountingEngine) -> None:
    with client_for(engine, cors_origins=[APP]) as client:
        preflight = client.options(
            "/chat",
            headers={
                "Origin": APP,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == APP
        reply = client.post(
            "/chat", json={"message": "hi"}, headers={"Origin": APP, "Sec-Fetch-Site": "cross-site"}
        )
        assert reply.status_code == 200
        assert reply.headers["access-control-allow-origin"] == APP
        assert reply.json()["response"] == "You said: hi"
        other = client.post("/chat", json={"message": "hi"}, headers={"Origin": EVIL})
        assert_refused(other, 403, "cross_site_request")
    assert engine.asked == 1


@pytest.mark.parametrize("origins", [[APP], ["*"]])
def test_a_browser_write_must_be_json_even_from_an_allowed_origin(
    engine: CountingEngine, origins: list[str]
) -> None:
    """A page that may call us sends JSON (and a preflight); a simple request is not that."""
    with client_for(engine, cors_origins=origins) as client:
        reply = client.post(
            "/chat", content=COURSE_BODY, headers={"Origin": APP, "Content-Type": "text/plain"}
        )
        assert_refused(reply, 415, "unsupported_media_type")
        assert "Content-Type: application/json" in reply.json()["error"]["message"]
        assert reply.headers["access-control-allow-origin"] in (APP, "*")  # the page can read why
    assert engine.calls == []


def test_star_allows_every_site_to_send_json(engine: CountingEngine) -> None:
    with client_for(engine, cors_origins=["*"]) as client:
        reply = client.post("/chat", json={"message": "hi"}, headers={"Origin": EVIL})
    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == "*"


def test_the_servers_own_docs_page_can_try_the_api(keyless: TestClient) -> None:
    """/docs posts from the server's own origin: same origin, on an address nobody can rebind."""
    reply = keyless.post(
        "/chat",
        json={"message": "hi"},
        headers={"Origin": "http://127.0.0.1:8000", "Host": "127.0.0.1:8000"},
    )
    assert reply.status_code == 200


def test_a_rebound_dns_name_is_not_the_same_origin(
    keyless: TestClient, engine: CountingEngine
) -> None:
    """DNS rebinding: the attacker's name now points at 127.0.0.1, so Origin matches Host."""
    reply = keyless.post(
        "/chat",
        json={"message": "hi"},
        headers={"Origin": "http://rebind.evil.example:8000", "Host": "rebind.evil.example:8000"},
    )
    assert_refused(reply, 403, "cross_site_request")
    assert engine.calls == []


def test_with_a_key_other_sites_are_refused_before_the_key_check(engine: CountingEngine) -> None:
    with client_for(engine, api_key=[KEY]) as client:
        refused = client.post(
            "/chat",
            json={"message": "hi"},
            headers={"Origin": EVIL, "Authorization": f"Bearer {KEY}"},
        )
        assert_refused(refused, 403, "cross_site_request")
        assert KEY not in refused.text
        program = client.post(
            "/chat", content=COURSE_BODY, headers={"Authorization": f"Bearer {KEY}"}
        )
        assert program.status_code == 200
    assert engine.asked == 1
