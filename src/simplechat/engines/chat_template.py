"""Chat templates: render a model's own Jinja template safely, or a plain fallback."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
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


def _placeholders() -> tuple[Callable[[int], str], re.Pattern[str]]:
    """Placeholders for contents, and the pattern that finds them: private-use characters
    around a fresh random key, so no template and no user text can produce one."""
    key = secrets.token_hex(8)
    return (lambda i: f"\ue000{key}:{i}\ue001"), re.compile(f"\ue000{key}:(\\d+)\ue001")


def render_separating_user_text(
    render: Callable[[list[Message]], str], messages: Sequence[Message]
) -> Prompt:
    """Render with placeholders for the contents, then put the contents back as untrusted parts.

    The result is checked against a plain render. Many templates trim each content (Gemma's,
    Llama 3's `| trim`), so the contents are tried trimmed too. A template that rewrites some
    contents otherwise (Qwen3 drops the thinking from earlier answers) gets those contents as
    it wrote them, trusted, with a warning; every content it keeps as sent or trimmed stays data.
    """
    direct = render(list(messages))
    as_sent = [m.content for m in messages]
    everyone = _pieces(render, messages, range(len(messages)))
    for contents in (as_sent, [text.strip() for text in as_sent]):
        prompt = _filled_as(direct, everyone, dict(enumerate(contents)))
        if prompt is not None:
            return prompt
    # Some contents are rewritten: find, one message at a time, the contents kept as they were.
    kept: dict[int, str] = {}
    for i, text in enumerate(as_sent):
        alone = _pieces(render, messages, [i])
        for candidate in (text, text.strip()):
            if _filled_as(direct, alone, {i: candidate}) is not None:
                kept[i] = candidate
                break
    prompt = _filled_as(direct, _pieces(render, messages, kept), kept)
    if prompt is None:
        kept, prompt = {}, Prompt.trusted(direct)
    rewritten = sorted({m.role for i, m in enumerate(messages) if i not in kept})
    log.warning(
        "the chat template rewrites %s message text: special tokens in %d of %d messages are "
        "not escaped",
        "/".join(rewritten),
        len(messages) - len(kept),
        len(messages),
    )
    return prompt


def _pieces(
    render: Callable[[list[Message]], str], messages: Sequence[Message], marked: Iterable[int]
) -> list[str]:
    """The render with placeholders for the contents of the `marked` messages, split into
    template text (even pieces) and placeholder numbers (odd pieces)."""
    placeholder, pattern = _placeholders()
    chosen = set(marked)
    text = render(
        [Message(m.role, placeholder(i)) if i in chosen else m for i, m in enumerate(messages)]
    )
    return pattern.split(text)


def _filled_as(direct: str, pieces: list[str], contents: dict[int, str]) -> Prompt | None:
    """The pieces filled with these contents, if that gives the plain render `direct`."""
    prompt = _filled(pieces, contents)
    return prompt if prompt.text == direct else None


def _filled(pieces: list[str], contents: dict[int, str]) -> Prompt:
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
