"""The request flow: event -> checks -> model server -> response; errors mapped in one place."""

from __future__ import annotations

import time
import traceback
from typing import Any

from chat_gateway.chat_request import parse_chat_body
from chat_gateway.config import Config
from chat_gateway.errors import GatewayError
from chat_gateway.events import parse_event
from chat_gateway.remote_config import UpstreamSettings
from chat_gateway.request_log import log_line
from chat_gateway.responses import json_response, preflight_response
from chat_gateway.upstream import Answer, Upstream

#: Seconds kept back from the budget to build and return the response.
RESPONSE_MARGIN = 0.3


class Gateway:
    """One per Lambda container; `handle` is the whole function."""

    def __init__(
        self,
        config: Config,
        *,
        settings: UpstreamSettings | None = None,
        upstream: Upstream | None = None,
    ) -> None:
        self.config = config
        self.settings = settings or UpstreamSettings(config)
        self.upstream = upstream or Upstream(config)

    def _deadline(self, started: float, context: Any) -> float:
        budget = self.config.time_budget_seconds
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining_ms):
            budget = min(budget, remaining_ms() / 1000)
        return started + budget - RESPONSE_MARGIN

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        started = time.monotonic()
        origin, request_id, user, answer = "", "", "", None
        try:
            request = parse_event(event)
            origin, request_id, user = request.origin, request.request_id, request.user_sub
            if request.method == "OPTIONS":
                return preflight_response(self.config, origin)
            if request.method != "POST":
                raise GatewayError(
                    405, "Send chat messages with POST.", headers={"Allow": "OPTIONS, POST"}
                )
            if self.config.problems:
                raise GatewayError(
                    503, "The chat gateway is misconfigured: " + "; ".join(self.config.problems)
                )
            chat = parse_chat_body(request.body, self.config)
            answer = self._ask(chat, self._deadline(started, context))
            history = [
                *chat.history,
                {"role": "user", "content": chat.message},
                {"role": "assistant", "content": answer.text},
            ]
            response = json_response(
                200,
                {"success": True, "response": answer.text, "conversationHistory": history},
                self.config,
                origin,
            )
            self._log(request_id, user, 200, started, answer, chat.message)
            return response
        except GatewayError as exc:
            self._log(request_id, user, exc.status, started, answer, None, error=exc.message)
            return json_response(
                exc.status,
                {"success": False, "error": exc.message},
                self.config,
                origin,
                exc.headers,
            )
        except Exception:  # a bug of ours: log it, never show it
            self._log(request_id, user, 500, started, answer, None, error=traceback.format_exc())
            return json_response(
                500,
                {"success": False, "error": "The chat gateway failed unexpectedly. Try again."},
                self.config,
                origin,
            )

    def _ask(self, chat: Any, deadline: float) -> Answer:
        url = self.settings.url()
        key = self.settings.api_key()
        try:
            return self.upstream.ask(chat, url, key, deadline)
        except GatewayError as exc:
            if exc.status in (502, 504):
                self.settings.forget_url()  # a moved tunnel is picked up on the next request
            raise

    def _log(
        self,
        request_id: str,
        user: str,
        status: int,
        started: float,
        answer: Answer | None,
        message: str | None,
        *,
        error: str | None = None,
    ) -> None:
        log_line(
            requestId=request_id,
            user=user,
            status=status,
            upstreamStatus=answer.upstream_status if answer else None,
            protocol=self.config.upstream_protocol,
            latencyMs=round((time.monotonic() - started) * 1000),
            promptTokens=answer.prompt_tokens if answer else None,
            completionTokens=answer.completion_tokens if answer else None,
            error=error,
            message=message if self.config.log_content else None,
            response=answer.text if answer and self.config.log_content else None,
        )
