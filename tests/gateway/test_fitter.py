"""The fitter's choice from a count reply (stubbed): turn boundaries, system messages, no fit."""

from __future__ import annotations

import json
from typing import Any

from chat_gateway.chat_request import ChatInput
from chat_gateway.config import Config
from chat_gateway.context_fit import Fitter
from chat_gateway.http_client import Reply

HISTORY = [
    {"role": "system", "content": "Answer in Japanese."},  # e.g. a conversation's own prompt
    {"role": "user", "content": "q1"},
    {"role": "assistant", "content": "a1"},
    {"role": "user", "content": "q2"},
    {"role": "assistant", "content": "a2"},
]


def fitter(fittings: list[tuple[int, int]], sent: list[dict[str, Any]]) -> Fitter:
    def post(url: str, payload: dict[str, Any], headers: dict[str, str], **_: Any) -> Reply:
        sent.append({"url": url, "payload": payload})
        body = {
            "context_length": 100,
            "fittings": [{"start": s, "prompt_tokens": n} for s, n in fittings],
        }
        return Reply(200, {}, json.dumps(body).encode())

    config = Config.from_env({"SYSTEM_PROMPT": "Be kind.", "MAX_TOKENS": "20"})
    return Fitter(config, post=post)


def test_the_oldest_boundary_that_fits_is_kept_with_the_system_messages() -> None:
    sent: list[dict[str, Any]] = []
    # As sent: [operator system, conversation system, q1, a1, q2, a2] + the new message.
    chat, report = fitter([(6, 30), (4, 60), (2, 90)], sent).fit(
        ChatInput("q3", HISTORY), 4, 2, "http://model.test", "key", 1e12
    )
    assert sent[0]["url"] == "http://model.test/chat/count"
    assert sent[0]["payload"]["conversationHistory"][:2] == [
        {"role": "system", "content": "Be kind."},
        HISTORY[0],
    ]
    assert chat.history == [HISTORY[0], *HISTORY[3:]]  # q1's turn (90 > 80) is left out
    assert (report.left_out, report.history_from, report.prompt_tokens) == (1, 2, 60)
    assert report.estimated is False and report.context_length == 100


def test_when_nothing_fits_the_new_message_goes_alone() -> None:
    chat, report = fitter([(6, 95)], []).fit(
        ChatInput("q3", HISTORY), 4, 2, "http://model.test", "", 1e12
    )
    assert chat.history == [HISTORY[0]]
    assert (report.left_out, report.history_from, report.prompt_tokens) == (2, 4, 95)
