"""A chat turn in a stored conversation: the history it is asked with, and the turn kept after."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from chat_gateway.chat_request import ChatInput
from chat_gateway.config import Config
from chat_gateway.conversation_api import NO_STORE
from chat_gateway.errors import GatewayError, bad_request
from chat_gateway.instructions import instruction_turns
from chat_gateway.store import ConversationStore, Message, StoreError, check_id, title_from


@dataclass(frozen=True)
class StoredTurn:
    """Checked before the model is asked; `save` stores the user turn and its answer together."""

    store: ConversationStore
    user: str
    conversation_id: str
    before: list[Message]  # what stays: the stored messages before this turn
    keep: int | None
    message: str

    def save(self, answer: str, stopped: bool) -> dict[str, Any]:
        """The fields the answer carries besides the text (JSON answer and `done` event)."""
        turn = [Message("user", self.message), Message("assistant", answer, stopped=stopped)]
        try:
            if stopped and not answer:
                # Stopped before a word: nothing to keep (the UI puts the message back in the
                # box to edit and send again), as with a failed answer.
                turn = []
                conversation, _ = self.store.get(self.user, self.conversation_id)
            else:
                conversation = self.store.append(
                    self.user,
                    self.conversation_id,
                    turn,
                    keep=self.keep,
                    title=title_from(self.message),
                )
        except StoreError as exc:  # e.g. deleted in another tab while the answer was written
            raise GatewayError(
                exc.status, f"The answer could not be kept in the conversation: {exc.message}"
            ) from None
        history = [{"role": m.role, "content": m.content} for m in [*self.before, *turn]]
        return {
            "conversationId": self.conversation_id,
            "conversation": conversation.summary(),
            "conversationHistory": history,
        }


def prepare_turn(
    store: ConversationStore | None, user: str, chat: ChatInput, config: Config
) -> tuple[ChatInput, StoredTurn | None]:
    """For a request naming a conversation: the chat with the stored history the model sees,
    and the turn to save. Any other request is passed through as it came."""
    if chat.conversation_id is None:
        return chat, None
    if store is None:
        raise NO_STORE
    try:
        conversation_id = check_id(chat.conversation_id)
        conversation, messages = store.get(user, conversation_id)
    except StoreError as exc:
        raise GatewayError(exc.status, exc.message) from None
    keep = chat.edit_from
    if keep is not None and (keep >= len(messages) or messages[keep].role != "user"):
        raise bad_request(
            f"'editFrom' {keep} is not the index of a message you sent in this conversation "
            f"(it has {len(messages)} messages)."
        )
    before = messages if keep is None else messages[:keep]
    turn = StoredTurn(store, user, conversation_id, before, keep, chat.message)
    history = [*instruction_turns(conversation.instructions), *model_history(before, config)]
    return dataclasses.replace(chat, history=history), turn


def model_history(messages: list[Message], config: Config) -> list[dict[str, str]]:
    """The newest stored messages within the gateway's history limits, oldest first: a long
    conversation stays whole in the store while the model sees what fits."""
    kept: list[dict[str, str]] = []
    chars = 0
    for message in reversed(messages):
        chars += len(message.content)
        if len(kept) >= config.max_history_messages or chars > config.max_history_chars:
            break
        kept.append({"role": message.role, "content": message.content})
    kept.reverse()
    while kept and kept[0]["role"] == "assistant":  # chat templates expect a user turn first
        kept.pop(0)
    return kept
