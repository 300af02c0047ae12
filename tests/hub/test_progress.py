"""While the model downloads or loads: /health is 503 with progress; the stack shows a page."""

from __future__ import annotations

from fastapi.testclient import TestClient

from simplechat.model_progress import Progress
from simplechat.model_startup import ProgressApp


def test_health_is_503_with_progress_while_downloading() -> None:
    progress = Progress("owner/m-GGUF:Q4_K_M")
    progress.downloading(1_100_000_000)
    progress.add(330_000_000)
    client = TestClient(ProgressApp(progress, page=False))

    health = client.get("/health")
    chat = client.post("/v1/chat/completions", json={})

    assert health.status_code == 503 and health.headers["Retry-After"] == "2"
    body = health.json()
    assert (body["status"], body["model"], body["percent"]) == (
        "downloading",
        "owner/m-GGUF:Q4_K_M",
        30.0,
    )
    assert body["downloaded_bytes"] == 330_000_000 and body["total_bytes"] == 1_100_000_000
    assert chat.status_code == 503
    assert chat.json()["error"]["code"] == "model_not_ready"
    assert "330.0 MB of 1.1 GB (30%)" in chat.json()["error"]["message"]


def test_the_stack_page_shows_progress_and_reloads() -> None:
    progress = Progress("tinyswallow-1.5b")
    progress.downloading(1000)
    progress.add(250)
    client = TestClient(ProgressApp(progress, page=True))

    page = client.get("/")
    health = client.get("/llm/health")
    progress.loading()
    loading = client.get("/health")

    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert '<meta http-equiv="refresh" content="2">' in page.text
    assert '<progress max="100" value="25.0">' in page.text
    assert "モデルを準備しています" in page.text and "Preparing the model" in page.text
    assert health.json()["status"] == "downloading"
    assert loading.json() == {"status": "loading", "model": "tinyswallow-1.5b"}
