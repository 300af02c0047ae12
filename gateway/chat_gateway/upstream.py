"""Asking the model server: the chat, generate and openai protocols, retries, error mapping.

The operator's SYSTEM_PROMPT is always the first message the model sees. A client's `system`
turns in conversationHistory (allowed by the seed's contract) are kept, in their order, after
it: extra instructions from the client, which can never remove or replace the operator's.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from chat_gateway.chat_request import ChatInput
from chat_gateway.config import Config
from chat_gateway.errors import GatewayError
from chat_gateway.http_client import Broken, Reply, TimedOut, Unreachable, post_json
from chat_gateway.server_facts import ServerFacts, facts_of
from chat_gateway.stream_client import StreamReply, open_stream

PATHS = {"chat": "/chat", "generate": "/generate", "openai": "/v1/chat/completions"}
ATTEMPTS = 2  # one retry, and only when the request never reached the server
#: A stop is quick or pointless: the answer it would stop goes on meanwhile.
CANCEL_SECONDS = 10.0
T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    text: str
    upstream_status: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    facts: ServerFacts = field(default_factory=ServerFacts)

    @property
    def usage(self) -> dict[str, int | None]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


def endpoint(base_url: str, protocol: str) -> str:
    """The protocol's URL; a base URL pasted with /chat or /generate on the end still works,
    and a query string (a tunnel's token) stays after the path."""
    parts = urlsplit(base_url.strip())
    base = parts.path.rstrip("/")
    for suffix in ("/v1/chat/completions", "/chat", "/generate", "/v1"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return urlunsplit(parts._replace(path=base + PATHS[protocol], fragment=""))


def cancel_endpoint(base_url: str, route: str = "/cancel") -> str:
    """Our server's stop route (or another under /chat, e.g. /count), beside whichever
    protocol's path the URL was given with."""
    chat = endpoint(base_url, "chat")
    parts = urlsplit(chat)
    return urlunsplit(parts._replace(path=parts.path + route))


def with_system(history: list[dict[str, str]], system_prompt: str) -> list[dict[str, str]]:
    """The operator's SYSTEM_PROMPT first, always; a client's own `system` turns (the seed's
    contract allows them in conversationHistory) stay where they were, after it, as further
    instructions: a client can add to the operator's prompt but never remove or replace it."""
    if system_prompt:
        return [{"role": "system", "content": system_prompt}, *history]
    return history


def prompt_messages(chat: ChatInput, system_prompt: str) -> list[dict[str, str]]:
    """Every message the model reads for `chat`, the new user turn last."""
    return [*with_system(chat.history, system_prompt), {"role": "user", "content": chat.message}]


def render_prompt(chat: ChatInput, system_prompt: str) -> str:
    """For /generate, which takes one user turn: earlier turns become labelled lines."""
    lines = []
    for turn in with_system(chat.history, system_prompt):
        if turn["role"] == "system":
            lines.append(turn["content"] + "\n")
        else:
            lines.append(f"{'User' if turn['role'] == 'user' else 'Assistant'}: {turn['content']}")
    if not lines:
        return chat.message
    lines.append(f"User: {chat.message}")
    return "\n".join(lines)


def build_payload(chat: ChatInput, config: Config) -> dict[str, Any]:
    history = with_system(chat.history, config.system_prompt)
    if config.upstream_protocol == "chat":
        # max_tokens is our server's extension of the seed contract; course servers ignore it.
        return {
            "message": chat.message,
            "conversationHistory": history,
            "max_tokens": chat.token_limit(config),
        }
    if config.upstream_protocol == "generate":
        return {
            "prompt": render_prompt(chat, config.system_prompt),
            "max_new_tokens": chat.token_limit(config),
        }
    payload: dict[str, Any] = {
        "messages": prompt_messages(chat, config.system_prompt),
        "max_tokens": chat.token_limit(config),
        "stream": False,
    }
    if config.upstream_model:
        payload["model"] = config.upstream_model
    return payload


def stream_payload(chat: ChatInput, config: Config, user: str) -> dict[str, Any]:
    """The payload asking for a stream; `user` names the end user, so that only they can stop
    it (servers that do not know the field ignore it)."""
    payload = build_payload(chat, config)
    if config.upstream_protocol == "chat":
        payload["stream"] = True
    elif config.upstream_protocol == "openai":
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    if user and config.upstream_protocol != "generate":
        payload["user"] = user
    return payload


def parse_answer(reply: Reply, protocol: str) -> Answer:
    try:
        data = reply.json()
        if protocol == "chat":
            text, usage = data["response"], data.get("usage") or {}
        elif protocol == "generate":
            text, usage = data["generated_text"], data.get("usage") or {}
        else:
            text, usage = data["choices"][0]["message"]["content"], data.get("usage") or {}
        if not isinstance(text, str):
            raise TypeError
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        field = {"chat": "response", "generate": "generated_text", "openai": "choices"}[protocol]
        raise GatewayError(
            502,
            f"The model server's reply was not understood (expected JSON with '{field}'). "
            f"Check that UPSTREAM_PROTOCOL ({protocol}) matches the server.",
        ) from None
    if not isinstance(usage, dict):
        usage = {}  # counts are for the log only: an odd one must not cost the answer
    return Answer(
        text.strip(),
        reply.status,
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        facts_of(data),
    )


def _upstream_message(reply: Reply) -> str:
    try:
        data = reply.json()
    except ValueError:
        return ""
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
        if isinstance(data.get("detail"), str):
            return str(data["detail"])[:300]
    return ""


def shown_url(url: str) -> str:
    """The URL as an error may show it to every chat user: no user, password, query string or
    fragment (a tunnel URL can carry a token in any of them), and a long first label of the host
    cut to its first 4 characters (a tunnel's random name lets anyone who has it skip the
    sign-in when the server has no API key; its start and the path are enough to spot a stale
    tunnel or a missing /chat)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    label, dot, rest = host.partition(".")
    if len(label) > 8 and not host.replace(".", "").isdigit():
        host = label[:4] + "…" + dot + rest
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def check_status(reply: Reply, protocol: str, url: str) -> None:
    """Map a non-2xx reply to the error a person can act on; `url` is the one asked."""
    status = reply.status
    if 200 <= status < 300:
        return
    if status in (401, 403):
        raise GatewayError(
            502,
            f"The model server refused the gateway's API key (HTTP {status}). "
            "Check UPSTREAM_API_KEY or the API key secret.",
        )
    if status == 404:
        raise GatewayError(
            502,
            f"The model server has no {PATHS[protocol]} (HTTP 404 from {shown_url(url)}). "
            f"Check the registered URL (a tunnel's URL changes when it restarts) and that "
            f"UPSTREAM_PROTOCOL ({protocol}) matches the server.",
        )
    if status == 429:
        retry = reply.headers.get("retry-after", "")
        raise GatewayError(
            429,
            "The model server is busy. Try again in a moment.",
            headers={"Retry-After": retry} if retry else None,
        )
    if 400 <= status < 500:
        detail = _upstream_message(reply) or f"HTTP {status}"
        raise GatewayError(400, f"The model server rejected the request: {detail}")
    raise GatewayError(
        502, f"The model server failed (HTTP {status}). Try again; if it persists, check its log."
    )


class Upstream:
    """Sends one chat turn to the model server within the deadline."""

    def __init__(
        self,
        config: Config,
        *,
        sleep: Callable[[float], None] = time.sleep,
        post: Callable[..., Reply] = post_json,
        open_reply: Callable[..., StreamReply] = open_stream,
    ) -> None:
        self._config = config
        self._sleep = sleep
        self._post = post
        self._open = open_reply

    def ask(self, chat: ChatInput, url: str, api_key: str, deadline: float) -> Answer:
        config = self._config
        target = endpoint(url, config.upstream_protocol)

        def send() -> Reply:
            return self._post(
                target,
                build_payload(chat, config),
                auth_headers(api_key),
                connect_timeout=config.connect_timeout_seconds,
                deadline=deadline,
            )

        reply = self._sent(send, deadline)
        check_status(reply, config.upstream_protocol, target)
        return parse_answer(reply, config.upstream_protocol)

    def open(
        self, chat: ChatInput, url: str, api_key: str, user: str, deadline: float
    ) -> tuple[StreamReply, str]:
        """The reply to a streaming request, once its headers are in, and the URL asked."""
        config = self._config
        target = endpoint(url, config.upstream_protocol)

        def send() -> StreamReply:
            return self._open(
                target,
                stream_payload(chat, config, user),
                auth_headers(api_key),
                connect_timeout=config.connect_timeout_seconds,
                deadline=deadline,
                idle_limit=config.stream_idle_seconds,
            )

        return self._sent(send, deadline), target

    def cancel(self, url: str, api_key: str, generation_id: str, user: str) -> Reply:
        """Asks the model server to stop a generation (our server's POST /chat/cancel)."""
        config = self._config
        target = cancel_endpoint(url)
        deadline = time.monotonic() + CANCEL_SECONDS

        def send() -> Reply:
            return self._post(
                target,
                {"id": generation_id, "user": user},
                auth_headers(api_key),
                connect_timeout=config.connect_timeout_seconds,
                deadline=deadline,
            )

        return self._sent(send, deadline)

    def _sent(self, send: Callable[[], T], deadline: float) -> T:
        """`send()`, retried once when the request never reached the server; failures mapped."""
        # What the deadline allowed, as the user waited for it: the JSON answer behind the
        # adapter has less than TIME_BUDGET_SECONDS (API Gateway's 5 quiet minutes).
        budget = max(0.1, deadline - time.monotonic())
        allowed = f"{budget:.0f}" if budget >= 10 else f"{budget:.1f}"
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return send()
            except Unreachable as exc:
                backoff = random.uniform(0.1, 0.3) * attempt  # jitter spreads retries out
                if attempt == ATTEMPTS or time.monotonic() + backoff + 1 > deadline:
                    raise GatewayError(
                        502,
                        f"The model server is unreachable ({exc}). Check that it is running "
                        "and that the registered URL is current.",
                    ) from None
                self._sleep(backoff)
            except TimedOut:
                raise GatewayError(
                    504,
                    f"The model server did not answer within {allowed} s. "
                    "Try a shorter message, or try again later.",
                ) from None
            except Broken as exc:
                raise GatewayError(
                    502, f"The connection to the model server broke before it answered ({exc})."
                ) from None
        raise AssertionError("unreachable")  # the loop returns or raises


def auth_headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}
