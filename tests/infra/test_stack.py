"""What the deployed stack must guarantee, read from the synthesized CloudFormation template."""

import filecmp
import json
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from simplechat_infra.conversations import GATEWAY_ACTIONS

from simplechat.stack.paths import gateway_dir
from tests.support.cdk_template import INFRA, Synthesized, gateway_function, refs, synthesize

#: Every route the web UI calls, each behind the authorizer (docs/streaming.md,
#: docs/conversations.md, docs/limits.md).
ROUTES = [
    ("POST", "/chat"),
    ("POST", "/chat/cancel"),
    ("GET", "/conversations"),
    ("POST", "/conversations"),
    ("GET", "/conversations/{id}"),
    ("PATCH", "/conversations/{id}"),
    ("DELETE", "/conversations/{id}"),
    ("POST", "/conversations/{id}/title"),
    ("GET", "/presets"),
    ("POST", "/presets"),
    ("PATCH", "/presets/{id}"),
    ("DELETE", "/presets/{id}"),
    ("GET", "/usage"),
]


def api_methods(synthesized: Synthesized) -> dict[tuple[str, str], dict[str, Any]]:
    """Each API method's properties by (HTTP method, resource path such as "/chat/cancel")."""
    resources = synthesized.resources("AWS::ApiGateway::Resource")

    def path(resource_id: dict[str, Any]) -> str:
        if "Ref" not in resource_id:  # {"Fn::GetAtt": [api, "RootResourceId"]}
            return ""
        props = resources[resource_id["Ref"]]["Properties"]
        return path(props["ParentId"]) + "/" + props["PathPart"]

    methods = [m["Properties"] for m in synthesized.resources("AWS::ApiGateway::Method").values()]
    return {(m["HttpMethod"], path(m["ResourceId"]) or "/"): m for m in methods}


def test_the_chat_routes_have_the_cognito_authorizer(synthesized: Synthesized) -> None:
    authorizer_id, authorizer = synthesized.one("AWS::ApiGateway::Authorizer")
    pool_id, _ = synthesized.one("AWS::Cognito::UserPool")
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    assert pool_id in refs(authorizer["Properties"]["ProviderARNs"])
    methods = api_methods(synthesized)
    routes = {route: props for route, props in methods.items() if route[0] != "OPTIONS"}
    assert set(routes) == set(ROUTES)
    for props in routes.values():
        assert props["AuthorizationType"] == "COGNITO_USER_POOLS"
        assert refs(props["AuthorizerId"]) == {authorizer_id}


def test_cors_preflight_allows_only_the_site(synthesized: Synthesized) -> None:
    distribution_id, _ = synthesized.one("AWS::CloudFront::Distribution")
    options = {path: m for (verb, path), m in api_methods(synthesized).items() if verb == "OPTIONS"}
    # the browser preflights every route
    assert set(options) >= {"/chat", "/chat/cancel", "/conversations", "/conversations/{id}"}
    for method in options.values():
        assert method["AuthorizationType"] == "NONE"  # a preflight carries no token
        headers = method["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
        origin = headers["method.response.header.Access-Control-Allow-Origin"]
        assert "*" not in json.dumps(origin)
        assert distribution_id in refs(origin)
        allowed = headers["method.response.header.Access-Control-Allow-Methods"]
        assert {"GET", "POST", "PATCH", "DELETE"} <= set(allowed.strip("'").split(","))
        assert "Authorization" in headers["method.response.header.Access-Control-Allow-Headers"]


def test_api_gateways_own_errors_carry_cors_headers(synthesized: Synthesized) -> None:
    distribution_id, _ = synthesized.one("AWS::CloudFront::Distribution")
    responses = synthesized.resources("AWS::ApiGateway::GatewayResponse").values()
    by_type = {r["Properties"]["ResponseType"]: r["Properties"] for r in responses}
    assert set(by_type) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for props in by_type.values():
        origin = props["ResponseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"]
        assert distribution_id in refs(origin)


def test_every_route_streams_the_functions_answer(synthesized: Synthesized) -> None:
    function_id, _ = gateway_function(synthesized)
    methods = api_methods(synthesized)
    for route in ROUTES:
        integration = methods[route]["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert integration["IntegrationHttpMethod"] == "POST"
        # STREAM: API Gateway calls InvokeWithResponseStream and passes bytes on as they come
        assert integration["ResponseTransferMode"] == "STREAM"
        uri = json.dumps(integration["Uri"])
        assert ":lambda:path/2021-11-15/functions/" in uri
        assert uri.rstrip('"]}').endswith("/response-streaming-invocations")
        assert refs(integration["Uri"]) >= {function_id}
    # lambda:InvokeFunction for each route, from this API only (also what streaming needs)
    permissions = [
        p["Properties"]
        for p in synthesized.resources("AWS::Lambda::Permission").values()
        if function_id in refs(p["Properties"]["FunctionName"])
    ]
    api_id, _ = synthesized.one("AWS::ApiGateway::RestApi")
    for verb, path in ROUTES:
        source = f"/{verb}{path.replace('{id}', '*')}"
        [deployed] = [
            p
            for p in permissions
            if source + '"' in json.dumps(p["SourceArn"]) and "test-invoke" not in json.dumps(p)
        ]
        assert deployed["Action"] == "lambda:InvokeFunction"
        assert deployed["Principal"] == "apigateway.amazonaws.com"
        assert api_id in refs(deployed["SourceArn"])


def test_the_api_is_regional(synthesized: Synthesized) -> None:
    """EDGE (CDK's default) cuts a stream quiet for 30 s; REGIONAL waits 5 minutes."""
    _, api = synthesized.one("AWS::ApiGateway::RestApi")
    assert api["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}


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


def test_lambda_is_the_gateway_server_behind_the_web_adapter(synthesized: Synthesized) -> None:
    _, function = gateway_function(synthesized)
    props = function["Properties"]
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["MemorySize"] == 256
    # The adapter's arm64 layer (1.0.1), in the stack's own region, whatever that is.
    assert props["Layers"] == [
        {
            "Fn::Join": [
                "",
                [
                    "arn:aws:lambda:",
                    {"Ref": "AWS::Region"},
                    ":753240598075:layer:LambdaAdapterLayerArm64:28",
                ],
            ]
        }
    ]
    env = props["Environment"]["Variables"]
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"  # the layer's wrapper runs run.sh
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert env["PORT"] == "8080"
    assert env["AWS_LWA_READINESS_CHECK_PATH"] == "/health"
    assert env["UPSTREAM_PROTOCOL"] == "chat"
    assert "UPSTREAM_MODEL" not in env  # our own server needs no model name
    assert "MAX_TOKENS" not in env  # the gateway's default (512) holds
    assert set(env) >= {"UPSTREAM_URL_PARAMETER", "UPSTREAM_API_KEY_SECRET", "ALLOWED_ORIGINS"}


def test_a_stream_may_last_fifteen_minutes(synthesized: Synthesized) -> None:
    _, function = gateway_function(synthesized)
    methods = api_methods(synthesized)
    # API Gateway's limit for one streamed response, and Lambda's longest timeout
    assert methods["POST", "/chat"]["Integration"]["TimeoutInMillis"] == 900_000
    assert function["Properties"]["Timeout"] == 900
    # the gateway's budget for the whole answer: 30 s in hand for the cold start and its `done`
    assert function["Properties"]["Environment"]["Variables"]["TIME_BUDGET_SECONDS"] == "870"
    # stopping a generation is one short call to the model server
    assert methods["POST", "/chat/cancel"]["Integration"]["TimeoutInMillis"] == 29_000


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


def test_the_asset_starts_the_gateway_server(synthesized: Synthesized) -> None:
    """The handler is a script the adapter's /opt/bootstrap execs: shipped and executable."""
    _, function = gateway_function(synthesized)
    asset = synthesized.outdir / ("asset." + function["Properties"]["Code"]["S3Key"].split(".")[0])
    script = asset / function["Properties"]["Handler"]
    assert script.is_file(), "gateway/run.sh is not in the Lambda's asset"
    assert script.stat().st_mode & stat.S_IXUSR, "run.sh must be executable (chmod +x)"
    assert "chat_gateway.server" in script.read_text()


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
    assert actions - set(GATEWAY_ACTIONS) == {
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
    # The command as it runs where `make deploy` ran (README): from the project's virtualenv
    # (the value joins the parameter's name in: its first part is the command).
    first = outputs["NextStep3Register"]["Value"]["Fn::Join"][1][0]
    assert first.startswith(".venv/bin/simplechat register --parameter ")
    assert "admin-create-user" in json.dumps(outputs["NextStep1CreateUser"])
    # The function writes to its own log group (not /aws/lambda/<name>): the output names it.
    _, function = gateway_function(synthesized)
    log_group = refs(function["Properties"]["LoggingConfig"]["LogGroup"])
    assert refs(outputs["GatewayLogGroupName"]["Value"]) == log_group
    assert "chat/cancel" in outputs["ApiUrl"]["Description"]


def test_the_upstream_url_comes_from_context(synthesized: Synthesized) -> None:
    _, parameter = synthesized.one("AWS::SSM::Parameter")
    assert parameter["Properties"]["Value"] == "https://example-tunnel.ngrok-free.app"
    assert parameter["Properties"]["Name"] == "/simplechat/upstream-url"


def test_an_openai_upstream_gets_its_model_name(tmp_path: Path) -> None:
    from aws_cdk.assertions import Match, Template

    _, stack = synthesize(tmp_path, upstreamProtocol="openai", upstreamModel="Qwen/Qwen2.5-7B")
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "run.sh",
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


def test_the_stack_passes_cdk_nag_and_the_gateway_needs_no_exception(
    synthesized: Synthesized,
) -> None:
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    [nag] = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success"
    assert nag["violations"] == []
    suppressed = {
        construct["constructPath"]
        for violation in nag["suppressedViolations"]
        for construct in violation["violatingConstructs"]
    }
    assert suppressed, "the reviewed acknowledgements are in the report"
    # the function, its role and the adapter layer pass every rule as they are
    assert not {
        p
        for p in suppressed
        if p.startswith(("Simplechat/Chat/Gateway", "Simplechat/Chat/Function"))
    }


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
