"""Chat templates: render a model's own Jinja template safely, or a plain fallback."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from simplechat.engines.base import Message, Prompt, PromptRejected

log = logging.getLogger(__name__)

# Sandboxed: a template comes from a model file, and must not reach Python internals.
_env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)


def _raise(message: str) -> None:
    raise TemplateError(message)


_env.globals["raise_exception"] = _raise


def as_dicts(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


# Private-use characters: placeholders that neither a template nor a user will produce.
_MARK = re.compile("\ue000(\\d+)\ue001")


def render_separating_user_text(
    render: Callable[[list[Message]], str], messages: Sequence[Message]
) -> Prompt:
    """Render with placeholders for the contents, then put the contents back as untrusted parts.

    The result is checked against a plain render. Many templates trim each content (Gemma's,
    Llama 3's `| trim`), so the contents are tried trimmed too. A template that rewrites contents
    otherwise (rare) gets its own output, whole and trusted, with a warning.
    """
    direct = render(list(messages))
    marked = [Message(m.role, f"\ue000{i}\ue001") for i, m in enumerate(messages)]
    pieces = _MARK.split(render(marked))
    as_sent = [m.content for m in messages]
    for contents in (as_sent, [text.strip() for text in as_sent]):
        prompt = _filled(pieces, contents)
        if prompt.text == direct:
            return prompt
    log.warning("chat template transforms message text; special tokens in it are not escaped")
    return Prompt.trusted(direct)


def _filled(pieces: list[str], contents: list[str]) -> Prompt:
    """Template text (even pieces) trusted, each placeholder (odd pieces) replaced by its
    message's content, untrusted."""
    parts: list[tuple[str, bool]] = []
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            if piece:
                parts.append((piece, True))
        elif contents[int(piece)]:
            parts.append((contents[int(piece)], False))
    return Prompt(tuple(parts))


def render_plain(messages: Sequence[Message]) -> Prompt:
    """The fallback for models without a template: "User:" / "Assistant:" turns."""
    return render_separating_user_text(_plain_text, messages)


def _plain_text(messages: Sequence[Message]) -> str:
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

    def render(self, messages: Sequence[Message]) -> Prompt:
        return render_separating_user_text(self._render_text, messages)

    def _render_text(self, messages: Sequence[Message]) -> str:
        try:
            return self._template.render(
                messages=as_dicts(messages), add_generation_prompt=True, **self._specials
            )
        except TemplateError as exc:
            raise template_refusal(exc) from exc


def template_refusal(exc: TemplateError) -> PromptRejected:
    """A template's raise_exception() (e.g. "roles must alternate"): the client's to fix, a 400."""
    return PromptRejected(f"the model's chat template rejected the conversation: {exc}")
