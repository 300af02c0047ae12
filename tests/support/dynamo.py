"""DynamoDB under moto for the store tests, and a log of the IAM actions the stores' calls need
(a botocore hook on the client), checked against what infra grants the gateway."""

from __future__ import annotations

import ast
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import moto
import pytest
from chat_gateway.store_dynamodb import DynamoStore, table_definition
from moto.dynamodb.responses import DynamoHandler

TABLE = "conversations"
REGION = "ap-northeast-1"
INFRA_TABLE = Path(__file__).parents[2] / "infra" / "simplechat_infra" / "conversations.py"
#: A TransactWriteItems call is authorised through the actions it is made of.
TRANSACT_PARTS = {
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
}


def granted_actions() -> set[str]:
    """GATEWAY_ACTIONS as infra/ writes it, read without importing the CDK (seconds, and a
    Node process). tests/infra checks that the synthesized policy grants exactly these."""
    for node in ast.parse(INFRA_TABLE.read_text()).body:
        if not isinstance(node, ast.Assign):
            continue
        target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "GATEWAY_ACTIONS":
            return set(ast.literal_eval(node.value))
    raise AssertionError(f"no GATEWAY_ACTIONS in {INFRA_TABLE}")


class ActionLog:
    """The IAM actions behind every DynamoDB call a client makes from `attach` on."""

    def __init__(self) -> None:
        self.actions: set[str] = set()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        client.meta.events.register("provide-client-params.dynamodb.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems":
            needed = {TRANSACT_PARTS[kind] for item in params["TransactItems"] for kind in item}
        else:
            needed = {f"dynamodb:{model.name}"}
        with self._lock:
            self.actions |= needed


def moto_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and no endpoint, profile or config file of the machine's."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))


def one_request_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each request atomically; moto's backend has no locks, so threads could
    interleave inside one UpdateItem. One request at a time is what the service promises."""
    lock = threading.Lock()
    call_action = DynamoHandler.call_action

    def serialised(handler: Any) -> Any:
        with lock:
            return call_action(handler)

    monkeypatch.setattr(DynamoHandler, "call_action", serialised)


def dynamo_store(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    clock: Callable[[], float],
    log: ActionLog | None = None,
) -> Iterator[DynamoStore]:
    """A DynamoStore on a fresh moto table. Every call it makes must be one the deployed policy
    allows: a test whose store calls anything else errors at teardown, with the action named."""
    moto_environment(monkeypatch, tmp_path)
    one_request_at_a_time(monkeypatch)
    log = log or ActionLog()
    with moto.mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(**table_definition(TABLE))
        log.attach(client)
        yield DynamoStore(TABLE, client=client, clock=clock)
    refused = log.actions - granted_actions()
    assert not refused, (
        f"the store called {sorted(refused)}, which the gateway's IAM policy does not allow: "
        "the deployed Lambda would get AccessDenied (add them to GATEWAY_ACTIONS in "
        "infra/simplechat_infra/conversations.py)"
    )


def inspector() -> Any:
    """A client of the test's own (inside the store's moto), whose calls (a Scan to look at
    every item) are not the store's and are not logged."""
    return boto3.client("dynamodb", region_name=REGION)
