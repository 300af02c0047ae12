"""`/conversations[/{id}[/title]]`: list, create or import, read, rename, set instructions,
delete, export, and ask the model for a title (docs/conversations.md)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from chat_gateway.chat_request import check_history_message, load_object
from chat_gateway.config import Config
from chat_gateway.conversation_export import export_page
from chat_gateway.errors import GatewayError, bad_request
from chat_gateway.events import HttpRequest
from chat_gateway.store import (
    MAX_MESSAGES,
    Conversation,
    ConversationStore,
    Message,
    StoreError,
    check_id,
    clean_instructions,
    clean_title,
    title_from,
)

PREFIX = "/conversations"
EXPORT = "export"
#: An imported conversation is one request: within Lambda's 6 MB request limit with room for the
#: event around it (the gateway's MAX_BODY_BYTES is for chat turns, far smaller).
MAX_IMPORT_BYTES = 4 * 1024 * 1024
MAX_PAGE = 100
MAX_QUERY_CHARS = 100
NO_STORE = GatewayError(
    501,
    "This gateway keeps no conversations: set CONVERSATIONS_TABLE (a DynamoDB table) or "
    "CONVERSATIONS_DB (an SQLite file).",
)


TITLE = "/title"
#: Asks the model to name a conversation: (conversation id) -> the conversation afterwards.
Namer = Callable[[str], Conversation]


def is_conversations(path: str) -> bool:
    return path.rstrip("/") == PREFIX or path.startswith(PREFIX + "/")


def allowed_methods(path: str) -> str:
    path = path.rstrip("/")
    if path == f"{PREFIX}/{EXPORT}":
        return "GET"
    if path == PREFIX:
        return "GET, POST"
    return "POST" if path.endswith(TITLE) else "GET, PATCH, DELETE"


def route_name(path: str) -> str:
    """The route as the log names it: ids left out, so lines group by route."""
    if path.rstrip("/") == PREFIX:
        return PREFIX
    if path.rstrip("/") == f"{PREFIX}/{EXPORT}":
        return PREFIX + "/" + EXPORT
    return PREFIX + "/{id}" + (TITLE if path.rstrip("/").endswith(TITLE) else "")


def detail(conversation: Conversation) -> dict[str, Any]:
    """The summary with what only one conversation's answers carry."""
    return {
        **conversation.summary(),
        "instructions": conversation.instructions,
        "titleSource": conversation.title_source,
    }


def check_method(request: HttpRequest) -> None:
    check_allowed(request, allowed_methods(request.path), route_name(request.path))


def check_allowed(request: HttpRequest, allowed: str, route: str) -> None:
    """405 naming the methods `route` takes ("GET, POST"), for any other but OPTIONS."""
    if request.method != "OPTIONS" and request.method not in allowed.split(", "):
        raise GatewayError(
            405,
            f"{request.method} is not a method of {route}.",
            headers={"Allow": "OPTIONS, " + allowed},
        )


class ConversationApi:
    """Each call answers (status, JSON payload or None for no body) or raises GatewayError."""

    def __init__(self, store: ConversationStore | None, config: Config) -> None:
        self.store, self.config = store, config

    def handle(
        self, request: HttpRequest, namer: Namer | None = None
    ) -> tuple[int, dict[str, Any] | None]:
        if self.store is None:
            raise NO_STORE
        store, user = self.store, request.user
        rest = request.path.rstrip("/")[len(PREFIX) :].strip("/")
        route = (request.method, "id" if rest else "")
        if rest.endswith(TITLE) and rest.count("/") == 1 and namer is not None:
            check_method(request)
            try:
                conversation_id = check_id(rest[: -len(TITLE)])
            except StoreError as exc:
                raise GatewayError(exc.status, exc.message) from None
            return 200, detail(namer(conversation_id))
        try:
            if route == ("GET", ""):
                return 200, self._list(store, user, request.query)
            if route == ("POST", ""):
                return 201, self._create(store, user, request.body)
            if "/" in rest:
                raise GatewayError(404, "Not found.")
            if rest == EXPORT:
                check_method(request)
                return 200, export_page(store, user, request.query.get("cursor"))
            conversation_id = check_id(rest) if rest else ""
            if route == ("GET", "id"):
                conversation, messages = store.get(user, conversation_id)
                return 200, {
                    **detail(conversation),
                    "messages": [message.as_json() for message in messages],
                }
            if route == ("PATCH", "id"):
                return 200, detail(self._change(store, user, conversation_id, request.body))
            if route == ("DELETE", "id"):
                store.delete(user, conversation_id)
                return 204, None
        except StoreError as exc:
            raise GatewayError(exc.status, exc.message) from None
        check_method(request)  # the routes above take every allowed method
        raise AssertionError(request.method)

    def _list(self, store: ConversationStore, user: str, query: dict[str, str]) -> dict[str, Any]:
        raw_limit = query.get("limit", "50")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
            raise bad_request(f"'limit' must be a whole number from 1 to {MAX_PAGE}.")
        search = query.get("q", "").strip()
        if len(search) > MAX_QUERY_CHARS:
            raise bad_request(f"'q' is {len(search)} characters; the limit is {MAX_QUERY_CHARS}.")
        page = store.list(user, limit=int(raw_limit), cursor=query.get("cursor"), query=search)
        return {
            "conversations": [conversation.summary() for conversation in page.conversations],
            "nextCursor": page.next_cursor,
        }

    def _change(
        self, store: ConversationStore, user: str, conversation_id: str, body: bytes
    ) -> Conversation:
        """PATCH: a new title, new instructions, or both (checked before either is written)."""
        example = '{"title": "..."} or {"instructions": "..."}'
        data = load_object(body, self.config.max_body_bytes, example)
        if "title" not in data and "instructions" not in data:
            raise bad_request(f"Send what to change: {example}.")
        title = clean_title(data["title"], required=True) if "title" in data else None
        if "instructions" in data:
            instructions = clean_instructions(data["instructions"])
            conversation = store.set_instructions(user, conversation_id, instructions)
        if title is not None:
            conversation = store.rename(user, conversation_id, title)
        return conversation

    def _create(self, store: ConversationStore, user: str, body: bytes) -> dict[str, Any]:
        if len(body) > MAX_IMPORT_BYTES:
            raise GatewayError(
                413,
                f"The request is {len(body)} bytes; the limit is {MAX_IMPORT_BYTES} "
                "(one conversation per request): import a smaller conversation.",
            )
        data = load_object(body or b"{}", MAX_IMPORT_BYTES, '{"title": "..."}')
        title = clean_title(data.get("title"), required=False)
        instructions = clean_instructions(data.get("instructions"))
        messages = self._imported(data.get("messages"))
        if not messages and len(body) > self.config.max_body_bytes:
            raise GatewayError(
                413, f"The request is {len(body)} bytes; the limit is {self.config.max_body_bytes}."
            )
        conversation = store.create(user, title, instructions)
        if messages:
            first = next((m.content for m in messages if m.role == "user"), "")
            try:
                conversation = store.append(
                    user, conversation.id, messages, title=title_from(first)
                )
            except BaseException:
                # All or nothing: an import that fails half way leaves no empty conversation
                # (and if the database refuses that too, the first error is the one to report).
                with contextlib.suppress(Exception):
                    store.delete(user, conversation.id)
                raise
        return conversation.summary()

    def _imported(self, raw: Any) -> list[Message]:
        """What a browser kept before conversations were stored, brought in once."""
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise bad_request("'messages' must be a list of {role, content} objects.")
        if len(raw) > MAX_MESSAGES:
            raise bad_request(f"'messages' has {len(raw)} messages; the limit is {MAX_MESSAGES}.")
        messages = []
        for index, item in enumerate(raw):
            where = f"messages[{index}]"
            if not isinstance(item, dict) or item.get("role") not in ("user", "assistant"):
                raise bad_request(f"{where} must be an object with role user or assistant.")
            role = item["role"]
            limit = (
                self.config.max_message_chars if role == "user" else self.config.max_history_chars
            )
            content = check_history_message(item.get("content"), f"{where}.content", limit)
            messages.append(Message(role, content, stopped=item.get("stopped") is True))
        return messages
