"""Finding the bundled model and choosing the engine for a --model value."""

from pathlib import Path

from simplechat.model_source import (
    bundled_model_path,
    default_model_name,
    looks_like_hub_id,
    pick_engine,
)


def test_bundled_model_is_the_smollm2_gguf() -> None:
    path = bundled_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.read_bytes()[:4] == b"GGUF"


def test_auto_picks_llamacpp_for_gguf_and_transformers_otherwise() -> None:
    assert pick_engine("/models/x.GGUF", "auto") == "llamacpp"
    assert pick_engine("google/gemma-2-2b-jpn-it", "auto") == "transformers"
    assert pick_engine("/models/folder", "auto") == "transformers"
    assert pick_engine("/models/x.gguf", "transformers") == "transformers"


def test_hub_ids_are_owner_slash_name_that_do_not_exist_locally(tmp_path: Path) -> None:
    assert looks_like_hub_id("google/gemma-2-2b-jpn-it")
    assert not looks_like_hub_id("./models/x")
    assert not looks_like_hub_id("/abs/path")
    assert not looks_like_hub_id("a/b/c")
    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "model").mkdir()
    assert not looks_like_hub_id(str(tmp_path / "org" / "model"))


def test_default_model_names() -> None:
    assert default_model_name("/m/SmolLM2-135M-Instruct.Q4_1.gguf") == "SmolLM2-135M-Instruct.Q4_1"
    assert default_model_name("google/gemma-2-2b-jpn-it") == "google/gemma-2-2b-jpn-it"
