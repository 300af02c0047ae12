"""Conversations kept per user: the records and the interface both stores implement."""

from __future__ import annotations

import base64
import binascii
import builtins
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

#: A user keeps at most this many conversations, and a conversation this many messages.
MAX_CONVERSATIONS = 1000
MAX_MESSAGES = 1000
MAX_TITLE_CHARS = 200
#: The title the first message gives a conversation that has none.
AUTO_TITLE_CHARS = 60
#: A conversation's own instructions (its system prompt) and a user's saved presets.
MAX_INSTRUCTIONS_CHARS = 4000
MAX_PRESETS = 50
MAX_PRESET_NAME_CHARS = 60
#: Who named a conversation: its first message, the model (after the first answer), or the user.
#: The user's title is never replaced; "" while it has no title.
TITLE_SOURCES = ("", "first", "model", "user")
ID_PATTERN = re.compile(r"[0-9a-f]{32}")
TIMESTAMP_PATTERN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
ROLES = ("user", "assistant")


class StoreError(Exception):
    """A request the store refuses; `status` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(StoreError):
    status = 404


class TooMany(StoreError):
    """A limit of MAX_CONVERSATIONS or MAX_MESSAGES would be passed."""

    status = 409


class BadCursor(StoreError):
    status = 400


class Unavailable(StoreError):
    """The database kept refusing writes (throttled, busy); the same request may work later."""

    status = 503


@dataclass(frozen=True)
class Conversation:
    id: str
    title: str
    created_at: str
    updated_at: str
    #: Sent to the model after the operator's system prompt, before the messages.
    instructions: str = ""
    title_source: str = ""

    def summary(self) -> dict[str, str]:
        return {
            "id": self.id,
            "title": self.title,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


@dataclass(frozen=True)
class Message:
    role: str  # "user" or "assistant"
    content: str
    created_at: str = ""
    stopped: bool = False

    def as_json(self) -> dict[str, object]:
        item: dict[str, object] = {
            "role": self.role,
            "content": self.content,
            "createdAt": self.created_at,
        }
        if self.stopped:
            item["stopped"] = True
        return item


@dataclass(frozen=True)
class Preset:
    """Instructions a user saved under a name, to apply to any conversation."""

    id: str
    name: str
    instructions: str
    created_at: str
    updated_at: str

    def as_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "instructions": self.instructions,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


@dataclass(frozen=True)
class Page:
    conversations: list[Conversation]
    next_cursor: str | None


class ConversationStore(Protocol):
    """Every method takes the user first; no call reaches another user's conversations."""

    def create(self, user: str, title: str = "", instructions: str = "") -> Conversation:
        """A new, empty conversation (a title given here is the user's); TooMany past
        MAX_CONVERSATIONS."""
        ...

    def list(
        self, user: str, *, limit: int = 50, cursor: str | None = None, query: str = ""
    ) -> Page:
        """Newest `updated_at` first; `query`: case-insensitive substring of the title."""
        ...

    def get(self, user: str, conversation_id: str) -> tuple[Conversation, builtins.list[Message]]:
        """The conversation and all its messages in order; NotFound if not this user's."""
        ...

    def rename(self, user: str, conversation_id: str, title: str) -> Conversation:
        """Sets the user's title, which nothing replaces afterwards; `updated_at` stays as it
        was, so the list keeps ordering conversations by their last message, not by the last
        rename."""
        ...

    def name_by_model(self, user: str, conversation_id: str, title: str) -> Conversation:
        """Sets the model's title unless the user named the conversation (then it is left as
        it is, atomically, so a rename in between wins); the conversation afterwards."""
        ...

    def set_instructions(self, user: str, conversation_id: str, instructions: str) -> Conversation:
        """Replaces the conversation's instructions ("" removes them); `updated_at` stays."""
        ...

    def presets(self, user: str) -> builtins.list[Preset]:
        """The user's presets, oldest first."""
        ...

    def save_preset(
        self, user: str, name: str, instructions: str, preset_id: str | None = None
    ) -> Preset:
        """A new preset (TooMany past MAX_PRESETS), or `preset_id`'s changed (NotFound if not
        this user's)."""
        ...

    def delete_preset(self, user: str, preset_id: str) -> None:
        """NotFound if not this user's."""
        ...

    def delete(self, user: str, conversation_id: str) -> None:
        """The conversation and every message of it; NotFound if not this user's."""
        ...

    def append(
        self,
        user: str,
        conversation_id: str,
        messages: Sequence[Message],
        *,
        keep: int | None = None,
        title: str = "",
    ) -> Conversation:
        """Adds `messages` (their created_at set here); `keep`: first drop the stored messages
        from that index on (edit, regenerate). `title` names a conversation that has none.
        NotFound if not this user's; TooMany past MAX_MESSAGES."""
        ...


Clock = Callable[[], float]


def timestamp(clock: Clock = time.time) -> str:
    """ISO 8601 UTC with milliseconds, which sorts as text in time order."""
    moment = datetime.fromtimestamp(clock(), tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def check_id(conversation_id: str) -> str:
    if not isinstance(conversation_id, str) or not ID_PATTERN.fullmatch(conversation_id):
        raise StoreError(f"{conversation_id!r} is not a conversation id (32 hex digits).")
    return conversation_id


def check_text(value: str, what: str) -> str:
    """`value` if it can be stored: JSON lets a lone surrogate (half an emoji) through, but
    no UTF-8 database takes one."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise StoreError(f"{what} is not valid Unicode text (it has half a character).") from None
    return value


def clean_title(title: object, *, required: bool) -> str:
    if title is None and not required:
        return ""
    if not isinstance(title, str):
        raise StoreError("'title' must be a string.")
    cleaned = " ".join(check_text(title, "'title'").split())
    if required and not cleaned:
        raise StoreError("'title' must not be empty.")
    if len(cleaned) > MAX_TITLE_CHARS:
        raise StoreError(f"The title is {len(cleaned)} characters; the limit is {MAX_TITLE_CHARS}.")
    return cleaned


def clean_instructions(instructions: object) -> str:
    """Instructions as stored: a string within MAX_INSTRUCTIONS_CHARS, ends trimmed."""
    if instructions is None:
        return ""
    if not isinstance(instructions, str):
        raise StoreError("'instructions' must be a string.")
    cleaned = check_text(instructions, "'instructions'").strip()
    if len(cleaned) > MAX_INSTRUCTIONS_CHARS:
        raise StoreError(
            f"The instructions are {len(cleaned)} characters; the limit is "
            f"{MAX_INSTRUCTIONS_CHARS}. Shorten them."
        )
    return cleaned


def clean_preset_name(name: object) -> str:
    if not isinstance(name, str):
        raise StoreError("'name' is required and must be a string.")
    cleaned = " ".join(check_text(name, "'name'").split())
    if not cleaned:
        raise StoreError("A preset needs a name.")
    if len(cleaned) > MAX_PRESET_NAME_CHARS:
        raise StoreError(
            f"The preset name is {len(cleaned)} characters; the limit is {MAX_PRESET_NAME_CHARS}."
        )
    return cleaned


def clean_preset(name: object, instructions: object) -> tuple[str, str]:
    """A preset's name and instructions as stored; a preset without instructions is refused."""
    cleaned = clean_instructions(instructions)
    if not cleaned:
        raise StoreError("A preset needs instructions: write what the model should do.")
    return clean_preset_name(name), cleaned


def check_preset_id(preset_id: str) -> str:
    if not isinstance(preset_id, str) or not ID_PATTERN.fullmatch(preset_id):
        raise StoreError(f"{preset_id!r} is not a preset id (32 hex digits).")
    return preset_id


def preset_not_found(preset_id: str) -> NotFound:
    return NotFound(f"There is no preset {preset_id} of yours (deleted, or never yours).")


def too_many_presets() -> TooMany:
    return TooMany(
        f"You keep {MAX_PRESETS} presets, the most there can be; delete one to save another."
    )


def title_from(message: str) -> str:
    """The first line of the first message, white space collapsed, cut with an ellipsis."""
    lines = [line for line in message.splitlines() if line.strip()]
    first = " ".join(lines[0].split()) if lines else ""
    if len(first) <= AUTO_TITLE_CHARS:
        return first
    return first[: AUTO_TITLE_CHARS - 1].rstrip() + "…"


def not_found(conversation_id: str) -> NotFound:
    """The one answer for another user's, a deleted or an unknown id, so ids cannot be probed."""
    return NotFound(
        f"There is no conversation {conversation_id} of yours (deleted, or never yours)."
    )


def encode_cursor(updated_at: str, conversation_id: str) -> str:
    """The list position after this conversation: opaque to clients, and naming no user."""
    raw = json.dumps([updated_at, conversation_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """(updated_at, id) from `encode_cursor`; BadCursor for anything it did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        updated_at, conversation_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, RecursionError):
        raise BadCursor(
            "'cursor' is not a cursor this list gave out; start from the first page."
        ) from None
    if not (
        isinstance(updated_at, str)
        and isinstance(conversation_id, str)
        and TIMESTAMP_PATTERN.fullmatch(updated_at)
        and ID_PATTERN.fullmatch(conversation_id)
    ):
        raise BadCursor("'cursor' is not a cursor this list gave out; start from the first page.")
    return updated_at, conversation_id


def check_append(messages: Sequence[Message], keep: int | None, stored: int) -> int:
    """How many messages the conversation keeps before `messages` are added; StoreError for a
    message no store can keep or a `keep` past the `stored` messages, TooMany past the limit."""
    for index, message in enumerate(messages):
        if message.role not in ROLES or not isinstance(message.content, str):
            raise StoreError(
                f"messages[{index}] must have role user or assistant and text content."
            )
        check_text(message.content, f"messages[{index}].content")
    kept = stored if keep is None else keep
    if isinstance(kept, bool) or not isinstance(kept, int) or not 0 <= kept <= stored:
        raise StoreError(f"There is no message {keep} to edit from: the conversation has {stored}.")
    if kept + len(messages) > MAX_MESSAGES:
        raise TooMany(
            f"A conversation keeps at most {MAX_MESSAGES} messages; start a new conversation."
        )
    return kept
