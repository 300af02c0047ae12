"""The first run points at a model that answers in Japanese: one command and its download."""

from __future__ import annotations

from simplechat.model_catalogue import LAPTOP_CPU, lookup
from simplechat.model_source import bundled_model_path
from simplechat.stack.first_run import describe_model, summary


def test_the_ready_summary_gives_the_command_and_its_download_size() -> None:
    demo = describe_model(str(bundled_model_path()), "SmolLM2-135M-Instruct", "")
    entry = lookup(LAPTOP_CPU)
    assert entry is not None

    text = summary("http://127.0.0.1:8000", demo)

    hint = f"Japanese: make run MODEL={LAPTOP_CPU} (日本語で答えるモデル; one 1.1 GB download"
    assert hint in text
    assert demo.as_config()["suggest"] == {
        "command": f"make run MODEL={LAPTOP_CPU}",
        "download": f"{entry.download_gb:.1f} GB",
    }


def test_another_model_gets_no_japanese_hint() -> None:
    other = describe_model("/models/x.gguf", "x", "")
    assert "Japanese:" not in summary("http://127.0.0.1:8000", other)
