"""GET /, /health, /docs, and an OpenAPI schema that matches what the server does."""

from fastapi.testclient import TestClient

from simplechat.api.app import create_app
from simplechat.engines.fake import FakeEngine
from tests.support.settings import make_settings


def test_health_reports_model_and_engine(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "model": "fake-model", "engine": "fake"}


def test_index_describes_the_api(client: TestClient) -> None:
    body = client.get("/").json()
    assert body["model"] == "fake-model"
    assert "POST /chat" in body["endpoints"]
    assert body["docs"] == "/docs"


def test_interactive_docs_are_served(client: TestClient) -> None:
    reply = client.get("/docs")
    assert reply.status_code == 200
    assert "swagger" in reply.text.lower()


def test_openapi_documents_400_envelopes_not_422(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    chat = schema["paths"]["/chat"]["post"]
    assert "422" not in chat["responses"]
    assert chat["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse"
    )
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert "401" not in chat["responses"]  # no keys configured: no 401 can happen
    assert "securitySchemes" not in schema["components"]


def test_openapi_documents_keys_when_they_are_required() -> None:
    settings = make_settings(api_key=["sk-test-0123456789"])
    client = TestClient(create_app(settings, FakeEngine()))
    schema = client.get("/openapi.json", headers={"X-API-Key": "sk-test-0123456789"}).json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert schema["paths"]["/chat"]["post"]["security"]
    assert "security" not in schema["paths"]["/health"]["get"]
