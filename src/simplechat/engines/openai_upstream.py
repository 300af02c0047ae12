"""The `openai` engine: forwards to OpenAI-compatible servers (vLLM, llama-server, Ollama, TGI,
another simplechat), balancing between them and failing over before the first token."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import httpx

from simplechat.engines.base import (
    Engine,
    EngineBusy,
    EngineError,
    EngineUnavailable,
    FinishReason,
    GenerationRequest,
    Message,
    Prompt,
    Step,
    UpstreamRejected,
)
from simplechat.engines.chat_template import render_plain
from simplechat.engines.session_key import SESSION_HEADER, conversation_key
from simplechat.engines.upstream_pool import Balance, Upstream, UpstreamPool

log = logging.getLogger("simplechat")
# httpx logs every request at INFO: with health checks every few seconds that drowns the log.
logging.getLogger("httpx").setLevel(logging.WARNING)

#: when an upstream states no context length (the server behind us enforces its own anyway)
UNKNOWN_CONTEXT = 4096


class _Retry(Exception):
    """This upstream cannot take the request now; try the next one (nothing was generated)."""

    def __init__(self, reason: str, *, busy: bool = False) -> None:
        super().__init__(reason)
        self.busy = busy


class OpenAIUpstreamEngine(Engine):
    """Our API, auth, limits and metrics in front; the tokens come from the upstream servers."""

    name = "openai"
    counts_tokens = False

    def __init__(
        self,
        urls: Sequence[str],
        *,
        model: str = "",
        model_name: str = "",
        api_key: str = "",
        balance: Balance = "least-outstanding",
        health_interval: float = 5.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 600.0,
        context_length: int | None = None,
    ) -> None:
        self.pool = UpstreamPool(urls, balance)
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._sync = httpx.Client(headers=self._headers, timeout=connect_timeout)
        listed, problems = self._discover()
        self.upstream_model = model or str(listed.get("id") or "")
        if not self.upstream_model:
            raise EngineError(
                "no upstream listed a model at GET /v1/models, so the model to ask for is "
                f"unknown ({'; '.join(problems)}): start one, fix the problem, or name the model "
                "with --model"
            )
        self.model_name = model_name or self.upstream_model
        stated = listed.get("max_model_len") or (listed.get("meta") or {}).get("n_ctx_train")
        self.context_length = context_length or int(stated or UNKNOWN_CONTEXT)
        timeout = httpx.Timeout(
            connect_timeout, read=read_timeout, write=30.0, pool=connect_timeout
        )
        # No connection cap of httpx's own (100 by default): our admission control already bounds
        # the requests in flight, and a request waiting for a pooled connection would time out
        # and count against a healthy upstream.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
        self._client = httpx.AsyncClient(headers=self._headers, timeout=timeout, limits=limits)
        self.pool.check_health(self._probe, health_interval)

    # -- knowing the upstreams ------------------------------------------------------------

    def _discover(self) -> tuple[dict[str, Any], list[str]]:
        """The first model any upstream lists, and what went wrong with those that did not
        (they are marked down until a health check finds them up)."""
        problems: list[str] = []
        for upstream in self.pool.upstreams:
            try:
                reply = self._sync.get(upstream.base + "/v1/models")
                reply.raise_for_status()
                models = reply.json().get("data") or []
            except (httpx.HTTPError, ValueError, AttributeError) as exc:
                reason = _with_key_hint(_describe(exc))
                problems.append(f"{upstream.label}: {reason}")
                upstream.mark(False, reason)
                continue
            if models and isinstance(models[0], dict):
                return dict(models[0]), problems
            problems.append(f"{upstream.label}: lists no model")
        return {}, problems

    def _probe(self, upstream: Upstream) -> str | None:
        """None when the server is up: /health answers 200 (or, servers without one, /v1/models)
        and /v1/models takes our key. vLLM and simplechat leave /health open, so /health alone
        would call a server up that refuses every request, and each request would mark it down
        again: it would flap between up and down."""
        try:
            health = self._sync.get(upstream.base + "/health")
            if health.status_code not in (200, 404):
                return f"health check answered {health.status_code}"
            models = self._sync.get(upstream.base + "/v1/models")
        except httpx.HTTPError as exc:
            return _describe(exc)
        if models.status_code in (401, 403):
            return _with_key_hint(f"answered {models.status_code}")
        if health.status_code == 404 and models.status_code != 200:
            return f"health check answered {models.status_code}"
        return None

    # -- what we send -----------------------------------------------------------------------

    def render_chat(self, messages: Sequence[Message]) -> Prompt:
        # The upstream applies its model's chat template; we only keep the conversation.
        return Prompt(render_plain(messages).parts, messages=tuple(messages))

    def tokenize(self, prompt: Prompt) -> list[int]:
        return []  # unknown here: the upstream tokenizes (and reports usage at the end)

    def _body(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        params = request.params
        body: dict[str, Any] = {
            "model": self.upstream_model,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if params.ignore_eos:
            body["ignore_eos"] = True  # vLLM's and llama-server's extension
        if request.prompt.messages:
            body["messages"] = [
                {"role": m.role, "content": m.content} for m in request.prompt.messages
            ]
            return "/v1/chat/completions", body
        body["prompt"] = request.prompt.text
        return "/v1/completions", body

    # -- generating -----------------------------------------------------------------------

    async def _decode(self, request: GenerationRequest) -> AsyncGenerator[Step, None]:
        path, body = self._body(request)
        key = conversation_key(request.prompt)
        headers = {SESSION_HEADER: key} if key else None
        problems: list[str] = []
        all_busy = True
        for upstream in self.pool.candidates():
            upstream.outstanding += 1
            started = False
            try:
                async with self._client.stream(
                    "POST", upstream.base + path, json=body, headers=headers
                ) as reply:
                    await _check_status(reply)
                    async for step in _steps(reply):
                        started = True
                        if step.finish_reason is not None:
                            upstream.served += 1
                        yield step
                return
            except UpstreamRejected:
                raise  # the request itself is wrong: every upstream would say the same
            except _Retry as exc:
                problems.append(f"{upstream.label}: {exc}")
                all_busy = all_busy and exc.busy
                if not exc.busy:
                    upstream.mark(False, str(exc))
            except (httpx.HTTPError, EngineError) as exc:
                reason = _describe(exc)
                if started:  # part of the answer is out: too late to ask another server
                    raise EngineError(f"{upstream.label} failed mid-answer: {reason}") from None
                problems.append(f"{upstream.label}: {reason}")
                all_busy = False
                upstream.mark(False, reason)
            finally:
                upstream.outstanding -= 1
        if all_busy:
            raise EngineBusy("Every model server is busy. Try again in a few seconds.")
        raise EngineUnavailable("; ".join(problems))

    async def aclose(self) -> None:
        self.pool.stop()
        await self._client.aclose()
        self._sync.close()


async def _check_status(reply: httpx.Response) -> None:
    if reply.status_code == 200:
        return
    text = (await reply.aread()).decode("utf-8", "replace")
    if reply.status_code == 429:
        raise _Retry("busy (429)", busy=True)
    if reply.status_code >= 500 or reply.status_code in (401, 403, 404, 408):
        # ours to fix or theirs to recover from: another upstream may do better
        raise _Retry(f"answered {reply.status_code}: {_error_message(text)[:200]}")
    raise UpstreamRejected(f"The model server refused the request: {_error_message(text)}")


def _error_message(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:500] or "(no message)"
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:500]
    if isinstance(error, str):
        return error[:500]
    return " ".join(text.split())[:500]


async def _steps(reply: httpx.Response) -> AsyncIterator[Step]:
    """The upstream's SSE stream as Steps; the last Step carries the finish reason and the
    upstream's own token counts (its usage chunk comes after the finish reason)."""
    generated = 0
    prompt_tokens = 0
    finish: FinishReason | None = None
    async for line in reply.aiter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        try:
            payload = json.loads(data)
        except ValueError:
            raise EngineError(f"the model server sent a broken event: {data[:200]!r}") from None
        if not isinstance(payload, dict):
            raise _unexpected(data)
        if "error" in payload:
            raise EngineError(f"the model server failed mid-answer: {_error_message(data)}")
        usage = payload.get("usage")
        if isinstance(usage, dict):  # counts it cannot give are left as we counted them
            prompt_tokens = _count(usage.get("prompt_tokens"), prompt_tokens)
            generated = _count(usage.get("completion_tokens"), generated)
        choices = payload.get("choices") or []
        if not isinstance(choices, list):
            raise _unexpected(data)
        for choice in choices:
            if not isinstance(choice, dict):
                raise _unexpected(data)
            if "delta" in choice:  # chat completions
                delta = choice["delta"] or {}
                if not isinstance(delta, dict):
                    raise _unexpected(data)
                text = delta.get("content")
            else:  # completions
                text = choice.get("text")
            if text:
                generated += 1
                yield Step(str(text), prompt_tokens, generated)
            if choice.get("finish_reason"):
                finish = "length" if choice["finish_reason"] == "length" else "stop"
    if finish is None:
        raise EngineError("the model server ended the answer without a finish reason")
    yield Step("", prompt_tokens, generated, finish)


def _unexpected(data: str) -> EngineError:
    return EngineError(f"the model server sent an event not shaped like OpenAI's: {data[:200]!r}")


def _count(value: object, otherwise: int) -> int:
    """A token count from an upstream's usage; a missing, zero or odd one keeps our own."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return otherwise


def _with_key_hint(reason: str) -> str:
    if reason in ("answered 401", "answered 403"):
        return reason + ": it wants a key, pass --upstream-api-key"
    return reason


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or unreachable"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"answered {exc.response.status_code}"
    if isinstance(exc, EngineError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:200]
