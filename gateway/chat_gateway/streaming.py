"""A chat answer as the browser's events (docs/streaming.md): id, deltas, one done event."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chat_gateway.chat_request import ChatInput
from chat_gateway.config import Config
from chat_gateway.context_fit import ContextReport, context_fields
from chat_gateway.http_client import Broken, TimedOut
from chat_gateway.server_facts import speed_fields
from chat_gateway.stream_client import Quiet, StreamReply
from chat_gateway.token_estimate import text_tokens
from chat_gateway.upstream import check_status, parse_answer
from chat_gateway.upstream_events import (
    Delta,
    Event,
    Failed,
    Finished,
    Started,
    chat_events,
    openai_events,
)


class Trimmed:
    """The answer's text as it may be sent: no leading white space, and trailing white space
    held back until more text follows, so the deltas add up to the stripped answer."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self._held = ""

    def feed(self, text: str) -> str:
        if not self.sent:
            text = text.lstrip()
        text = self._held + text
        kept = text.rstrip()
        self._held = text[len(kept) :]
        if kept:
            self.sent.append(kept)
        return kept

    @property
    def text(self) -> str:
        return "".join(self.sent)


@dataclass
class Outcome:
    """How the stream ended, for the request log."""

    status: int = 200
    stopped: bool = False
    usage: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    text: str = ""
    first_token_at: float | None = None  # time.monotonic() of the first text sent
    started: float = field(default_factory=time.monotonic)
    #: the answer's `context` and `speed` objects, for the log
    context: dict[str, Any] = field(default_factory=dict)
    speed: dict[str, Any] = field(default_factory=dict)
    #: What the model server sent so far, for the quota when the stream ends without `done`.
    deltas: int = 0
    generated: list[str] = field(default_factory=list)

    def completion_estimate(self) -> int:
        """The tokens generated so far: servers send about one delta a token, and the text's
        own estimate covers a server that sends bigger pieces."""
        return max(self.deltas, text_tokens("".join(self.generated)))


def upstream_events(reply: StreamReply, config: Config, url: str) -> Iterator[Event]:
    """The reply as events. A reply that is not a stream (a course server's JSON, /generate) is
    one delta; a non-2xx reply raises GatewayError before anything is sent downstream."""
    if not (200 <= reply.status < 300 and reply.is_event_stream):
        whole = reply.reply()
        check_status(whole, config.upstream_protocol, url)
        answer = parse_answer(whole, config.upstream_protocol)
        usage = {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
        }
        return iter([Delta(answer.text), Finished(False, usage, answer.facts)])
    if config.upstream_protocol == "openai":
        return openai_events(reply.events())
    return chat_events(reply.events())


#: Keeps a finished (or stopped) answer in its conversation: (text, stopped) -> the fields the
#: `done` event carries besides (docs/conversations.md).
Saver = Callable[[str, bool], dict[str, Any]]


def browser_events(
    events: Iterator[Event],
    chat: ChatInput,
    outcome: Outcome,
    config: Config,
    save: Saver | None = None,
    report: ContextReport | None = None,
) -> Iterator[dict[str, Any] | None]:
    """The events the browser gets; None asks for a keep-alive comment. `outcome` is filled in
    as the stream ends."""
    answer = Trimmed()
    generation_id = ""
    for item in _guarded(events):
        if isinstance(item, Quiet):
            yield None
            continue
        if isinstance(item, Started):
            if not generation_id:
                generation_id = item.id
                yield {"id": generation_id}
            continue
        if not generation_id:  # a server that names no generation: the gateway names it
            generation_id = f"gw-{uuid.uuid4().hex}"
            yield {"id": generation_id}
        if isinstance(item, Delta):
            outcome.deltas += 1
            outcome.generated.append(item.text)
            if text := answer.feed(item.text):
                if outcome.first_token_at is None:
                    outcome.first_token_at = time.monotonic()
                yield {"delta": text}
        elif isinstance(item, Finished):
            outcome.stopped, outcome.usage, outcome.text = item.stopped, item.usage, answer.text
            history = [
                *chat.history,
                {"role": "user", "content": chat.message},
                {"role": "assistant", "content": answer.text},
            ]
            usage = _usage(item.usage)
            done: dict[str, Any] = {
                "done": True,
                "success": True,
                "response": answer.text,
                "conversationHistory": history,
                "stopped": item.stopped,
                "usage": usage,
            }
            outcome.context = context_fields(report, item.usage, item.facts.context_length, config)
            first = outcome.first_token_at
            outcome.speed = speed_fields(
                item.facts,
                usage["completion_tokens"] or outcome.deltas,
                None if first is None else first - outcome.started,
                None if first is None else time.monotonic() - first,
            )
            done.update(context=outcome.context, speed=outcome.speed)
            if save is not None:
                done.update(save(answer.text, item.stopped))
            yield done
            return
        elif isinstance(item, Failed):
            outcome.status, outcome.error, outcome.text = item.status, item.message, answer.text
            yield failed(item.status, item.message)
            return


def _guarded(events: Iterator[Event]) -> Iterator[Event]:
    """A connection that breaks or goes quiet for good mid-answer ends as a failure event."""
    try:
        yield from events
    except TimedOut:
        yield Failed(504, "The model server stopped sending the answer. Try again.")
    except Broken as exc:
        yield Failed(502, f"The connection to the model server broke mid-answer ({exc}).")


def failed(status: int, message: str) -> dict[str, Any]:
    return {"done": True, "success": False, "error": message, "status": status}


def _usage(raw: dict[str, Any]) -> dict[str, Any]:
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    counts = [n for n in (prompt, completion) if isinstance(n, int)]
    return {
        "prompt_tokens": prompt if isinstance(prompt, int) else None,
        "completion_tokens": completion if isinstance(completion, int) else None,
        "total_tokens": sum(counts) if len(counts) == 2 else None,
    }
