"""The request flow: event -> checks -> model server -> response; errors mapped in one place."""

from __future__ import annotations

import time
import traceback
from collections.abc import Generator, Iterator
from typing import Any, Protocol

from chat_gateway.cancel import cancel_outcome, parse_cancel_body
from chat_gateway.chat_request import ChatInput, parse_chat_body
from chat_gateway.config import Config
from chat_gateway.context_fit import ContextReport, Fitter, context_fields
from chat_gateway.conversation_api import (
    NO_STORE,
    ConversationApi,
    check_method,
    is_conversations,
    route_name,
)
from chat_gateway.conversation_turn import StoredTurn, prepare_turn
from chat_gateway.errors import GatewayError
from chat_gateway.events import HttpRequest, parse_event
from chat_gateway.limits import Meter, Ticket
from chat_gateway.model_title import name_by_model
from chat_gateway.preset_api import PresetApi, is_presets
from chat_gateway.preset_api import check_method as check_preset_method
from chat_gateway.preset_api import route_name as preset_route
from chat_gateway.remote_config import UpstreamSettings
from chat_gateway.request_log import log_line
from chat_gateway.responses import json_response, no_content_response, preflight_response
from chat_gateway.sagemaker_upstream import SageMakerUpstream, sagemaker_events
from chat_gateway.server_facts import speed_fields
from chat_gateway.store import Conversation, ConversationStore
from chat_gateway.store_opening import open_store, open_usage
from chat_gateway.streaming import Outcome, browser_events, failed, upstream_events
from chat_gateway.tally import Tally
from chat_gateway.token_estimate import prompt_tokens, text_tokens
from chat_gateway.upstream import Answer, Upstream, prompt_messages
from chat_gateway.upstream_events import Event
from chat_gateway.usage import UsageStore

#: Seconds kept back from the budget to build and return the response.
RESPONSE_MARGIN = 0.3
UNEXPECTED = GatewayError(500, "The chat gateway failed unexpectedly. Try again.")
SIGN_IN_REQUIRED = GatewayError(
    401,
    "Sign-in required: this gateway keeps each user's conversations and usage, and the request "
    "named no signed-in user. Sign in and send your ID token in the Authorization header.",
)


class Closable(Protocol):
    """The model server's reply under way (an HTTP stream, a SageMaker stream)."""

    def close(self) -> None: ...


def is_cancel(path: str) -> bool:
    return path.rstrip("/").endswith("/chat/cancel")


def is_usage(path: str) -> bool:
    return path.rstrip("/") == "/usage"


def throttled(exc: GatewayError) -> str | None:
    """The per-user limit a 429 names, for the log (the dashboard counts them by limit)."""
    limit = exc.details.get("limit")
    return str(limit["name"]) if isinstance(limit, dict) else None


class AnswerStream:
    """A streamed answer under way: `events()` for the browser, `close()` to drop the model
    server's connection (a browser that left), logged once when it ends."""

    def __init__(
        self,
        gateway: Gateway,
        request: HttpRequest,
        chat: ChatInput,
        reply: Closable,
        events: Iterator[Event],
        started: float,
        turn: StoredTurn | None,
        ticket: Ticket,
        report: ContextReport | None = None,
    ) -> None:
        self.gateway, self.request, self.chat = gateway, request, chat
        self.started, self.turn, self.ticket = started, turn, ticket
        self.report = report
        self.outcome = Outcome(started=started)
        self._reply, self._events = reply, events
        self._ended = False

    def events(self) -> Generator[dict[str, Any] | None, None, None]:
        try:
            save = self.turn.save if self.turn is not None else None
            events = browser_events(
                self._events, self.chat, self.outcome, self.gateway.config, save, self.report
            )
            for item in events:
                if item is not None and item.get("done"):
                    # Counted before the browser hears the end: a GET /usage right after the
                    # done event sees this answer's tokens and its slot free.
                    self._settle()
                yield item
        except GatewayError as exc:  # e.g. a reply that was not understood
            self.outcome.status, self.outcome.error = exc.status, exc.message
            yield failed(exc.status, exc.message)
        except Exception:  # a bug of ours: logged, never shown
            self.outcome.status, self.outcome.error = 500, traceback.format_exc()
            yield failed(500, UNEXPECTED.message)
        finally:
            self.end()

    def end(self) -> None:
        """Drops the model server's connection, settles the ticket and logs, once. Any ending
        but `done` (the browser left, the model server failed or went quiet) costs the prompt
        and what was generated so far. Also for a stream whose events were never read (the
        browser gone before the headers): closing an unstarted generator runs nothing."""
        if self._ended:
            return
        self._ended = True
        self.close()
        self._settle()
        self.gateway.log_stream(self)

    def _settle(self) -> None:
        self.ticket.finish(self.outcome.usage, self.outcome.completion_estimate())

    def close(self) -> None:
        self._reply.close()


class Gateway:
    """One per Lambda container; `handle` is the whole function."""

    def __init__(
        self,
        config: Config,
        *,
        settings: UpstreamSettings | None = None,
        upstream: Upstream | None = None,
        store: ConversationStore | None = None,
        usage: UsageStore | None = None,
        sagemaker: SageMakerUpstream | None = None,
    ) -> None:
        self.config = config
        self.settings = settings or UpstreamSettings(config)
        self.upstream = upstream or Upstream(config)
        #: The model on a SageMaker endpoint (UPSTREAM_PROTOCOL=sagemaker): no URL, no key.
        self.sagemaker = sagemaker or (
            SageMakerUpstream(config) if config.upstream_protocol == "sagemaker" else None
        )
        self.store = store if store is not None else open_store(config)
        self.conversations = ConversationApi(self.store, config)
        self.tally = Tally()  # the log lines' counts, for the local stack's /metrics
        self.fitter = Fitter(config)
        # A lease on a running answer outlives the longest answer, for a gateway that dies
        # holding one.
        self.meter = Meter(
            usage if usage is not None else open_usage(config, self.store),
            config.limits,
            lease_seconds=config.time_budget_seconds + 60,
        )

    def _deadline(self, started: float, context: Any) -> float:
        budget = self.config.time_budget_seconds
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining_ms):
            budget = min(budget, remaining_ms() / 1000)
        return started + budget - RESPONSE_MARGIN

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        """The Lambda entry of a buffered deployment: a proxy event in, a JSON response out."""
        started = time.monotonic()
        try:
            request = parse_event(event)
        except GatewayError as exc:
            self._log("", "", exc.status, started, None, None, error=exc.message)
            return self.error_response(exc, "")
        return self.respond(request, self._deadline(started, context), started)

    def respond(self, request: HttpRequest, deadline: float, started: float) -> dict[str, Any]:
        """Every answer that is one JSON body: /chat without streaming, /chat/cancel, the
        conversation routes, errors."""
        origin, request_id, user, answer = (
            request.origin,
            request.request_id,
            request.user_sub,
            None,
        )
        try:
            self._check(request)
            if request.method == "OPTIONS":
                return preflight_response(self.config, origin)
            if is_conversations(request.path) or is_presets(request.path):
                if is_presets(request.path):
                    if self.store is None:
                        raise NO_STORE
                    route = preset_route(request.path)
                    status, payload = PresetApi(self.store, self.config).handle(request)
                else:
                    route = route_name(request.path)
                    status, payload = self.conversations.handle(
                        request, lambda found: self._name_by_model(request, found, deadline)
                    )
                self._log(request_id, user, status, started, None, None, route=route)
                if payload is None:
                    return no_content_response(self.config, origin)
                return json_response(status, payload, self.config, origin)
            if is_usage(request.path):
                if self.meter.store is None:
                    raise NO_STORE
                payload = self.meter.report(request.user)
                self._log(request_id, user, 200, started, None, None, route="/usage")
                return json_response(200, payload, self.config, origin)
            if is_cancel(request.path):
                payload = self._cancel(request)
                self._log(request_id, user, 200, started, None, None)
                return json_response(200, payload, self.config, origin)
            chat, turn = prepare_turn(
                self.store, request.user, parse_chat_body(request.body, self.config), self.config
            )
            answer, chat, report = self._ask_metered(request, chat, deadline, turn)
            history = [
                *chat.history,
                {"role": "user", "content": chat.message},
                {"role": "assistant", "content": answer.text},
            ]
            payload = {
                "success": True,
                "response": answer.text,
                "conversationHistory": history,
                "context": context_fields(
                    report, answer.usage, answer.facts.context_length, self.config
                ),
                "speed": speed_fields(answer.facts, answer.completion_tokens, None, None),
            }
            if turn is not None:
                payload.update(turn.save(answer.text, stopped=False))
            response = json_response(200, payload, self.config, origin)
            self._log(request_id, user, 200, started, answer, chat.message)
            return response
        except GatewayError as exc:
            self._log(
                request_id, user, exc.status, started, answer, None, error=exc.message,
                throttled=throttled(exc),
            )  # fmt: skip
            return self.error_response(exc, origin)
        except Exception:  # a bug of ours: log it, never show it
            self._log(request_id, user, 500, started, answer, None, error=traceback.format_exc())
            return self.error_response(UNEXPECTED, origin)

    def _ask_metered(
        self,
        request: HttpRequest,
        chat: ChatInput,
        deadline: float,
        turn: StoredTurn | None = None,
    ) -> tuple[Answer, ChatInput, ContextReport | None]:
        """One JSON answer, within the user's limits and counted against them; a stored
        conversation's history fitted to the context once admitted. Also the chat as asked
        and the fitting's report."""
        ticket = self._admit(request, chat)
        try:
            chat, report = self._fit(chat, turn, deadline)
            answer = self._ask(chat, deadline)
        except BaseException as exc:
            if isinstance(exc, GatewayError) and exc.status == 504:
                ticket.finish({})  # the model server was at work on it when time ran out
            else:
                ticket.cancel()  # refused, or never reached: it wrote nothing
            raise
        ticket.finish(answer.usage, text_tokens(answer.text))
        return answer, chat, report

    def _name_by_model(
        self, request: HttpRequest, conversation_id: str, deadline: float
    ) -> Conversation:
        """POST /conversations/{id}/title: the model's title, asked once (model_title.py)."""
        assert self.store is not None  # the conversation routes answered 501 without one
        if not self.config.model_titles:
            return self.store.get(request.user, conversation_id)[0]
        return name_by_model(
            self.store,
            request.user,
            conversation_id,
            lambda chat: self._ask_metered(request, chat, deadline)[0].text,
        )

    def open_stream(self, request: HttpRequest, started: float) -> AnswerStream:
        """Asks the model server for a streamed answer; raises GatewayError for whatever fails
        before the answer starts (bad input, misconfiguration, the server refusing)."""
        self._check(request)
        chat, turn = prepare_turn(
            self.store, request.user, parse_chat_body(request.body, self.config), self.config
        )
        deadline = started + self.config.time_budget_seconds
        ticket = self._admit(request, chat)
        reply: Closable
        try:
            chat, report = self._fit(chat, turn, deadline)
            if self.sagemaker is not None:
                reply = self.sagemaker.open(chat, request.user_sub, deadline)
                events = sagemaker_events(reply)
            else:
                url, key = self.settings.url(), self.settings.api_key()
                http_reply, target = self.upstream.open(chat, url, key, request.user_sub, deadline)
                reply, events = http_reply, upstream_events(http_reply, self.config, target)
        except BaseException as exc:
            ticket.cancel()  # refused or never reached: the model wrote nothing
            if isinstance(exc, GatewayError) and exc.status in (502, 504):
                self.settings.forget_url()
            raise
        return AnswerStream(self, request, chat, reply, events, started, turn, ticket, report)

    def _fit(
        self, chat: ChatInput, turn: StoredTurn | None, deadline: float
    ) -> tuple[ChatInput, ContextReport | None]:
        """A stored conversation's history fitted to the model's context by tokens (a request
        that brings its own history is sent as it came)."""
        if turn is None:
            return chat, None
        if self.sagemaker is not None:
            url, key = "", ""  # no count route behind an endpoint: estimated
        else:
            url, key = self.settings.url(), self.settings.api_key()
        users = sum(1 for m in turn.before if m.role == "user")
        return self.fitter.fit(chat, len(turn.before), users, url, key, deadline)

    def _admit(self, request: HttpRequest, chat: ChatInput) -> Ticket:
        """The per-user limits' ticket, reserving the prompt and the most the model may write."""
        prompt = prompt_tokens(prompt_messages(chat, self.config.system_prompt))
        return self.meter.admit(
            request.user, prompt_tokens=prompt, max_tokens=chat.token_limit(self.config)
        )

    def _check(self, request: HttpRequest) -> None:
        if (
            request.method != "OPTIONS"
            and not request.user_sub
            and (self.store is not None or self.meter.store is not None)
            and not self.config.local_single_user
        ):
            # A direct invoke or a console test-invoke names nobody: it must not become the
            # shared user "local", whose conversations and quota a stack without sign-in keeps.
            raise SIGN_IN_REQUIRED
        if is_conversations(request.path):
            check_method(request)
            return
        if is_presets(request.path):
            check_preset_method(request)
            return
        if is_usage(request.path):
            if request.method not in ("GET", "OPTIONS"):
                raise GatewayError(
                    405, "Read your usage with GET.", headers={"Allow": "OPTIONS, GET"}
                )
            return
        if request.method not in ("POST", "OPTIONS"):
            raise GatewayError(
                405, "Send chat messages with POST.", headers={"Allow": "OPTIONS, POST"}
            )
        if request.method == "POST" and self.config.problems:
            raise GatewayError(
                503, "The chat gateway is misconfigured: " + "; ".join(self.config.problems)
            )

    def _cancel(self, request: HttpRequest) -> dict[str, Any]:
        generation_id = parse_cancel_body(request.body)
        if self.sagemaker is not None:
            return {"success": True, "id": generation_id, **self.sagemaker.cancel()}
        reply = self.upstream.cancel(
            self.settings.url(), self.settings.api_key(), generation_id, request.user_sub
        )
        return cancel_outcome(reply, generation_id)

    def error_response(self, exc: GatewayError, origin: str) -> dict[str, Any]:
        payload = {"success": False, "error": exc.message, **exc.details}
        return json_response(exc.status, payload, self.config, origin, exc.headers)

    def _ask(self, chat: Any, deadline: float) -> Answer:
        if self.sagemaker is not None:
            return self.sagemaker.ask(chat, deadline)
        url = self.settings.url()
        key = self.settings.api_key()
        try:
            return self.upstream.ask(chat, url, key, deadline)
        except GatewayError as exc:
            if exc.status in (502, 504):
                self.settings.forget_url()  # a moved tunnel is picked up on the next request
            raise

    def log_refusal(self, request: HttpRequest, exc: GatewayError, started: float) -> None:
        self._log(
            request.request_id, request.user_sub, exc.status, started, None, None,
            error=exc.message, throttled=throttled(exc),
        )  # fmt: skip

    def log_stream(self, stream: AnswerStream) -> None:
        outcome = stream.outcome
        self.tally.record(
            log_line(
                requestId=stream.request.request_id,
                user=stream.request.user_sub,
                status=outcome.status,
                protocol=self.config.upstream_protocol,
                streamed=True,
                stopped=outcome.stopped,
                latencyMs=round((time.monotonic() - stream.started) * 1000),
                firstTokenMs=(
                    round((outcome.first_token_at - stream.started) * 1000)
                    if outcome.first_token_at is not None
                    else None
                ),
                promptTokens=outcome.usage.get("prompt_tokens"),
                completionTokens=outcome.usage.get("completion_tokens"),
                tokensPerSecond=outcome.speed.get("tokensPerSecond"),
                serverFirstTokenMs=(
                    outcome.speed.get("timeToFirstTokenMs")
                    if outcome.speed.get("measuredBy") == "server"
                    else None
                ),
                contextLength=outcome.context.get("contextLength"),
                leftOutTurns=outcome.context.get("leftOutTurns") or None,
                error=outcome.error,
                message=stream.chat.message if self.config.log_content else None,
                response=outcome.text if self.config.log_content else None,
            )
        )

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
        route: str | None = None,
        throttled: str | None = None,
    ) -> None:
        self.tally.record(
            log_line(
                requestId=request_id,
                user=user,
                status=status,
                route=route,
                throttled=throttled,
                upstreamStatus=answer.upstream_status if answer else None,
                protocol=self.config.upstream_protocol,
                latencyMs=round((time.monotonic() - started) * 1000),
                promptTokens=answer.prompt_tokens if answer else None,
                completionTokens=answer.completion_tokens if answer else None,
                tokensPerSecond=answer.facts.tokens_per_second if answer else None,
                serverFirstTokenMs=(
                    round(answer.facts.first_token_seconds * 1000)
                    if answer and answer.facts.first_token_seconds is not None
                    else None
                ),
                error=error,
                message=message if self.config.log_content else None,
                response=answer.text if answer and self.config.log_content else None,
            )
        )
