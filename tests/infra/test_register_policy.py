"""The least IAM for `simplechat register`: a stack output, and opt-in a managed policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simplechat_infra.register_policy import KEY_ACTIONS, URL_ACTIONS

from tests.support.cdk_template import Synthesized, synthesize


def render(value: Any) -> str:
    """A CloudFormation string (plain or Fn::Join) with each Ref as <LogicalId> and each
    pseudo parameter (AWS::Region) as <AWS::Region>."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    [(function, (separator, parts))] = value.items()
    assert function == "Fn::Join", value
    return str(separator).join(render(part) for part in parts)


def policy_from_output(template: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render(template["Outputs"]["RegisterPolicy"]["Value"]))
    return document


def test_the_output_is_the_least_policy_for_register(synthesized: Synthesized) -> None:
    template = synthesized.template
    parameter_id, _ = synthesized.one("AWS::SSM::Parameter")
    secret_id, _ = synthesized.one("AWS::SecretsManager::Secret")
    document = policy_from_output(template)
    assert document["Version"] == "2012-10-17"
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert set(by_sid) == {"RegisterTheModelServerUrl", "RegisterTheModelServerKey"}
    url, key = by_sid["RegisterTheModelServerUrl"], by_sid["RegisterTheModelServerKey"]
    # exactly what src/simplechat/register.py calls, on exactly the stack's two resources
    assert sorted(url["Action"]) == sorted(URL_ACTIONS) == ["ssm:GetParameter", "ssm:PutParameter"]
    assert [key["Action"]] == KEY_ACTIONS == ["secretsmanager:PutSecretValue"]
    # the parameter's name starts with "/": "parameter" + "/simplechat/upstream-url"
    assert url["Resource"] == (
        f"arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter<{parameter_id}>"
    )
    assert key["Resource"] == f"<{secret_id}>"  # the secret's full ARN, random suffix included
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert "*" not in json.dumps(statement)
    # no managed policy unless asked for
    assert not synthesized.resources("AWS::IAM::ManagedPolicy")
    assert "RegisterPolicyArn" not in template["Outputs"]


def test_the_managed_policy_is_opt_in_and_the_same(tmp_path: Path) -> None:
    app, _ = synthesize(tmp_path, registerPolicy="true")
    app.synth()  # cdk-nag has nothing to say about it
    template = json.loads((tmp_path / "Simplechat.template.json").read_text())
    [(policy_id, policy)] = [
        (k, v) for k, v in template["Resources"].items() if v["Type"] == "AWS::IAM::ManagedPolicy"
    ]
    assert not {"Roles", "Users", "Groups"} & set(policy["Properties"])  # the operator attaches it
    rendered = json.loads(json.dumps(policy["Properties"]["PolicyDocument"]))
    statements = rendered["Statement"]
    output = policy_from_output(template)["Statement"]
    assert [s["Sid"] for s in statements] == [s["Sid"] for s in output]
    assert [s["Action"] for s in statements] == [s["Action"] for s in output]
    assert template["Outputs"]["RegisterPolicyArn"]["Value"] == {"Ref": policy_id}
