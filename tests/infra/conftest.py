"""Synthesizes the CDK app once, offline (no AWS credentials), with cdk-nag's AwsSolutions."""

from __future__ import annotations

import json
import os

import pytest

from tests.support.cdk_template import Synthesized, synthesize

__all__ = ["Synthesized", "synthesize"]  # the names older tests import from here

# jsii repeats a banner that Node 20 (this machine's) is past end of life; the README notes it.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, _ = synthesize(outdir, upstreamUrl="https://example-tunnel.ngrok-free.app")
    app.synth()  # raises if any AwsSolutions finding is not acknowledged
    template = json.loads((outdir / "Simplechat.template.json").read_text())
    return Synthesized(outdir, template)
