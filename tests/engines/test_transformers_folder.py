"""The transformers engine on a Hugging Face model folder, with and without a chat template."""

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from simplechat.engines.base import Engine, Message
from simplechat.engines.transformers import TransformersEngine
from simplechat.service import ChatService, SamplingOptions
from simplechat.settings import Settings
from tests.model_folders import plain_copy

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def model_folders(
    transformers_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Path]]:
    """The bundled model saved as an HF folder, and a copy whose tokenizer has no template."""
    assert isinstance(transformers_engine, TransformersEngine)
    with_template = tmp_path_factory.mktemp("hf-model")
    plain_copy(transformers_engine._model).save_pretrained(with_template)
    transformers_engine._tokenizer.save_pretrained(with_template)
    without_template = tmp_path_factory.mktemp("hf-model-no-template")
    for item in with_template.iterdir():
        if item.name.startswith("tokenizer") or item.name == "chat_template.jinja":
            continue
        (without_template / item.name).symlink_to(item)
    tokenizer = transformers_engine._tokenizer
    saved_template = tokenizer.chat_template
    tokenizer.chat_template = None
    try:
        tokenizer.save_pretrained(without_template)
    finally:
        tokenizer.chat_template = saved_template
    (without_template / "chat_template.jinja").unlink(missing_ok=True)
    yield with_template, without_template
    shutil.rmtree(with_template)
    shutil.rmtree(without_template)


def answer(engine: Engine, text: str) -> str:
    service = ChatService(engine, default_max_tokens=24)
    request = service.chat_request(
        [Message("user", text)], SamplingOptions(temperature=0, max_tokens=24)
    )
    return asyncio.run(engine.complete(request)).text


def test_a_model_folder_loads_through_auto_with_its_template(
    model_folders: tuple[Path, Path],
) -> None:
    folder, _ = model_folders
    settings = Settings(model=str(folder))
    assert settings.resolved_engine == "transformers"
    engine = TransformersEngine(settings.model, model_name="folder")
    assert "<|im_start|>assistant" in engine.render_chat([Message("user", "hi")]).text
    assert "Tokyo" in answer(engine, "What is the capital city of Japan?")


def test_a_model_without_template_gets_the_plain_prompt(model_folders: tuple[Path, Path]) -> None:
    _, folder = model_folders
    engine = TransformersEngine(str(folder), model_name="plain")
    prompt = engine.render_chat([Message("user", "hi")])
    assert prompt.text == "User: hi\nAssistant:"
    assert answer(engine, "Hello, who are you?").strip()
