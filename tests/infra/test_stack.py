"""What the deployed stack must guarantee, read from the synthesized CloudFormation template."""

import filecmp
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from simplechat.stack.paths import gateway_dir
from tests.infra.conftest import Synthesized, synthesize

INFRA = Path(__file__).resolve().parents[2] / "infra"


def refs(value: Any) -> set[str]:
    """Every logical id a CloudFormation value refers to (Ref and GetAtt)."""
    text = json.dumps(value)
    return set(re.findall(r'"Ref": "([^"]+)"', text)) | set(
        re.findall(r'"Fn::GetAtt": \["([^"]+)"', text)
    )


def test_post_chat_has_the_cognito_authorizer(synthesized: Synthesized) -> None:
    authorizer_id, authorizer = synthesized.one("AWS::ApiGateway::Authorizer")
    pool_id, _ = synthesized.one("AWS::Cognito::UserPool")
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    assert pool_id in refs(authorizer["Properties"]["ProviderARNs"])
    methods = synthesized.resources("AWS::ApiGateway::Method").values()
    post = [m for m in methods if m["Properties"]["HttpMethod"] == "POST"]
    assert len(post) == 1
    assert post[0]["Properties"]["AuthorizationType"] == "COGNITO_USER_POOLS"
    assert refs(post[0]["Properties"]["AuthorizerId"]) == {authorizer_id}
    others = [m for m in methods if m["Properties"]["HttpMethod"] != "POST"]
    assert {m["Properties"]["HttpMethod"] for m in others} == {"OPTIONS"}  # CORS preflight only


def test_cors_preflight_allows_only_the_site(synthesized: Synthesized) -> None:
    distribution_id, _ = synthesized.one("AWS::CloudFront::Distribution")
    options = [
        m for m in synthesized.resources("AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "OPTIONS"
    ]  # fmt: skip
    for method in options:
        headers = method["Properties"]["Integration"]["IntegrationResponses"][0][
            "ResponseParameters"
        ]
        origin = headers["method.response.header.Access-Control-Allow-Origin"]
        assert "*" not in json.dumps(origin)
        assert distribution_id in refs(origin)


def test_stage_is_throttled_and_logged(synthesized: Synthesized) -> None:
    _, stage = synthesized.one("AWS::ApiGateway::Stage")
    settings = stage["Properties"]["MethodSettings"][0]
    assert settings["ThrottlingRateLimit"] == 10
    assert settings["ThrottlingBurstLimit"] == 20
    assert "AccessLogSetting" in stage["Properties"]


def test_site_bucket_is_private_and_tls_only(synthesized: Synthesized) -> None:
    buckets = synthesized.resources("AWS::S3::Bucket")
    assert len(buckets) == 2  # the site and its access logs
    for bucket in buckets.values():
        block = bucket["Properties"]["PublicAccessBlockConfiguration"]
        assert block == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
    for policy in synthesized.resources("AWS::S3::BucketPolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        )
        for allow in (s for s in statements if s["Effect"] == "Allow"):
            assert allow["Principal"] != "*"
            assert allow["Principal"].get("AWS") != "*"


def test_cloudfront_reads_the_bucket_through_origin_access_control(
    synthesized: Synthesized,
) -> None:
    _, distribution = synthesized.one("AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert "OriginAccessControlId" in config["Origins"][0]
    assert {e["ErrorCode"]: e["ResponseCode"] for e in config["CustomErrorResponses"]} == {
        403: 200,
        404: 200,
    }
    _, headers = synthesized.one("AWS::CloudFront::ResponseHeadersPolicy")
    security = headers["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert "script-src 'self'" in json.dumps(security["ContentSecurityPolicy"])
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] == 31536000


def gateway_function(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    functions = synthesized.resources("AWS::Lambda::Function")
    [(logical_id, function)] = [
        (k, v)
        for k, v in functions.items()
        if v["Properties"].get("Handler") == "index.lambda_handler"
    ]
    return logical_id, function


def test_lambda_is_the_gateway(synthesized: Synthesized) -> None:
    _, function = gateway_function(synthesized)
    props = function["Properties"]
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["Timeout"] == 30  # never cut before API Gateway's own 29 s
    env = props["Environment"]["Variables"]
    assert env["UPSTREAM_PROTOCOL"] == "chat"
    # 2 s under API Gateway's 29: its clock starts before our handler (cold start, invoke)
    assert env["TIME_BUDGET_SECONDS"] == "27"
    assert "UPSTREAM_MODEL" not in env  # our own server needs no model name
    assert set(env) >= {"UPSTREAM_URL_PARAMETER", "UPSTREAM_API_KEY_SECRET", "ALLOWED_ORIGINS"}


def test_the_deployed_gateway_is_the_code_the_local_stack_runs(synthesized: Synthesized) -> None:
    _, function = gateway_function(synthesized)
    asset = synthesized.outdir / ("asset." + function["Properties"]["Code"]["S3Key"].split(".")[0])
    local = gateway_dir()
    comparison = filecmp.dircmp(asset, local, ignore=["__pycache__"])

    def identical(cmp: filecmp.dircmp[str]) -> bool:
        same = not (cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files)
        return same and all(identical(sub) for sub in cmp.subdirs.values())

    assert identical(comparison), f"differs: {comparison.diff_files} {comparison.left_only}"
    assert (asset / "index.py").read_bytes() == (local / "index.py").read_bytes()


def test_lambda_may_only_log_and_read_its_parameter_and_secret(synthesized: Synthesized) -> None:
    _, function = gateway_function(synthesized)
    role_id = refs(function["Properties"]["Role"]).pop()
    parameter_id, _ = synthesized.one("AWS::SSM::Parameter")
    secret_id, _ = synthesized.one("AWS::SecretsManager::Secret")
    statements = [
        statement
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        if role_id in refs(policy["Properties"]["Roles"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert actions == {
        "logs:CreateLogStream", "logs:PutLogEvents",
        "ssm:DescribeParameters", "ssm:GetParameter", "ssm:GetParameters",
        "ssm:GetParameterHistory",
        "secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret",
    }  # fmt: skip
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert statement["Resource"] != "*"
        if any(a.startswith("ssm:GetParameter") for a in statement["Action"]):
            assert parameter_id in refs(statement["Resource"])
        if "secretsmanager:GetSecretValue" in statement["Action"]:
            assert refs(statement["Resource"]) == {secret_id}
    role = synthesized.template["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role


def test_config_js_names_this_deployments_api_and_user_pool(synthesized: Synthesized) -> None:
    _, deployment = synthesized.one("Custom::CDKBucketDeployment")
    markers = deployment["Properties"]["SourceMarkers"]
    config_files = [p for p in synthesized.outdir.glob("asset.*/config.js")]
    assert len(config_files) == 1
    text = config_files[0].read_text()
    settings = json.loads(text.split("=", 1)[1].rstrip().rstrip(";"))
    pool_id, _ = synthesized.one("AWS::Cognito::UserPool")
    client_id, _ = synthesized.one("AWS::Cognito::UserPoolClient")
    api_id, _ = synthesized.one("AWS::ApiGateway::RestApi")
    resolved = {marker: json.dumps(value) for m in markers for marker, value in m.items()}

    def refers_to(field: str) -> set[str]:
        placeholder = re.search(r"<<marker:[^>]+>>", field)
        assert placeholder, field
        return refs(json.loads(resolved[placeholder.group(0)]))

    assert api_id in refers_to(settings["apiEndpoint"])
    assert refers_to(settings["auth"]["userPoolId"]) == {pool_id}
    assert refers_to(settings["auth"]["clientId"]) == {client_id}
    assert settings["auth"]["type"] == "cognito"


def test_outputs_give_the_next_steps(synthesized: Synthesized) -> None:
    outputs = synthesized.template["Outputs"]
    assert set(outputs) >= {
        "SiteUrl", "ApiUrl", "UserPoolId", "UserPoolClientId", "UpstreamUrlParameterName",
        "UpstreamApiKeySecretName", "NextStep1CreateUser", "NextStep2ApiKey", "NextStep3Register",
    }  # fmt: skip
    assert "simplechat register --parameter" in json.dumps(outputs["NextStep3Register"])
    assert "admin-create-user" in json.dumps(outputs["NextStep1CreateUser"])


def test_the_upstream_url_comes_from_context(synthesized: Synthesized) -> None:
    _, parameter = synthesized.one("AWS::SSM::Parameter")
    assert parameter["Properties"]["Value"] == "https://example-tunnel.ngrok-free.app"
    assert parameter["Properties"]["Name"] == "/simplechat/upstream-url"


def test_the_chat_route_waits_as_long_as_api_gateway_allows(synthesized: Synthesized) -> None:
    methods = synthesized.resources("AWS::ApiGateway::Method")
    [post] = [m for m in methods.values() if m["Properties"]["HttpMethod"] == "POST"]
    assert post["Properties"]["Integration"]["TimeoutInMillis"] == 29_000


def test_an_openai_upstream_gets_its_model_name(tmp_path: Path) -> None:
    from aws_cdk.assertions import Match, Template

    _, stack = synthesize(tmp_path, upstreamProtocol="openai", upstreamModel="Qwen/Qwen2.5-7B")
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "index.lambda_handler",
            "Environment": {
                "Variables": Match.object_like(
                    {"UPSTREAM_PROTOCOL": "openai", "UPSTREAM_MODEL": "Qwen/Qwen2.5-7B"}
                )
            },
        },
    )


def test_a_bad_protocol_in_context_fails_synth(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="upstreamProtocol must be one of"):
        synthesize(tmp_path, upstreamProtocol="grpc")


def test_nag_checks_really_run(tmp_path: Path) -> None:
    """An unreviewed insecure resource must fail synth: the zero-findings result means something."""
    from aws_cdk import aws_s3 as s3

    app, stack = synthesize(tmp_path)
    s3.Bucket(stack, "Unreviewed")  # no TLS enforcement, no access logs
    with pytest.raises(RuntimeError, match="AwsSolutions-S1"):
        app.synth()


def test_template_passes_cfn_lint(synthesized: Synthesized) -> None:
    lint = subprocess.run(
        [
            Path(sys.executable).with_name("cfn-lint"),
            str(synthesized.outdir / "Simplechat.template.json"),
        ],
        cwd=INFRA,  # picks up infra/.cfnlintrc.yaml
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
