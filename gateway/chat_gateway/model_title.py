"""A conversation's title written by the model after its first answer (never the user's
title replaced: the store's `name_by_model` keeps a rename)."""

from __future__ import annotations

import re
from collections.abc import Callable

from chat_gateway.chat_request import ChatInput
from chat_gateway.errors import GatewayError
from chat_gateway.store import Conversation, ConversationStore, StoreError, title_from

#: Enough for a short title in any language; the model is cut off past it.
TITLE_TOKENS = 24
#: How much of the first message and answer the model reads to name the conversation.
EXCERPT_CHARS = 1500
#: Kana and CJK ideographs: a Japanese conversation is asked (and named) in Japanese.
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
ASK_EN = (
    "Write a title of at most six words for the conversation above, in the language the "
    "user wrote in. Reply with the title only."
)
ASK_JA = (
    "上の会話に、日本語で20文字以内の短いタイトルを付けてください。タイトルだけを答えてください。"
)
#: What models put around a title: "Title:", quotes, brackets, markdown marks.
LABEL = re.compile(r"^\s*(title|タイトル)\s*[:：]\s*", re.IGNORECASE)
WRAPPING = "\"'`*#_「」『』“”‘’[]()（）【】 "

#: Asks the model (metered like any chat) and answers its text.
Ask = Callable[[ChatInput], str]


def title_request(question: str, answer: str) -> ChatInput:
    ask = ASK_JA if JAPANESE.search(question) else ASK_EN
    history = [
        {"role": "user", "content": question[:EXCERPT_CHARS]},
        {"role": "assistant", "content": answer[:EXCERPT_CHARS]},
    ]
    return ChatInput(ask, history, max_tokens=TITLE_TOKENS)


def cleaned_title(text: str) -> str:
    """The model's answer as a title: its first line without labels or quotes, cut short."""
    line = LABEL.sub("", title_from(text).strip(WRAPPING))
    return line.strip(WRAPPING).rstrip("。.").strip(WRAPPING)


def name_by_model(
    store: ConversationStore, user: str, conversation_id: str, ask: Ask
) -> Conversation:
    """Asks for a title once: a conversation the user or the model named already is answered
    as it is, without asking. A model answer with no title in it leaves the first line."""
    try:
        conversation, messages = store.get(user, conversation_id)
    except StoreError as exc:
        raise GatewayError(exc.status, exc.message) from None
    if conversation.title_source in ("user", "model"):
        return conversation
    question = next((m.content for m in messages if m.role == "user"), None)
    answer = next((m.content for m in messages if m.role == "assistant" and m.content), None)
    if question is None or answer is None:
        raise GatewayError(
            409, "The conversation has no answer yet to take a title from; send a message first."
        )
    title = cleaned_title(ask(title_request(question, answer)))
    if not title:
        return conversation
    try:
        return store.name_by_model(user, conversation_id, title)
    except StoreError as exc:  # deleted meanwhile
        raise GatewayError(exc.status, exc.message) from None
