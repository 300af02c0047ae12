"""Prometheus /metrics: what was served, how fast, what was refused or cut short."""

from fastapi.testclient import TestClient

from simplechat.api.app import create_app
from simplechat.engines.fake import FakeEngine
from tests.support.metrics import scrape
from tests.support.settings import make_settings


def test_requests_tokens_and_first_token_time_are_counted(client: TestClient) -> None:
    client.post("/chat", json={"message": "one two three"})
    client.post("/chat", json={"message": ""})  # a 400
    client.get("/no/such/path/123")
    samples = scrape(client)
    assert samples[("simplechat_requests_total", (("route", "/chat"), ("status", "200")))] == 1
    assert samples[("simplechat_requests_total", (("route", "/chat"), ("status", "400")))] == 1
    assert samples[("simplechat_requests_total", (("route", "unmatched"), ("status", "404")))] == 1
    assert samples[("simplechat_generated_tokens_total", ())] == 5  # "You said: one two three"
    assert samples[("simplechat_time_to_first_token_seconds_count", ())] == 1
    assert samples[("simplechat_request_duration_seconds_count", (("route", "/chat"),))] == 2
    assert samples[("simplechat_requests_in_flight", ())] == 0


def test_rejections_and_cut_short_generations_are_counted() -> None:
    # Two servers, so that no answer's fate hangs on how fast a busy machine runs: one only
    # rejects, the other only cuts an answer at its time limit.
    engine = FakeEngine(token_delay=0.05)
    client = TestClient(create_app(make_settings(max_batch=1, max_queue=0), engine))
    body = {"messages": [{"role": "user", "content": "a b c"}], "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as held:
        assert client.post("/chat", json={"message": "hi"}).status_code == 429
        "".join(held.iter_text())
    samples = scrape(client)
    assert samples[("simplechat_rejected_requests_total", (("reason", "overloaded"),))] == 1
    assert samples[("simplechat_cancelled_requests_total", ())] == 0  # the held one finished

    limited = TestClient(
        create_app(make_settings(request_time_limit=0.3), FakeEngine(token_delay=1))
    )
    reply = limited.post("/chat", json={"message": " ".join(["w"] * 100)})  # 100 s of words
    assert reply.json()["finish_reason"] == "length"  # ended by the time limit
    samples = scrape(limited)
    assert samples[("simplechat_cancelled_requests_total", ())] == 1


def test_metrics_need_the_key_when_keys_are_set() -> None:
    client = TestClient(create_app(make_settings(api_key=["metrics-key-123"]), FakeEngine()))
    assert client.get("/metrics").status_code == 401
    assert scrape(client, authorization="Bearer metrics-key-123")


def test_metrics_can_be_opened_for_a_scraper_while_the_api_keeps_its_key() -> None:
    settings = make_settings(api_key=["metrics-key-123"], open_paths=["/metrics"])
    client = TestClient(create_app(settings, FakeEngine()))
    assert scrape(client)
    assert client.post("/chat", json={"message": "hi"}).status_code == 401
    assert client.get("/docs").status_code == 401
