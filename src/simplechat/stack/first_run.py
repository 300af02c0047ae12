"""What the local stack tells a newcomer: the model it runs, what that model is good for, and
how to switch, once in the terminal when it is ready, and to the UI through config.js."""

from __future__ import annotations

from dataclasses import dataclass

from simplechat.model_catalogue import recommended
from simplechat.model_source import bundled_model_path

#: Where the README says how to run another model (the UI's guide page renders the README).
GUIDE = {"en": "guide.html?lang=en#run-another-model", "ja": "guide.html?lang=ja#別のモデルを使う"}


@dataclass(frozen=True)
class ModelInfo:
    """The model behind the stack, as the page and the terminal describe it."""

    name: str
    demo: bool  # the bundled SmolLM2-135M: tiny, English-only, for trying the app

    def as_config(self) -> dict[str, object]:
        return {"name": self.name, "demo": self.demo, "guide": GUIDE, "suggest": suggestion()}


def suggestion() -> dict[str, str]:
    """The one command that swaps the demo for a small model that answers in Japanese."""
    entry = recommended()
    return {"command": f"make run MODEL={entry.name}", "download": f"{entry.download_gb:.1f} GB"}


def describe_model(model: str, model_name: str, upstream: str) -> ModelInfo:
    """`model` is the resolved setting (a path for the bundled model); `upstream` a URL or ''."""
    if upstream:  # its URL may carry a token, and config.js is served to anyone: not named
        return ModelInfo(name="the model server given with --upstream", demo=False)
    try:
        demo = model == str(bundled_model_path())
    except ValueError:  # the bundled package is not installed: whatever runs is not the demo
        demo = False
    return ModelInfo(name=model_name, demo=demo)


def summary(url: str, info: ModelInfo) -> str:
    """The lines printed once the stack answers: where, what, how to switch."""
    if info.demo:
        what = (
            f"{info.name}, the bundled demo model: tiny and English-only, for trying the app "
            "(its answers are not meant to be good; Japanese questions get English answers)"
        )
    else:
        what = info.name
    suggest = suggestion()
    japanese = (
        [
            f"  Japanese: {suggest['command']} (日本語で答えるモデル; one {suggest['download']} "
            "download, then offline; the list: simplechat models)"
        ]
        if info.demo
        else []
    )
    return "\n".join(
        [
            "",
            f"  simplechat is ready: open {url}",
            f"  model:  {what}",
            *japanese,
            '  switch: make run MODEL=NAME, or ARGS="--model owner/name-GGUF[:Q4_K_M] | PATH.gguf '
            '| HF-FOLDER | HUB-ID", or --upstream URL (Colab, a GPU box); README: "Run another '
            'model"',
            "  stop:   Ctrl-C",
            "",
        ]
    )
