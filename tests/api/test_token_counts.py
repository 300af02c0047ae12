"""POST /chat/count, and the context and timings every answer carries (fake engine: the wire)."""

import json

from fastapi.testclient import TestClient

from simplechat.api.app import create_app
from simplechat.engines.fake import FakeEngine
from tests.conftest import make_settings
from tests.support.metrics import scrape

HISTORY = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "one two three"},
    {"role": "assistant", "content": "four five"},
    {"role": "user", "content": "six seven eight nine"},
    {"role": "assistant", "content": "ten"},
]


def test_the_count_is_the_prompt_the_answer_reads(client: TestClient) -> None:
    body = {"message": "hello there", "conversationHistory": HISTORY}
    counted = client.post("/chat/count", json=body).json()
    answered = client.post("/chat", json=body).json()
    assert counted["prompt_tokens"] == answered["usage"]["prompt_tokens"]
    assert counted["context_length"] == answered["context_length"] == 2048
    assert counted["model"] == "fake-model"
    # Newest first, one per turn boundary; the system message is in every one.
    starts = [f["start"] for f in counted["fittings"]]
    assert starts == [5, 3, 1]
    system_only = {"message": "hello there", "conversationHistory": HISTORY[:1]}
    alone = client.post("/chat/count", json=system_only).json()
    assert counted["fittings"][0]["prompt_tokens"] == alone["prompt_tokens"]
    assert counted["fittings"][-1]["prompt_tokens"] == counted["prompt_tokens"]


def test_the_fittings_stop_at_the_first_that_leaves_no_room_for_the_answer() -> None:
    with TestClient(create_app(make_settings(), FakeEngine(context_length=40))) as client:
        long_turns = [
            {"role": "user", "content": "word " * 10},
            {"role": "assistant", "content": "ok"},
        ]
        body = {"message": "hi", "conversationHistory": long_turns * 4, "max_tokens": 10}
        counted = client.post("/chat/count", json=body).json()
    sizes = [f["prompt_tokens"] for f in counted["fittings"]]
    assert counted["max_tokens"] == 10
    assert all(n <= 30 for n in sizes[:-1]) and sizes[-1] > 30
    assert counted["prompt_tokens"] > sizes[-1]  # the whole: longer than any fitting counted


def test_a_server_that_forwards_says_it_cannot_count() -> None:
    engine = FakeEngine()
    engine.counts_tokens = False
    with TestClient(create_app(make_settings(), engine)) as client:
        reply = client.post("/chat/count", json={"message": "hi"})
    assert reply.status_code == 501
    assert "cannot count tokens" in reply.json()["error"]["message"]


def test_the_count_needs_the_key_and_checks_its_body() -> None:
    settings = make_settings(api_key=["count-key-123456"])
    with TestClient(create_app(settings, FakeEngine())) as client:
        assert client.post("/chat/count", json={"message": "hi"}).status_code == 401
        headers = {"Authorization": "Bearer count-key-123456"}
        bad = client.post("/chat/count", json={"message": ""}, headers=headers)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "message"


def test_every_answer_carries_its_timings(client: TestClient) -> None:
    answer = client.post("/chat", json={"message": "one two three four"}).json()
    timings = answer["timings"]
    assert timings["time_to_first_token"] >= 0 and timings["tokens_per_second"] > 0
    with client.stream("POST", "/chat", json={"message": "one two", "stream": True}) as reply:
        events = [json.loads(line[5:]) for line in reply.iter_lines() if line.startswith("data:")]
    done = events[-1]
    assert done["context_length"] == 2048 and done["timings"]["tokens_per_second"] > 0
    openai = client.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": "a b c"}]}
    ).json()
    assert openai["timings"]["time_to_first_token"] >= 0
    models = client.get("/v1/models").json()
    assert models["data"][0]["max_model_len"] == 2048
    samples = scrape(client)
    assert samples[("simplechat_answer_tokens_per_second_count", ())] == 3
