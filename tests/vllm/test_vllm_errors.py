"""vLLM's own exceptions (from the installed vLLM, not stand-ins) in our terms, and so in our
error envelope with the status a client can act on (api/errors.py, api/chat_stream.py)."""

from __future__ import annotations

import pytest
from vllm import exceptions as vllm_errors
from vllm.v1.engine.exceptions import EngineDeadError, EngineGenerateError

from simplechat.api.chat_stream import failure
from simplechat.engines.base import EngineBusy, EngineError, EngineUnavailable, UpstreamRejected
from simplechat.engines.vllm_mapping import engine_error


@pytest.mark.parametrize(
    ("raised", "ours"),
    [
        (vllm_errors.QueueOverflowError(), EngineBusy),
        (vllm_errors.MaxQueuedTokensError(), EngineBusy),
        (vllm_errors.VLLMValidationError("top_k must be -1 or at least 1", parameter="top_k"),
         UpstreamRejected),
        (vllm_errors.VLLMNotFoundError("no such adapter"), UpstreamRejected),
        (ValueError("max_tokens must be at least 1"), UpstreamRejected),
        (vllm_errors.RetryableRequestError(), EngineUnavailable),
        (EngineDeadError(), EngineUnavailable),
        (EngineGenerateError(), EngineError),
    ],
)  # fmt: skip
def test_vllms_exceptions_become_ours(raised: Exception, ours: type[EngineError]) -> None:
    mapped = engine_error(raised)
    assert type(mapped) is ours
    assert str(mapped)  # a sentence for the client, never empty


def test_each_becomes_the_status_a_client_can_act_on() -> None:
    statuses = {
        name: failure(engine_error(exc))[0]
        for name, exc in {
            "busy": vllm_errors.QueueOverflowError(),
            "refused": vllm_errors.VLLMValidationError("bad", parameter="top_k"),
            "retry": vllm_errors.RetryableRequestError(),
            "dead": EngineDeadError(),
        }.items()
    }
    assert statuses == {"busy": 429, "refused": 400, "retry": 503, "dead": 503}
