"""`GET /conversations/export`: all of a user's conversations, in pages a Lambda can answer."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from chat_gateway.store import (
    ID_PATTERN,
    BadCursor,
    Conversation,
    ConversationStore,
    NotFound,
    decode_cursor,
    encode_cursor,
)

#: The messages of one page, as JSON text: far below Lambda's 6 MB response limit even after the
#: body is escaped once more inside a buffered Lambda result.
PAGE_BYTES = 1024 * 1024
#: Conversations read for one page: each is a database query, and the page must come back well
#: within API Gateway's time limit.
PAGE_CONVERSATIONS = 50
LIST_BATCH = 25
BAD_CURSOR = "'cursor' is not a cursor this export gave out; start the export again."


@dataclass(frozen=True)
class Position:
    """Where a page starts: after list position `after`, in conversation `id` at message `skip`."""

    after: str | None = None
    id: str | None = None
    skip: int = 0

    def encode(self) -> str:
        raw = json.dumps([self.after, self.id, self.skip], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str | None) -> Position:
        if not cursor:
            return cls()
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            after, conversation_id, skip = json.loads(raw)
            if after is not None:
                decode_cursor(after)  # BadCursor for anything the list did not make
        except (binascii.Error, ValueError, TypeError, RecursionError, BadCursor):
            raise BadCursor(BAD_CURSOR) from None
        if not (
            (conversation_id is None or ID_PATTERN.fullmatch(str(conversation_id)))
            and type(skip) is int
            and skip >= 0
        ):
            raise BadCursor(BAD_CURSOR)
        return cls(after, conversation_id, skip)


def size_of(item: object) -> int:
    return len(json.dumps(item, ensure_ascii=False).encode("utf-8"))


def export_page(
    store: ConversationStore, user: str, cursor: str | None, *, budget: int | None = None
) -> dict[str, Any]:
    """Conversations newest first, each `{...Summary, "messages", "firstMessage"}`; a
    conversation larger than a page continues on the next one (`firstMessage` > 0 there).
    The cursor names a conversation id but never a user: a cursor handed to another user
    reads only that user's conversations (another's id is not found and is skipped)."""
    position = Position.decode(cursor)
    budget = budget or PAGE_BYTES
    out: list[dict[str, Any]] = []
    used = 0
    after, pending, skip = position.after, [position.id] if position.id else [], position.skip
    listed_to: dict[str, str] = {}  # id -> the list position after it
    while len(out) < PAGE_CONVERSATIONS:
        if not pending:
            page = store.list(user, limit=LIST_BATCH, cursor=after)
            pending = [c.id for c in page.conversations]
            listed_to.update({c.id: encode_cursor(c.updated_at, c.id) for c in page.conversations})
            if not pending:
                return {"conversations": out, "nextCursor": None}
        conversation_id = pending.pop(0)
        try:
            conversation, messages = store.get(user, conversation_id)
        except NotFound:  # deleted since the page before (or never this user's)
            after, skip = listed_to.get(conversation_id, after), 0
            continue
        taken: list[dict[str, object]] = []
        for message in messages[skip:]:
            item = message.as_json()
            size = size_of(item)
            if used + size > budget and (out or taken):
                if taken:
                    out.append(chunk(conversation, taken, skip))
                resume = Position(after, conversation.id, skip + len(taken))
                return {"conversations": out, "nextCursor": resume.encode()}
            taken.append(item)
            used += size
        out.append(chunk(conversation, taken, skip))
        after = listed_to.get(conversation.id) or encode_cursor(
            conversation.updated_at, conversation.id
        )
        skip = 0
    return {"conversations": out, "nextCursor": Position(after).encode()}


def chunk(
    conversation: Conversation, messages: list[dict[str, object]], first: int
) -> dict[str, Any]:
    """A `Part`; the conversation's instructions, where it has some, travel in every part."""
    part: dict[str, Any] = conversation.summary()
    if conversation.instructions:
        part["instructions"] = conversation.instructions
    return {**part, "messages": messages, "firstMessage": first}
