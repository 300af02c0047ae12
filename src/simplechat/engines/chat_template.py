"""Chat templates: render a model's own Jinja template safely, or a plain fallback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from simplechat.engines.base import Message, PromptRejected

# Sandboxed: a template comes from a model file, and must not reach Python internals.
_env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)


def _raise(message: str) -> None:
    raise TemplateError(message)


_env.globals["raise_exception"] = _raise


def as_dicts(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def render_plain(messages: Sequence[Message]) -> str:
    """The fallback for models without a template: "User:" / "Assistant:" turns."""
    lines: list[str] = []
    for m in messages:
        if m.role == "system":
            lines.append(f"{m.content}\n")
        else:
            lines.append(f"{'User' if m.role == 'user' else 'Assistant'}: {m.content}")
    lines.append("Assistant:")
    return "\n".join(lines)


class JinjaChatTemplate:
    """A Hugging Face style chat template (as stored in GGUF `tokenizer.chat_template`)."""

    def __init__(self, source: str, *, bos_token: str = "", eos_token: str = "") -> None:
        self._template = _env.from_string(source)
        self._specials: dict[str, Any] = {"bos_token": bos_token, "eos_token": eos_token}

    def render(self, messages: Sequence[Message]) -> str:
        try:
            return self._template.render(
                messages=as_dicts(messages), add_generation_prompt=True, **self._specials
            )
        except TemplateError as exc:
            raise PromptRejected(
                f"the model's chat template rejected the conversation: {exc}"
            ) from exc
