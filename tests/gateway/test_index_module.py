"""The deployed entry point: `index.lambda_handler`, set up once at import, no network at import."""

import importlib
import json
import sys

import pytest

from tests.support.lambda_events import LambdaContext, with_body
from tests.support.upstreams import FaultyServer


def test_index_lambda_handler(monkeypatch: pytest.MonkeyPatch, faulty: FaultyServer) -> None:
    monkeypatch.setenv("UPSTREAM_URL", f"{faulty.url}/says-indexed")
    monkeypatch.setenv("UPSTREAM_URL_PARAMETER", "")
    sys.modules.pop("index", None)
    index = importlib.import_module("index")
    response = index.lambda_handler(with_body({"message": "hi"}), LambdaContext())
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["response"] == "indexed"


def test_import_needs_no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    # A parameter name is configured, but nothing is read until a request arrives.
    monkeypatch.setenv("UPSTREAM_URL_PARAMETER", "/simplechat/url")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # would fail if contacted
    sys.modules.pop("index", None)
    importlib.import_module("index")
