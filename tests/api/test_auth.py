"""API keys: required on every route but /health when set; clear 401s; CORS still answered."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from simplechat.api.app import create_app
from simplechat.engines.fake import FakeEngine
from tests.support.settings import make_settings

KEY = "sk-test-0123456789"


@pytest.fixture
def keyed() -> Iterator[TestClient]:
    settings = make_settings(
        api_key=[KEY, "second-key-abcdef"], cors_origins=["https://app.example"]
    )
    with TestClient(create_app(settings, FakeEngine())) as client:
        yield client


def test_without_keys_everything_is_open(client: TestClient) -> None:
    assert client.post("/chat", json={"message": "hi"}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/chat"),
        ("POST", "/generate"),
        ("GET", "/v1/models"),
        ("GET", "/"),
        ("GET", "/docs"),
        ("GET", "/openapi.json"),
        ("GET", "/no-such-route"),
    ],
)
def test_missing_key_is_a_401_everywhere_but_health(
    keyed: TestClient, method: str, path: str
) -> None:
    reply = keyed.request(method, path, json={"message": "hi"})
    assert reply.status_code == 401
    error = reply.json()["error"]
    assert error["type"] == "authentication_error"
    assert "Authorization: Bearer" in error["message"]
    assert reply.headers["www-authenticate"] == "Bearer"


def test_health_needs_no_key(keyed: TestClient) -> None:
    assert keyed.get("/health").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {KEY}"},
        {"authorization": f"bearer {KEY}"},
        {"X-API-Key": KEY},
        {"Authorization": "Bearer second-key-abcdef"},
    ],
)
def test_good_key_is_accepted(keyed: TestClient, headers: dict[str, str]) -> None:
    assert keyed.post("/chat", json={"message": "hi"}, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "value",
    [f"Bearer {KEY}x", "Bearer ", KEY, f"Basic {KEY}", "Bearer " + "k" * 8000, "Bearer ключ-日本"],
)
def test_wrong_or_malformed_key_is_a_401_that_never_echoes_it(
    keyed: TestClient, value: str
) -> None:
    reply = keyed.post("/chat", json={"message": "hi"}, headers={b"authorization": value.encode()})
    assert reply.status_code == 401
    assert KEY not in reply.text
    assert "k" * 100 not in reply.text


def test_cors_preflight_is_answered_without_a_key(keyed: TestClient) -> None:
    reply = keyed.options(
        "/chat",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == "https://app.example"


def test_401_carries_cors_headers_so_the_browser_can_read_it(keyed: TestClient) -> None:
    reply = keyed.post("/chat", json={"message": "hi"}, headers={"Origin": "https://app.example"})
    assert reply.status_code == 401
    assert reply.headers["access-control-allow-origin"] == "https://app.example"


def test_other_origins_are_not_allowed(keyed: TestClient) -> None:
    reply = keyed.options(
        "/chat",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in reply.headers


def test_by_default_no_other_site_may_call_the_api(client: TestClient) -> None:
    """Issue 35: `*` let any page the user opened use a key-less model; now --cors-origin says
    which sites may (tests/api/test_cross_site.py has the details)."""
    reply = client.post("/chat", json={"message": "hi"}, headers={"Origin": "https://x.example"})
    assert reply.status_code == 403
    assert "access-control-allow-origin" not in reply.headers


def test_star_allows_any_origin_without_credentials() -> None:
    with TestClient(create_app(make_settings(cors_origins=["*"]), FakeEngine())) as client:
        reply = client.post(
            "/chat", json={"message": "hi"}, headers={"Origin": "https://x.example"}
        )
    assert reply.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in reply.headers
