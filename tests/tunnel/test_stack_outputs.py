"""Where to register, read from the deployed stack's outputs (CloudFormation on moto)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from simplechat.register import Registrar, RegistrationError

TEMPLATE = {
    "Resources": {
        "UrlParameter": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Name": "/simplechat/upstream-url", "Type": "String", "Value": "x"},
        }
    },
    "Outputs": {
        "UpstreamUrlParameterName": {"Value": "/simplechat/upstream-url"},
        "UpstreamApiKeySecretName": {"Value": "ApiKeySecret-abc123"},
    },
}


def test_the_stack_outputs_name_the_parameter_and_secret(aws: Callable[[str], Any]) -> None:
    aws("cloudformation").create_stack(StackName="Simplechat", TemplateBody=json.dumps(TEMPLATE))
    registrar = Registrar.for_stack("Simplechat")
    assert (registrar.parameter, registrar.secret) == (
        "/simplechat/upstream-url",
        "ApiKeySecret-abc123",
    )
    assert registrar.publish_url("https://abc.ngrok-free.app")  # and it can write there
    value = aws("ssm").get_parameter(Name="/simplechat/upstream-url")["Parameter"]["Value"]
    assert value == "https://abc.ngrok-free.app"


def test_a_missing_stack_is_explained(aws: Callable[[str], Any]) -> None:
    with pytest.raises(RegistrationError, match="stack Simplechat was not found in this region"):
        Registrar.for_stack("Simplechat")


def test_a_stack_without_our_outputs_is_explained(aws: Callable[[str], Any]) -> None:
    other = {"Resources": TEMPLATE["Resources"], "Outputs": {"Other": {"Value": "1"}}}
    aws("cloudformation").create_stack(StackName="Other", TemplateBody=json.dumps(other))
    with pytest.raises(RegistrationError, match="has no output 'UpstreamUrlParameterName'"):
        Registrar.for_stack("Other")
