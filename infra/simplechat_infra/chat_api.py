"""The chat API: REST API Gateway with a Cognito authorizer in front of the gateway Lambda."""

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from simplechat_infra.paths import ASSET_EXCLUDES, GATEWAY_DIR
from simplechat_infra.upstream_config import UpstreamConfig

#: API Gateway's integration limit.
INTEGRATION_TIMEOUT_SECONDS = 29
#: The gateway's own budget for the model's answer. API Gateway's 29 s start before our handler
#: does (a cold start, the invoke itself), so 2 s stay in hand for the gateway's own 504 to arrive.
TIME_BUDGET_SECONDS = 27
ALLOW_HEADERS = ["Content-Type", "Authorization", "X-Amz-Date", "X-Api-Key", "X-Amz-Security-Token"]


class ChatApi(Construct):
    """`function` (the gateway Lambda), `api` and `chat_url` (what the UI posts to)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        user_pool: cognito.IUserPool,
        upstream: UpstreamConfig,
        site_origin: str,
        upstream_protocol: str,
        upstream_model: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        log_group = logs.LogGroup(
            self,
            "FunctionLogs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Our own role: logs to this one group, read one parameter and one secret. Nothing else.
        role = iam.Role(
            self, "FunctionRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        self.function = lambda_.Function(
            self,
            "Gateway",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="index.lambda_handler",
            code=lambda_.Code.from_asset(str(GATEWAY_DIR), exclude=ASSET_EXCLUDES),
            timeout=Duration.seconds(INTEGRATION_TIMEOUT_SECONDS + 1),
            memory_size=256,
            role=role,
            log_group=log_group,
            environment={
                "UPSTREAM_URL_PARAMETER": upstream.url_parameter.parameter_name,
                "UPSTREAM_API_KEY_SECRET": upstream.api_key_secret.secret_name,
                "UPSTREAM_PROTOCOL": upstream_protocol,
                "TIME_BUDGET_SECONDS": str(TIME_BUDGET_SECONDS),
                "ALLOWED_ORIGINS": site_origin,
                # servers behind the openai protocol may want the model named (vLLM, Ollama)
                **({"UPSTREAM_MODEL": upstream_model} if upstream_model else {}),
            },
        )
        upstream.url_parameter.grant_read(self.function)
        upstream.api_key_secret.grant_read(self.function)

        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            description="simplechat: POST /chat for signed-in users",
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            deploy_options=apigw.StageOptions(
                stage_name="prod",
                throttling_rate_limit=10,
                throttling_burst_limit=20,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=[site_origin],
                allow_methods=["OPTIONS", "POST"],
                allow_headers=ALLOW_HEADERS,
            ),
        )
        # API Gateway's own 4xx/5xx (e.g. 401 from the authorizer) carry CORS headers too,
        # so the browser can read them and the UI can ask the user to sign in again.
        for response_type in (apigw.ResponseType.DEFAULT_4_XX, apigw.ResponseType.DEFAULT_5_XX):
            self.api.add_gateway_response(
                f"Cors{response_type.response_type}",
                type=response_type,
                response_headers={
                    "Access-Control-Allow-Origin": f"'{site_origin}'",
                    "Access-Control-Allow-Headers": "'" + ",".join(ALLOW_HEADERS) + "'",
                },
            )
        authorizer = apigw.CognitoUserPoolsAuthorizer(
            self, "Authorizer", cognito_user_pools=[user_pool]
        )
        self.api.root.add_resource("chat").add_method(
            "POST",
            apigw.LambdaIntegration(
                self.function, timeout=Duration.seconds(INTEGRATION_TIMEOUT_SECONDS)
            ),
            authorizer=authorizer,
            authorization_type=apigw.AuthorizationType.COGNITO,
        )
        #: the stage URL ("https://.../prod/"); the UI posts to {this}chat
        self.url = self.api.url
