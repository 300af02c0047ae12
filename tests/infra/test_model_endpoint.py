"""The opt-in model tier (-c modelServer=sagemaker): what it deploys, what it grants, and that
without the flag the stack is the one of before (docs/aws-model.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from simplechat_infra.model_endpoint import (
    DEFAULT_INSTANCE,
    DEFAULT_MODEL,
    IMAGE_TAG,
    INFERENCE_AMI,
    STARTUP_SECONDS,
)

from tests.support.cdk_template import INFRA, Synthesized, refs, synthesize

MODEL = "google/gemma-2-2b-jpn-it"
ENDPOINT = "simplechat-model"
MODEL_CONTEXT = {
    "upstreamUrl": "https://example-tunnel.ngrok-free.app",
    "modelServer": "sagemaker",
    "model": MODEL,
    "instanceType": "ml.g6.2xlarge",
    "minInstances": "1",
    "maxInstances": "4",
    "hfTokenSecret": "simplechat/hf-token",
}
#: What the flag may add: the model tier and nothing else.
MODEL_TYPES = {
    "AWS::SageMaker::Model",
    "AWS::SageMaker::EndpointConfig",
    "AWS::SageMaker::Endpoint",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
}


@pytest.fixture(scope="module")
def with_model(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("cdk.out.model")
    app, _ = synthesize(outdir, **MODEL_CONTEXT)
    app.synth()  # raises if any AwsSolutions finding is not acknowledged
    template = json.loads((outdir / "Simplechat.template.json").read_text())
    return Synthesized(outdir, template)


def gateway(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    [(logical_id, function)] = [
        (k, v)
        for k, v in synthesized.resources("AWS::Lambda::Function").items()
        if v["Properties"].get("Handler") == "run.sh"
    ]
    return logical_id, function["Properties"]


def statements(synthesized: Synthesized, role_id: str) -> list[dict[str, Any]]:
    found = []
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def test_without_the_flag_there_is_no_model_tier(synthesized: Synthesized) -> None:
    kinds = {r["Type"] for r in synthesized.template["Resources"].values()}
    assert not {k for k in kinds if k.startswith(("AWS::SageMaker", "AWS::ApplicationAuto"))}
    _, function = gateway(synthesized)
    env = function["Environment"]["Variables"]
    assert env["UPSTREAM_PROTOCOL"] == "chat" and "SAGEMAKER_ENDPOINT_NAME" not in env
    assert "sagemaker" not in json.dumps(synthesized.template["Resources"]).lower()
    outputs = synthesized.template["Outputs"]
    assert "NextStep3Register" in outputs and "ModelEndpointName" not in outputs


def test_the_flag_adds_the_model_tier_and_changes_only_the_gateways_env_and_grant(
    synthesized: Synthesized, with_model: Synthesized
) -> None:
    before, after = synthesized.template["Resources"], with_model.template["Resources"]
    added = set(after) - set(before)
    assert set(before) <= set(after)
    assert {after[k]["Type"] for k in added} <= MODEL_TYPES
    function_id, _ = gateway(synthesized)
    role_id = refs(before[function_id]["Properties"]["Role"]).pop()
    gateway_policies = {
        k for k, v in before.items() if v["Type"] == "AWS::IAM::Policy" and
        {"Ref": role_id} in v["Properties"]["Roles"]
    }  # fmt: skip
    changed = {k for k in before if before[k] != after[k]}
    assert changed <= {function_id, *gateway_policies}, changed


def test_the_model_runs_the_pinned_vllm_image_of_the_region(with_model: Synthesized) -> None:
    _, model = with_model.one("AWS::SageMaker::Model")
    container = model["Properties"]["PrimaryContainer"]
    image = json.dumps(container["Image"])
    assert f"/vllm:{IMAGE_TAG}" in image and "Fn::FindInMap" in image
    [mapping] = with_model.template["Mappings"].values()
    assert mapping["ap-northeast-1"] == {"account": "763104351884"}  # Tokyo
    assert mapping["us-east-1"] == {"account": "763104351884"}
    assert mapping["ap-northeast-3"] == {"account": "364406365360"}  # Osaka has its own
    env = container["Environment"]
    assert env["SM_VLLM_MODEL"] == MODEL
    # the gated model's token: resolved by CloudFormation at deploy time, never in the template
    assert env["HF_TOKEN"] == "{{resolve:secretsmanager:simplechat/hf-token:SecretString:::}}"
    role_id = refs(model["Properties"]["ExecutionRoleArn"]).pop()
    role = with_model.template["Resources"][role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "sagemaker.amazonaws.com"
    }
    assert "ManagedPolicyArns" not in role  # not AmazonSageMakerFullAccess
    pull = [s for s in statements(with_model, role_id) if "ecr:BatchGetImage" in s["Action"]]
    assert "repository/vllm" in json.dumps(pull[0]["Resource"])


def test_the_endpoint_config_fits_a_gpu_model(with_model: Synthesized) -> None:
    _, config = with_model.one("AWS::SageMaker::EndpointConfig")
    [variant] = config["Properties"]["ProductionVariants"]
    assert variant["InstanceType"] == "ml.g6.2xlarge"
    assert variant["InitialInstanceCount"] == 1
    assert variant["InferenceAmiVersion"] == INFERENCE_AMI
    assert 600 <= variant["ContainerStartupHealthCheckTimeoutInSeconds"] == STARTUP_SECONDS <= 3600
    model_id, _ = with_model.one("AWS::SageMaker::Model")
    assert refs(variant["ModelName"]) == {model_id}
    _, endpoint = with_model.one("AWS::SageMaker::Endpoint")
    assert endpoint["Properties"]["EndpointName"] == ENDPOINT
    config_id, _ = with_model.one("AWS::SageMaker::EndpointConfig")
    assert refs(endpoint["Properties"]["EndpointConfigName"]) == {config_id}


def test_instances_follow_the_in_flight_requests(with_model: Synthesized) -> None:
    target_id, target = with_model.one("AWS::ApplicationAutoScaling::ScalableTarget")
    props = target["Properties"]
    assert props["ServiceNamespace"] == "sagemaker"
    assert props["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert props["ResourceId"] == f"endpoint/{ENDPOINT}/variant/AllTraffic"
    assert (props["MinCapacity"], props["MaxCapacity"]) == (1, 4)
    endpoint_id, _ = with_model.one("AWS::SageMaker::Endpoint")
    assert endpoint_id in target["DependsOn"]  # registered only once the endpoint exists
    _, policy = with_model.one("AWS::ApplicationAutoScaling::ScalingPolicy")
    tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert refs(policy["Properties"]["ScalingTargetId"]) == {target_id}
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerVariantConcurrentRequestsPerModelHighResolution"
    }
    assert tracking["TargetValue"] == 8


def test_the_gateway_may_invoke_exactly_that_endpoint(with_model: Synthesized) -> None:
    _, function = gateway(with_model)
    role_id = refs(function["Role"]).pop()
    granted = [s for s in statements(with_model, role_id) if "sagemaker" in json.dumps(s)]
    assert granted == [
        {
            "Action": "sagemaker:InvokeEndpoint",
            "Effect": "Allow",
            "Resource": {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":sagemaker:",
                        {"Ref": "AWS::Region"},
                        ":",
                        {"Ref": "AWS::AccountId"},
                        f":endpoint/{ENDPOINT}",
                    ],
                ]
            },
        }
    ]


def test_the_gateway_is_wired_to_the_endpoint(with_model: Synthesized) -> None:
    _, function = gateway(with_model)
    env = function["Environment"]["Variables"]
    assert env["UPSTREAM_PROTOCOL"] == "sagemaker"
    assert env["SAGEMAKER_ENDPOINT_NAME"] == ENDPOINT
    assert env["UPSTREAM_MODEL"] == MODEL  # vLLM's served model name
    outputs = with_model.template["Outputs"]
    assert outputs["ModelEndpointName"]["Value"] == ENDPOINT
    assert "NextStep3Register" not in outputs  # no URL to register
    assert outputs["NextStep2WaitForModel"]["Value"].startswith(
        f"aws sagemaker describe-endpoint --endpoint-name {ENDPOINT}"
    )
    assert "aws sagemaker-runtime invoke-endpoint" in outputs["NextStep3AskModel"]["Value"]


def test_the_defaults_are_one_small_gpu_and_an_open_model(tmp_path: Path) -> None:
    from aws_cdk.assertions import Template

    _, stack = synthesize(tmp_path, modelServer="sagemaker")
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {"ProductionVariants": [{"InstanceType": DEFAULT_INSTANCE, "InitialInstanceCount": 1}]},
    )
    model = template.find_resources("AWS::SageMaker::Model")
    [props] = [m["Properties"] for m in model.values()]
    assert props["PrimaryContainer"]["Environment"] == {
        "SM_VLLM_MODEL": DEFAULT_MODEL,
        "SM_VLLM_MAX_MODEL_LEN": "8192",
    }


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"modelServer": "ecs"}, "modelServer must be one of sagemaker"),
        ({"modelServer": "sagemaker", "model": "gemma"}, "hub id"),
        ({"modelServer": "sagemaker", "minInstances": "3", "maxInstances": "2"}, "at least"),
        ({"modelServer": "sagemaker", "maxInstances": "many"}, "whole number"),
        ({"modelServer": "sagemaker", "instanceType": "g6.xlarge"}, r"ml\.\*"),
        ({"modelServer": "sagemaker", "hfTokenSecret": "a b"}, "secret name"),
    ],
)
def test_bad_settings_fail_the_synth_with_a_reason(
    tmp_path: Path, context: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        synthesize(tmp_path, **context)


def test_the_model_template_passes_cfn_lint(with_model: Synthesized) -> None:
    lint = subprocess.run(
        [
            Path(sys.executable).with_name("cfn-lint"),
            str(with_model.outdir / "Simplechat.template.json"),
        ],
        cwd=INFRA,  # picks up infra/.cfnlintrc.yaml
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
