"""The web UI's request body: `{"message", "conversationHistory"}`, checked against the limits."""

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


def parse_chat_body(body: bytes, config: Config) -> ChatInput:
    if len(body) > config.max_body_bytes:
        raise GatewayError(
            413, f"The request is {len(body)} bytes; the limit is {config.max_body_bytes}."
        )
    if not body.strip():
        raise bad_request('The request body is empty. Send JSON: {"message": "..."}.')
    try:
        data = json.loads(body)
    except RecursionError:
        raise bad_request("The request body is nested too deeply to be a chat request.") from None
    except ValueError:  # bad JSON or UTF-8, or a number too long for Python to read
        raise bad_request("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise bad_request('The request body must be a JSON object: {"message": "..."}.')
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
    return ChatInput(message=message, history=_history(data.get("conversationHistory"), config))


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
