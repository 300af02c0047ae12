"""The model server's stream, per protocol, read into one shape: id, delta, done or error."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chat_gateway.server_facts import ServerFacts, facts_of, merged
from chat_gateway.stream_client import Quiet


@dataclass(frozen=True)
class Started:
    id: str


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Finished:
    stopped: bool
    usage: dict[str, Any]
    facts: ServerFacts = field(default_factory=ServerFacts)


@dataclass(frozen=True)
class Failed:
    status: int  # what the JSON contract would have answered
    message: str


Event = Started | Delta | Finished | Failed | Quiet

#: OpenAI's error types, as the statuses they go with (an error event carries no status).
ERROR_TYPES = {"invalid_request_error": 400, "rate_limit_error": 429}


def _failure(upstream_status: Any, message: Any) -> Failed:
    """A failure the model server reported mid-stream, mapped as `check_status` maps statuses."""
    text = str(message)[:300] if message else "no reason given"
    status = upstream_status if isinstance(upstream_status, int) else 500
    if status == 429:
        return Failed(429, f"The model server is busy: {text}")
    if 400 <= status < 500:
        return Failed(400, f"The model server rejected the request: {text}")
    return Failed(502, f"The model server failed while answering: {text}")


def _usage(raw: Any) -> dict[str, Any]:
    return raw if isinstance(raw, dict) else {}


def chat_events(raw: Iterable[dict[str, Any] | str | Quiet]) -> Iterator[Event]:
    """Our server's `/chat` events (docs/streaming.md): they already have this shape."""
    for data in raw:
        if isinstance(data, Quiet):
            yield data
        elif not isinstance(data, dict):
            continue
        elif isinstance(data.get("id"), str) and "done" not in data:
            yield Started(data["id"])
        elif isinstance(data.get("delta"), str):
            yield Delta(data["delta"])
        elif data.get("done") and data.get("success") is True:
            yield Finished(bool(data.get("stopped")), _usage(data.get("usage")), facts_of(data))
            return
        elif data.get("done"):
            yield _failure(data.get("status"), data.get("error"))
            return
    yield Failed(502, "The model server's answer was cut off. Try again.")


def openai_events(raw: Iterable[dict[str, Any] | str | Quiet]) -> Iterator[Event]:
    """OpenAI's chunks (vLLM, llama-server, Ollama, ours); `stopped` is our extension."""
    started = finished = stopped = False
    usage: dict[str, Any] = {}
    facts = ServerFacts()
    for data in raw:
        if isinstance(data, Quiet):
            yield data
            continue
        if data == "[DONE]":
            break
        if not isinstance(data, dict):
            continue
        error = data.get("error")
        if error is not None:
            details = error if isinstance(error, dict) else {"message": error}
            status = ERROR_TYPES.get(str(details.get("type")), 500)
            yield _failure(status, details.get("message"))
            return
        if not started and isinstance(data.get("id"), str):
            started = True
            yield Started(data["id"])
        stopped = stopped or data.get("stopped") is True
        usage = _usage(data.get("usage")) or usage
        facts = merged(facts, facts_of(data))
        for choice in data.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str) and content:
                yield Delta(content)
            finished = finished or bool(choice.get("finish_reason"))
    if finished or stopped:
        yield Finished(stopped, usage, facts)
    else:
        yield Failed(502, "The model server's answer was cut off. Try again.")
