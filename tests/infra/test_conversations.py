"""The conversations table in the template: the store's keys, PITR, encryption, kept on destroy,
and a gateway that may touch only this table, only as the store does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chat_gateway.store import Message
from chat_gateway.store_dynamodb import DynamoStore, table_definition
from chat_gateway.usage_dynamodb import DynamoUsage
from simplechat_infra.conversations import GATEWAY_ACTIONS

from tests.support.cdk_template import Synthesized, gateway_function, refs
from tests.support.clocks import TickingClock
from tests.support.dynamo import TABLE, ActionLog, dynamo_store, granted_actions


def table(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    return synthesized.one("AWS::DynamoDB::Table")


def test_the_table_has_the_keys_and_index_the_store_reads(synthesized: Synthesized) -> None:
    _, resource = table(synthesized)
    props = resource["Properties"]
    expected = table_definition("ignored")
    assert props["KeySchema"] == expected["KeySchema"]
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        expected["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    [index] = props["LocalSecondaryIndexes"]
    [wanted] = expected["LocalSecondaryIndexes"]
    assert index["IndexName"] == wanted["IndexName"]
    assert index["KeySchema"] == wanted["KeySchema"]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert "GlobalSecondaryIndexes" not in props  # every read is one user's partition


def test_the_table_is_recoverable_encrypted_and_kept_on_destroy(synthesized: Synthesized) -> None:
    _, resource = table(synthesized)
    props = resource["Properties"]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"


def every_store_call(conversations: DynamoStore, usage: DynamoUsage) -> None:
    """Each public method of both stores, on paths that reach each kind of write (a new turn,
    an edit that replaces messages, a delete of a conversation with messages)."""
    user, day, minute, now = "alice", "2026-12-02", "2026-12-02T05:47", 1_780_000_000.0
    first = conversations.create(user, "first")
    second = conversations.create(user)
    conversations.append(user, first.id, [Message("user", "hi"), Message("assistant", "hello")])
    conversations.append(user, first.id, [Message("user", "again")], keep=0)
    conversations.rename(user, second.id, "renamed")
    page = conversations.list(user, limit=1)
    conversations.list(user, limit=1, cursor=page.next_cursor)
    conversations.list(user, query="renamed")
    conversations.get(user, first.id)
    conversations.delete(user, first.id)
    usage.add_tokens(user, day, 5)
    reserved = usage.reserve_tokens(user, day, 10, 100)
    usage.settle_tokens(user, day, reserved or 0, 3)
    usage.count_request(user, day, minute, 5)
    usage.minute_requests(user, minute)
    usage.day(user, day)
    usage.acquire(user, "lease", 2, now, now + 60)
    usage.running(user, now)
    usage.release(user, "lease")


def test_the_policy_grants_exactly_the_dynamodb_actions_the_stores_use(
    synthesized: Synthesized, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The calls both stores make, under moto with a botocore hook logging each call's IAM
    action, against the synthesized policy: nothing used is missing (AccessDenied on AWS),
    nothing granted is unused."""
    log = ActionLog()
    for conversations in dynamo_store(monkeypatch, tmp_path, TickingClock(), log):
        every_store_call(conversations, DynamoUsage(TABLE, client=conversations.client))
    assert set(_actions(gateway_dynamodb_statement(synthesized))) == log.actions


def test_the_gateway_is_told_the_table(synthesized: Synthesized) -> None:
    table_id, _ = table(synthesized)
    _, function = gateway_function(synthesized)
    variables = function["Properties"]["Environment"]["Variables"]
    assert refs(variables["CONVERSATIONS_TABLE"]) == {table_id}


def gateway_dynamodb_statement(synthesized: Synthesized) -> dict[str, Any]:
    """The one statement of the gateway role's policies that grants DynamoDB actions."""
    _, function = gateway_function(synthesized)
    role_id = refs(function["Properties"]["Role"]).pop()
    statements = [
        statement
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        if role_id in refs(policy["Properties"]["Roles"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(str(a).startswith("dynamodb:") for a in _actions(statement))
    ]
    [statement] = statements
    return statement


def test_the_gateway_may_only_do_what_the_store_does_on_this_table(
    synthesized: Synthesized,
) -> None:
    table_id, _ = table(synthesized)
    statement = gateway_dynamodb_statement(synthesized)
    # The store tests check every call against GATEWAY_ACTIONS (tests/support/dynamo.py).
    assert sorted(_actions(statement)) == sorted(GATEWAY_ACTIONS)
    assert granted_actions() == set(GATEWAY_ACTIONS)
    assert not {"dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:*"} & set(_actions(statement))
    resources = statement["Resource"]
    assert len(resources) == 2 and all(refs(r) == {table_id} for r in resources)
    assert "*" not in json.dumps(resources)
    assert json.dumps(resources[1]).endswith('/index/byUpdated"]]}')


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)
