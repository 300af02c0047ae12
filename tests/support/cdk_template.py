"""The synthesized CDK app for tests/infra: the template, and the parts tests look up in it."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# jsii repeats a banner that Node 20 (this machine's) is past end of life; the README notes it.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

INFRA = Path(__file__).resolve().parents[2] / "infra"


@dataclass
class Synthesized:
    outdir: Path
    template: dict[str, Any]

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == kind}

    def one(self, kind: str) -> tuple[str, dict[str, Any]]:
        [(logical_id, resource)] = [
            (k, v) for k, v in self.resources(kind).items() if "AutoDelete" not in k
        ]
        return logical_id, resource


def synthesize(outdir: Path, **context: Any) -> tuple[Any, Any]:
    import aws_cdk as cdk
    from cdk_nag import AwsSolutionsChecks
    from simplechat_infra.stack import SimplechatStack, StackSettings

    app = cdk.App(outdir=str(outdir), context=context)
    stack = SimplechatStack(app, "Simplechat", settings=StackSettings.from_context(app.node))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def refs(value: Any) -> set[str]:
    """Every logical id a CloudFormation value refers to (Ref and GetAtt)."""
    text = json.dumps(value)
    return set(re.findall(r'"Ref": "([^"]+)"', text)) | set(
        re.findall(r'"Fn::GetAtt": \["([^"]+)"', text)
    )


def gateway_function(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    functions = synthesized.resources("AWS::Lambda::Function")
    [(logical_id, function)] = [
        (k, v) for k, v in functions.items() if v["Properties"].get("Handler") == "run.sh"
    ]
    return logical_id, function


def function_env(template: dict[str, Any]) -> dict[str, Any]:
    synthesized = Synthesized(Path("."), template)
    _, function = gateway_function(synthesized)
    variables: dict[str, Any] = function["Properties"]["Environment"]["Variables"]
    return variables
