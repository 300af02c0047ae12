"""Synthesizes the CDK app once, offline (no AWS credentials), with cdk-nag's AwsSolutions."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# jsii repeats a banner that Node 20 (this machine's) is past end of life; the README notes it.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


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


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, _ = synthesize(outdir, upstreamUrl="https://example-tunnel.ngrok-free.app")
    app.synth()  # raises if any AwsSolutions finding is not acknowledged
    template = json.loads((outdir / "Simplechat.template.json").read_text())
    return Synthesized(outdir, template)
