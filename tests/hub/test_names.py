"""Short names and hub specs: which engine, which repository, which system prompt."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from simplechat.api.app import create_app
from simplechat.engines.fake import FakeEngine
from simplechat.hub_download import fetch
from simplechat.hub_gguf import parse_hub_spec
from simplechat.model_catalogue import (
    CATALOGUE,
    COLAB_T4,
    LAPTOP_CPU,
    CatalogueEntry,
    lookup,
    table,
)
from simplechat.model_startup import catalogue_prompt, hub_spec
from simplechat.settings import Settings
from tests.hub.fake_hub import FakeHub
from tests.support.settings import make_settings


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.name)
def test_every_catalogue_name_resolves_to_a_gguf_repository_on_llama_cpp(
    entry: CatalogueEntry,
) -> None:
    settings = make_settings(engine="auto", model=entry.name)

    assert settings.resolved_engine == "llamacpp"
    assert hub_spec(settings) == parse_hub_spec(entry.spec)
    assert lookup(entry.name.upper()) is entry
    assert entry.name in table()


def test_the_recommendations_are_in_the_catalogue() -> None:
    assert lookup(LAPTOP_CPU) is not None and lookup(COLAB_T4) is not None


def test_a_short_name_downloads_its_repository_file(
    hub: FakeHub, cache_dir: Path, blob: Callable[..., Path]
) -> None:
    files = ("tinyswallow-1.5b-instruct-q5_k_m.gguf", "tinyswallow-1.5b-instruct-q8_0.gguf")
    hub.add("SakanaAI/TinySwallow-1.5B-Instruct-GGUF", {name: blob(name, 4000) for name in files})
    spec = hub_spec(make_settings(engine="auto", model="tinyswallow-1.5b"))
    assert spec is not None

    path = fetch(spec, endpoint=hub.endpoint, cache_dir=cache_dir)

    assert path.name == "tinyswallow-1.5b-instruct-q5_k_m.gguf"


@pytest.mark.parametrize(
    ("model", "engine"),
    [
        ("Qwen/Qwen2.5-1.5B-Instruct-GGUF", "llamacpp"),
        ("someone/any-model:Q4_K_M", "llamacpp"),
        ("google/gemma-2-2b-jpn-it", "transformers"),  # not GGUF: as before
    ],
)
def test_hub_ids_pick_their_engine(model: str, engine: str) -> None:
    assert make_settings(engine="auto", model=model).resolved_engine == engine


def test_a_gguf_repository_refuses_the_transformers_engine() -> None:
    with pytest.raises(ValueError, match="is a GGUF model: it runs on the llamacpp engine"):
        Settings(engine="transformers", model="tinyswallow-1.5b")


def test_the_catalogue_prompt_follows_the_repository_too() -> None:
    spec = parse_hub_spec("Qwen/Qwen2.5-1.5B-Instruct-GGUF:Q8_0")
    assert spec is not None
    assert "日本語" in catalogue_prompt("Qwen/Qwen2.5-1.5B-Instruct-GGUF:Q8_0", spec)
    gemma = parse_hub_spec("bartowski/gemma-2-2b-jpn-it-GGUF")
    assert gemma is not None
    assert catalogue_prompt("gemma-2-2b-jpn", gemma) == ""  # Gemma has no system role


def test_the_system_prompt_goes_first_unless_the_conversation_brings_its_own() -> None:
    from simplechat.engines.base import Message
    from simplechat.service import ChatService, SamplingOptions

    service = ChatService(FakeEngine(), default_max_tokens=8, system_prompt="Answer in Japanese.")
    plain = service.chat_request([Message("user", "hi")], SamplingOptions())
    own = service.chat_request(
        [Message("system", "Operator's rules."), Message("user", "hi")], SamplingOptions()
    )

    assert plain.prompt.text.startswith("Answer in Japanese.")
    assert "Answer in Japanese." not in own.prompt.text
    assert "Operator's rules." in own.prompt.text


def test_the_operators_system_prompt_reaches_the_api() -> None:
    app = create_app(make_settings(system_prompt="Be brief."), FakeEngine())
    assert app.state.service.system_prompt == "Be brief."
