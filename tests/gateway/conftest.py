"""Gateway fixtures: event files, real and faulty model servers, moto, a Lambda context."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chat_gateway.server import GatewayServer

from tests.support.gateway_http import Client
from tests.support.lambda_events import (  # noqa: F401  (the names older tests import from here)
    EVENTS,
    ORIGIN,
    LambdaContext,
    call,
    load_event,
    make_gateway,
    with_body,
)
from tests.support.processes import ServerProcess
from tests.support.upstreams import FaultyServer


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Our inference server with the bundled model, as the gateway's real upstream."""
    server = ServerProcess([], tmp_path_factory.mktemp("gateway-upstream") / "server.log")
    yield server
    server.stop()


@pytest.fixture
def faulty() -> Iterator[FaultyServer]:
    """One per test: tests read what it received and set the key it expects."""
    server = FaultyServer()
    yield server
    server.stop()


# Two users of the module's own `gateway` fixture (a GatewayServer): for the ownership attacks.
@pytest.fixture
def alice(gateway: GatewayServer) -> Client:
    return Client(gateway, "alice-sub")


@pytest.fixture
def bob(gateway: GatewayServer) -> Client:
    return Client(gateway, "bob-sub")
