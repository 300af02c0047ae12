"""Shared fixtures: settings, the fake-engine API client, the real engines on the bundled model."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from simplechat.api.app import create_app
from simplechat.engines.base import Engine
from simplechat.engines.fake import FakeEngine
from simplechat.engines.llamacpp import LlamaCppEngine
from simplechat.model_source import bundled_model_path
from tests.support.settings import make_settings

# tests/vllm run real vLLM (its CPU build), which lives in a venv of its own: `make test` runs
# them there (`make pytest-vllm`); the app's venv, without vLLM, leaves them to that run.
collect_ignore = [] if importlib.util.find_spec("vllm") else ["vllm"]

#: Every blocking socket operation in the tests' own process that sets no timeout of its own (a
#: urlopen, a raw socket, an in-process test server's read) gives up after this: a server that
#: never answers fails that read, well inside pyproject's per-test limit, instead of hanging.
SOCKET_SECONDS = 120
socket.setdefaulttimeout(SOCKET_SECONDS)


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine(model_name="fake-model", context_length=2048)


@pytest.fixture
def client(fake_engine: FakeEngine) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(), fake_engine)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def bundled_model() -> Path:
    return bundled_model_path()


@pytest.fixture(scope="session")
def llama_engine(bundled_model: Path) -> Iterator[Engine]:
    # No prompt cache here: tests that compare answers exactly need every prompt decoded the
    # same way (a cached prefix is decoded in a different batch shape, which can flip a greedy
    # token). The cache has its own engine below.
    engine = LlamaCppEngine(
        bundled_model,
        model_name="smollm2",
        context_length=2048,
        threads=2,
        max_batch=4,
        prompt_cache=False,
        weight_type="file",  # one weight set: the same answers alone and together
    )
    yield engine
    asyncio.run(engine.aclose())


@pytest.fixture(scope="session")
def cached_llama_engine(bundled_model: Path) -> Iterator[LlamaCppEngine]:
    """The default configuration: shared prompt prefixes are reused from the KV cache."""
    engine = LlamaCppEngine(
        bundled_model, model_name="smollm2", context_length=2048, threads=2, max_batch=2
    )
    yield engine
    asyncio.run(engine.aclose())


@pytest.fixture(scope="session")
def transformers_engine(bundled_model: Path) -> Iterator[Engine]:
    """The same GGUF through transformers' GGUF loader (dequantized, on the CPU here)."""
    from simplechat.engines.transformers import TransformersEngine

    # max_batch > 1: transformers' continuous batching serves the requests (seeded ones excepted)
    engine = TransformersEngine(
        str(bundled_model), model_name="smollm2", context_length=2048, threads=2, max_batch=4
    )
    yield engine
    asyncio.run(engine.aclose())


@pytest.fixture(params=["llamacpp", "transformers"], scope="session")
def real_engine(request: pytest.FixtureRequest) -> Engine:
    """Each real engine in turn, for behaviour both must share."""
    fixture = "llama_engine" if request.param == "llamacpp" else "transformers_engine"
    engine: Engine = request.getfixturevalue(fixture)
    return engine


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Any]]:
    """A moto server on 127.0.0.1 standing in for SSM and Secrets Manager; yields a client maker."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto keeps its state per process: start every test from an empty account.
    urllib.request.urlopen(
        urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield lambda service: boto3.client(service)
    server.stop()
