"""Chat templates: render a model's own Jinja template safely, or a plain fallback."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from simplechat.engines.base import Message, Prompt, PromptRejected

# Sandboxed: a template comes from a model file, and must not reach Python internals.
_env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)


def _raise(message: str) -> None:
    raise TemplateError(message)


_env.globals["raise_exception"] = _raise


def as_dicts(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def _new_placeholders() -> tuple[Callable[[int], str], re.Pattern[str]]:
    """Placeholders for contents, and the pattern that finds them: private-use characters
    around a random key, so no template and no user text can produce one. One key per process:
    the placeholder render holds no user text and is never shown, and compiling a fresh
    pattern for every request took 60-100 µs of its path to the first token."""
    key = secrets.token_hex(8)
    return (lambda i: f"\ue000{key}:{i}\ue001"), re.compile(f"\ue000{key}:(\\d+)\ue001")


_PLACEHOLDERS = _new_placeholders()


def render_separating_user_text(
    render: Callable[[list[Message]], str], messages: Sequence[Message]
) -> Prompt:
    """Render with placeholders for the contents, then put the contents back as untrusted parts.

    The plain render is walked along the placeholder render's template text. Many templates trim
    each content (Gemma's, Llama 3's `| trim`), so each content is tried trimmed too. A content
    the template rewrote otherwise stays data when what it wrote is a piece of the content (Qwen3
    keeps only the answer after an earlier turn's thinking). Anything else it wrote is trusted,
    and when the template text itself depends on what a message says, the whole output is: then
    the contents go along as `unseparated`, for the engine to refuse any holding control tokens.
    Two renders, however long the conversation.
    """
    direct = render(list(messages))
    placeholder, pattern = _PLACEHOLDERS
    marked = [Message(m.role, placeholder(i)) for i, m in enumerate(messages)]
    prompt = _walked(direct, pattern.split(render(marked)), messages)
    if prompt is None:  # engines refuse it if any content holds control tokens
        return Prompt(((direct, True),), unseparated=tuple(m.content for m in messages))
    return prompt


def _walked(direct: str, pieces: list[str], messages: Sequence[Message]) -> Prompt | None:
    """The plain render taken apart along the placeholder render's pieces: template text (even
    pieces) trusted, each content where a placeholder was (odd pieces) untrusted. A content not
    followed by the next template text was rewritten: it runs to where that text comes next.
    None when the template text itself does not line up."""
    if not direct.startswith(pieces[0]):
        return None
    parts: list[tuple[str, bool]] = [(pieces[0], True)]
    unseparated: list[str] = []
    at = len(pieces[0])
    for j in range(1, len(pieces), 2):
        message, after = messages[int(pieces[j])], pieces[j + 1]
        end = _content_end(direct, at, message.content, after, last=j == len(pieces) - 2)
        if end is None:
            return None
        written = direct[at:end]
        # Kept, trimmed or cut, it is the sender's text: data. Otherwise the template's own.
        trusted = written not in message.content
        if trusted:
            unseparated.append(message.content)
        parts += [(written, trusted), (after, True)]
        at = end + len(after)
    if at != len(direct):
        return None
    kept = tuple((text, trusted) for text, trusted in parts if text)
    return Prompt(kept, unseparated=tuple(unseparated))


def _content_end(direct: str, at: int, content: str, after: str, *, last: bool) -> int | None:
    """Where, in the plain render, the content starting at `at` ends: the content as sent or
    trimmed when the template text `after` follows it, else the next place `after` comes."""
    for written in dict.fromkeys((content, content.strip())):
        if direct.startswith(written + after, at):
            return at + len(written)
    if last:  # the template's closing text ends the render
        end = len(direct) - len(after)
        return end if end >= at and direct.endswith(after) else None
    found = direct.find(after, at) if after else -1
    return found if found >= 0 else None


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
