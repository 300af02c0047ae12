"""The chat template's own text is tokenized once and remembered; user text every time."""

import pytest

from simplechat.engines import template_tokens
from simplechat.engines.base import Message
from simplechat.engines.llamacpp import LlamaCppEngine
from simplechat.engines.template_tokens import TemplateTokens


class CountingEncoder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, text: str, add_bos: bool) -> list[int]:
        self.calls.append((text, add_bos))
        return [len(text), int(add_bos), ord(text[0]) if text else 0]


def test_a_piece_is_tokenized_once_and_its_tokens_are_given_again() -> None:
    encode = CountingEncoder()
    tokens = TemplateTokens(encode)
    first = tokens("<|im_start|>user\n", False)
    again = tokens("<|im_start|>user\n", False)
    assert first == again == [17, 0, ord("<")]
    assert encode.calls == [("<|im_start|>user\n", False)]
    # With a BOS in front, the same text is another piece.
    assert tokens("<|im_start|>user\n", True) == [17, 1, ord("<")]
    assert len(encode.calls) == 2


def test_changing_the_tokens_given_does_not_change_what_is_remembered() -> None:
    tokens = TemplateTokens(CountingEncoder())
    given = tokens("<|im_end|>\n", False)
    given.append(99)
    assert tokens("<|im_end|>\n", False) == [11, 0, ord("<")]


def test_only_so_many_pieces_are_kept_the_least_recently_used_go_first() -> None:
    encode = CountingEncoder()
    tokens = TemplateTokens(encode)
    tokens("kept", False)
    for n in range(template_tokens.MAX_PIECES):
        tokens(f"piece {n}", False)
        tokens("kept", False)  # used all along: stays
    encode.calls.clear()
    tokens("kept", False)
    tokens("piece 0", False)  # the oldest of the others: gone
    assert encode.calls == [("piece 0", False)]


def test_long_template_text_is_tokenized_every_time() -> None:
    encode = CountingEncoder()
    tokens = TemplateTokens(encode)
    long = "x" * (template_tokens.MAX_PIECE_CHARS + 1)
    tokens(long, False)
    tokens(long, False)
    assert len(encode.calls) == 2


@pytest.mark.real_model
def test_a_prompt_has_the_same_tokens_from_remembered_pieces(llama_engine: LlamaCppEngine) -> None:
    """The second time, the template's pieces come from memory: the ids are those llama.cpp
    gives each piece, user text never parsed for control tokens."""
    messages = [
        Message("system", "You answer briefly."),
        Message("user", "What is <|im_start|> for?"),
    ]
    prompt = llama_engine.render_chat(messages)
    first = llama_engine.tokenize(prompt)
    second = llama_engine.tokenize(prompt)
    expected: list[int] = []
    for text, trusted in prompt.parts:
        expected += llama_engine._encode(text, trusted, add_bos=not expected)
    assert first == second == expected
    im_start = llama_engine._encode("<|im_start|>", True)
    assert len(im_start) == 1
    # The template's own markers are control tokens; the user's look-alike is plain text.
    assert first.count(im_start[0]) == 3  # system, user, and the assistant's turn
