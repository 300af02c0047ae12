"""The bundled GGUF model as a Hugging Face model folder (plain weights), for the engines that
load folders: transformers from a folder, and vLLM (whose GGUF loader needs CUDA)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any


def plain_copy(model: Any) -> Any:
    """The same weights as an ordinary (not GGUF-quantized) model, which can be saved."""
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(model.state_dict())
    return plain


def save_gguf_as_folder(gguf: Path, folder: Path) -> Path:
    """Dequantize `gguf` with transformers' GGUF loader and save it, tokenizer and chat
    template included, as a model folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    plain_copy(model).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
