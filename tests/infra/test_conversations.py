"""The conversations table in the template: the store's keys, PITR, encryption, kept on destroy,
and a gateway that may touch only this table, only as the store does."""

from __future__ import annotations

import json
from typing import Any

from chat_gateway.store_dynamodb import table_definition
from simplechat_infra.conversations import GATEWAY_ACTIONS

from tests.infra.conftest import Synthesized
from tests.infra.test_stack import gateway_function, refs


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


def test_the_gateway_is_told_the_table(synthesized: Synthesized) -> None:
    table_id, _ = table(synthesized)
    _, function = gateway_function(synthesized)
    variables = function["Properties"]["Environment"]["Variables"]
    assert refs(variables["CONVERSATIONS_TABLE"]) == {table_id}


def test_the_gateway_may_only_do_what_the_store_does_on_this_table(
    synthesized: Synthesized,
) -> None:
    table_id, _ = table(synthesized)
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
    assert sorted(_actions(statement)) == sorted(GATEWAY_ACTIONS)
    assert not {"dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:*"} & set(_actions(statement))
    resources = statement["Resource"]
    assert len(resources) == 2 and all(refs(r) == {table_id} for r in resources)
    assert "*" not in json.dumps(resources)
    assert json.dumps(resources[1]).endswith('/index/byUpdated"]]}')


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)
