"""The `sagemaker` protocol end to end: the gateway server, boto3 (SigV4, event-stream parsing by
botocore itself) and a fake SageMaker runtime on 127.0.0.1 (tests/gateway/fake_sagemaker.py).

moto 5.2.6 answers InvokeEndpoint from canned results and has no InvokeEndpointWithResponseStream
at all, so the fake speaks the wire format itself. No real AWS: dummy credentials."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import boto3
import pytest
from chat_gateway import sagemaker_stream
from chat_gateway.config import Config
from chat_gateway.handler import Gateway
from chat_gateway.sagemaker_upstream import CANNOT_STOP, SageMakerUpstream, runtime_client
from chat_gateway.server import GatewayServer, start_in_thread

from tests.gateway.fake_sagemaker import ANSWER, FakeSageMaker
from tests.support.gateway_http import ORIGIN, post

MODEL = "Qwen/Qwen2.5-1.5B-Instruct"


@pytest.fixture(autouse=True)
def dummy_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    # boto3's default session keeps the credentials it first found (another test's): a fresh one
    # reads these, as a Lambda's first invocation does.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


@pytest.fixture
def fake() -> Iterator[FakeSageMaker]:
    server = FakeSageMaker()
    yield server
    server.stop()


def gateway_for(fake: FakeSageMaker, endpoint: str, budget: float = 20) -> GatewayServer:
    config = Config.from_env(
        {
            "UPSTREAM_PROTOCOL": "sagemaker",
            "SAGEMAKER_ENDPOINT_NAME": endpoint,
            "UPSTREAM_MODEL": MODEL,
            "ALLOWED_ORIGINS": ORIGIN,
            "TIME_BUDGET_SECONDS": str(budget),
        }
    )
    assert config.problems == ()
    client = runtime_client(config, endpoint_url=fake.url)
    return start_in_thread(Gateway(config, sagemaker=SageMakerUpstream(config, client=client)))


def test_the_answer_streams_from_payload_parts_as_our_events(fake: FakeSageMaker) -> None:
    server = gateway_for(fake, "simplechat-model")
    conn, reply = post(server, "/chat", {"message": "hi"}, sub="alice")
    list(reply.next_events())
    conn.close()
    server.shutdown()
    events = reply.data()
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/event-stream")
    assert events[0] == {"id": "chatcmpl-sm"}
    deltas = [e["delta"] for e in events[1:-1]]
    assert len(deltas) >= 3  # pieces, not one block
    assert "".join(deltas) == "".join(ANSWER)
    done = events[-1]
    assert done["success"] is True and done["response"] == "".join(ANSWER)
    assert done["usage"] == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
    [sent] = fake.requests
    assert sent["endpoint"] == "simplechat-model"
    assert sent["operation"] == "invocations-response-stream"
    assert sent["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIATEST")
    assert "/ap-northeast-1/sagemaker/aws4_request" in sent["headers"]["Authorization"]
    body = sent["body"]
    assert body["messages"][-1] == {"role": "user", "content": "hi"}
    assert body["stream"] is True and body["model"] == MODEL and body["user"] == "alice"


def test_the_json_path_uses_invoke_endpoint(fake: FakeSageMaker) -> None:
    server = gateway_for(fake, "simplechat-model")
    conn, reply = post(server, "/chat", {"message": "hi"}, stream=False)
    body = json.loads(reply.response.read())
    conn.close()
    server.shutdown()
    assert reply.status == 200
    assert body["success"] is True and body["response"] == "".join(ANSWER)
    assert fake.requests[0]["operation"] == "invocations"
    assert fake.requests[0]["body"]["stream"] is False


@pytest.mark.parametrize("stream", [True, False])
def test_throttling_is_a_429_to_try_again(fake: FakeSageMaker, stream: bool) -> None:
    server = gateway_for(fake, "throttled")
    conn, reply = post(server, "/chat", {"message": "hi"}, stream=stream)
    body = json.loads(reply.response.read())
    conn.close()
    server.shutdown()
    assert reply.status == 429
    assert body["success"] is False and "busy" in body["error"] and "Try again" in body["error"]
    assert reply.headers["retry-after"] == "5"
    assert len(fake.requests) == 1  # boto3 does not retry an invocation by itself


@pytest.mark.parametrize(
    ("endpoint", "status", "words"),
    [
        ("missing", 503, "does not exist"),
        ("rejects", 400, "max_tokens is too large"),
    ],
)
def test_refusals_before_the_answer_are_plain_json(
    fake: FakeSageMaker, endpoint: str, status: int, words: str
) -> None:
    server = gateway_for(fake, endpoint)
    conn, reply = post(server, "/chat", {"message": "hi"})
    body = json.loads(reply.response.read())
    conn.close()
    server.shutdown()
    assert reply.status == status
    assert words in body["error"]
    assert "123456789012" not in body["error"]  # SageMaker's text names the account


def test_a_model_error_mid_stream_ends_with_an_error_after_the_partial_text(
    fake: FakeSageMaker,
) -> None:
    server = gateway_for(fake, "breaks")
    conn, reply = post(server, "/chat", {"message": "hi"})
    list(reply.next_events())
    conn.close()
    server.shutdown()
    events = reply.data()
    assert events[1] == {"delta": "Half"}
    done = events[-1]
    assert done["done"] is True and done["success"] is False and done["status"] == 502
    assert "broke mid-answer" in done["error"]
    assert "/aws/sagemaker/Endpoints/breaks" in done["error"]


def test_a_slow_first_chunk_ends_at_the_time_budget_and_drops_the_call(
    fake: FakeSageMaker,
) -> None:
    server = gateway_for(fake, "slow-first", budget=1.5)
    started = time.monotonic()
    conn, reply = post(server, "/chat", {"message": "hi"})
    list(reply.next_events())
    took = time.monotonic() - started
    conn.close()
    server.shutdown()
    done = reply.data()[-1]
    assert done["success"] is False and done["status"] == 504
    assert "cut off" in done["error"]
    assert took < 8  # the budget, not the fake's 10 s hold, ended it
    assert fake.client_closed.wait(5)  # and the call to SageMaker was closed


def test_an_endpoint_that_never_accepts_is_a_504_before_the_stream(fake: FakeSageMaker) -> None:
    server = gateway_for(fake, "slow-headers", budget=1.5)
    conn, reply = post(server, "/chat", {"message": "hi"})
    body = json.loads(reply.response.read())
    conn.close()
    server.shutdown()
    assert reply.status == 504 and "did not start answering" in body["error"]


def test_a_browser_that_leaves_closes_the_call_to_sagemaker(
    fake: FakeSageMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the gateway can do for Stop: drop its HTTPS connection to SageMaker at once (the
    gateway notices a gone browser when a keep-alive cannot be written). Keep-alives flow while
    the model is quiet."""
    monkeypatch.setattr(sagemaker_stream, "QUIET_SECONDS", 0.05)
    server = gateway_for(fake, "endless")
    conn, reply = post(server, "/chat", {"message": "hi"})
    events = reply.next_events()
    assert next(events) == {"id": "chatcmpl-sm"}
    assert next(events) == {"delta": "Hello"}
    assert next(events) == ": keep-alive"  # the model is quiet: the browser hears we are here
    assert not fake.client_closed.is_set()
    conn.sock.shutdown(2)
    conn.close()
    assert fake.client_closed.wait(5)
    server.shutdown()


def test_stop_says_the_endpoint_cannot_be_asked_to_stop(fake: FakeSageMaker) -> None:
    server = gateway_for(fake, "simplechat-model")
    conn, reply = post(server, "/chat/cancel", {"id": "chatcmpl-sm"}, stream=False)
    body = json.loads(reply.response.read())
    conn.close()
    server.shutdown()
    assert reply.status == 200
    assert body == {
        "success": True,
        "id": "chatcmpl-sm",
        "cancelled": False,
        "message": CANNOT_STOP,
    }
    assert fake.requests == []


def test_the_protocol_needs_an_endpoint_name() -> None:
    config = Config.from_env({"UPSTREAM_PROTOCOL": "sagemaker"})
    assert config.problems == ("UPSTREAM_PROTOCOL sagemaker needs SAGEMAKER_ENDPOINT_NAME",)
