"""The web UI's request body: `{"message", "conversationHistory"}` or `{"message",
"conversationId", "editFrom"}` (docs/conversations.md), checked against the limits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chat_gateway.config import Config
from chat_gateway.errors import GatewayError, bad_request

ROLES = ("user", "assistant", "system")


@dataclass(frozen=True)
class ChatInput:
    message: str
    history: list[dict[str, str]]
    #: A stored conversation: its history comes from the store, not the body.
    conversation_id: str | None = None
    #: The index of the stored user message this turn replaces (edit, regenerate).
    edit_from: int | None = None
    #: Fewer tokens than the gateway's MAX_TOKENS (a title); None: MAX_TOKENS.
    max_tokens: int | None = None

    def token_limit(self, config: Config) -> int:
        return min(self.max_tokens or config.max_tokens, config.max_tokens)


def load_object(body: bytes, max_bytes: int, example: str) -> dict[str, Any]:
    """A JSON object body, or a 4xx that says what to send (`example`)."""
    if len(body) > max_bytes:
        raise GatewayError(413, f"The request is {len(body)} bytes; the limit is {max_bytes}.")
    if not body.strip():
        raise bad_request(f"The request body is empty. Send JSON: {example}.")
    try:
        data = json.loads(body)
    except RecursionError:
        raise bad_request("The request body is nested too deeply to be read.") from None
    except ValueError:  # bad JSON or UTF-8, or a number too long for Python to read
        raise bad_request("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise bad_request(f"The request body must be a JSON object: {example}.")
    return data


def parse_chat_body(body: bytes, config: Config) -> ChatInput:
    data = load_object(body, config.max_body_bytes, '{"message": "..."}')
    message = data.get("message")
    if not isinstance(message, str):
        raise bad_request("'message' is required and must be a string.")
    if not message.strip():
        raise bad_request("'message' must not be empty.")
    _check_unicode(message, "'message'")
    if len(message) > config.max_message_chars:
        raise bad_request(
            f"The message is {len(message)} characters; the limit is {config.max_message_chars}."
        )
    conversation_id = data.get("conversationId")
    if conversation_id is None:
        return ChatInput(message, _history(data.get("conversationHistory"), config))
    if not isinstance(conversation_id, str):
        raise bad_request("'conversationId' must be a string: the id of one of your conversations.")
    edit_from = data.get("editFrom")
    if edit_from is not None and (
        isinstance(edit_from, bool) or not isinstance(edit_from, int) or edit_from < 0
    ):
        raise bad_request("'editFrom' must be the index (0 or more) of a message you sent.")
    return ChatInput(message, [], conversation_id=conversation_id, edit_from=edit_from)


def check_history_message(content: object, where: str, limit: int) -> str:
    """One stored or imported message's text: a string of valid Unicode within `limit`."""
    if not isinstance(content, str):
        raise bad_request(f"{where} must be a string.")
    _check_unicode(content, where)
    if len(content) > limit:
        raise bad_request(f"{where} is {len(content)} characters; the limit is {limit}.")
    return content


def _history(raw: Any, config: Config) -> list[dict[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise bad_request("'conversationHistory' must be a list of {role, content} objects.")
    if len(raw) > config.max_history_messages:
        raise bad_request(
            f"The conversation has {len(raw)} messages; the limit is "
            f"{config.max_history_messages}. Clear the conversation to go on."
        )
    history: list[dict[str, str]] = []
    for index, turn in enumerate(raw):
        if not isinstance(turn, dict):
            raise bad_request(
                f"conversationHistory[{index}] must be an object with role and content."
            )
        role, content = turn.get("role"), turn.get("content")
        if role not in ROLES:
            raise bad_request(
                f"conversationHistory[{index}].role must be one of {', '.join(ROLES)}."
            )
        if not isinstance(content, str):
            raise bad_request(f"conversationHistory[{index}].content must be a string.")
        _check_unicode(content, f"conversationHistory[{index}].content")
        history.append({"role": str(role), "content": content})
    total = sum(len(turn["content"]) for turn in history)
    if total > config.max_history_chars:
        raise bad_request(
            f"The conversation is {total} characters long; the limit is "
            f"{config.max_history_chars}. Clear the conversation to go on."
        )
    return history


def _check_unicode(text: str, where: str) -> None:
    """JSON may carry a lone UTF-16 surrogate (\\ud800): no character, so it cannot be sent on."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request(
            f"{where} contains an unpaired surrogate (a \\ud800-\\udfff escape on its own); "
            "send valid Unicode text."
        ) from None
