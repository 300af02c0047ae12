"""The chat API: REST API Gateway (streaming) with a Cognito authorizer in front of the gateway."""

from aws_cdk import Annotations, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from simplechat_infra.conversations import ConversationTable
from simplechat_infra.fair_use import MIN_UNRESERVED, USUAL_ACCOUNT_QUOTA, FairUse
from simplechat_infra.model_endpoint import ModelEndpoint
from simplechat_infra.paths import ASSET_EXCLUDES, GATEWAY_DIR
from simplechat_infra.upstream_config import UpstreamConfig

#: The longest one streamed response may last: API Gateway's limit for a STREAM integration and
#: Lambda's longest timeout, both 15 minutes. POST /chat's integration and the function get it all.
STREAM_SECONDS = 15 * 60
#: The gateway's own budget for the whole answer (connect, wait for tokens, stream, `done` event).
#: 30 s under the stream's 900: API Gateway's and Lambda's clocks start before the gateway's does
#: (a cold start of the adapter and the server, the invoke itself), and the gateway must still have
#: time to send its own `done` event with the error rather than be cut off mid-stream.
TIME_BUDGET_SECONDS = 870
#: POST /chat/cancel only asks the model server to stop one generation: a short call. (The cancel
#: reaches a different function instance than the stream it stops; the model server, not the
#: function, knows the generation.)
CANCEL_TIMEOUT_SECONDS = 29
#: The conversation routes read and write a few DynamoDB items: short calls too.
CONVERSATIONS_TIMEOUT_SECONDS = 29
ALLOW_HEADERS = ["Content-Type", "Authorization", "X-Amz-Date", "X-Api-Key", "X-Amz-Security-Token"]

#: AWS Lambda Web Adapter 1.0.1 (aws/aws-lambda-web-adapter), arm64, as a public layer that AWS
#: publishes from this account in every commercial region (version 28 is 1.0.1; 27 was 1.0.0).
#: China regions publish it from other accounts. A newer adapter: change the version here.
WEB_ADAPTER_ACCOUNT = "753240598075"
WEB_ADAPTER_LAYER = "LambdaAdapterLayerArm64"
WEB_ADAPTER_LAYER_VERSION = 28
#: Where the gateway server listens inside the function (127.0.0.1), and what says it is ready.
SERVER_PORT = 8080
READINESS_PATH = "/health"


def web_adapter_layer_arn(region: str) -> str:
    """The adapter layer's ARN in `region` (a token such as Stack.of(x).region is fine)."""
    return (
        f"arn:aws:lambda:{region}:{WEB_ADAPTER_ACCOUNT}:layer:"
        f"{WEB_ADAPTER_LAYER}:{WEB_ADAPTER_LAYER_VERSION}"
    )


class ChatApi(Construct):
    """`function` (the gateway Lambda), `api` and `url` (the stage the UI posts to)."""

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
        fair_use: FairUse | None = None,
        model_endpoint: ModelEndpoint | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        fair_use = fair_use or FairUse()
        self.conversations = ConversationTable(self, "Conversations")
        if model_endpoint is not None:  # the stack's own model: no URL to register
            upstream_protocol, upstream_model = "sagemaker", model_endpoint.model_id
        self.function = self._gateway_function(
            upstream=upstream,
            site_origin=site_origin,
            upstream_protocol=upstream_protocol,
            upstream_model=upstream_model,
            fair_use=fair_use,
            model_endpoint=model_endpoint,
        )
        self.api = self._rest_api(site_origin=site_origin, fair_use=fair_use)
        authorizer = apigw.CognitoUserPoolsAuthorizer(
            self, "Authorizer", cognito_user_pools=[user_pool]
        )
        # Both routes stream: behind the adapter in response_stream mode the function always
        # answers through Lambda's streaming invoke, so a BUFFERED integration could not read it.
        # The browser gets the headers (CORS included) from the gateway server itself: the
        # adapter writes the server's status and headers into the stream's prelude.
        chat = self.api.root.add_resource("chat")
        conversations = self.api.root.add_resource("conversations")
        conversation = conversations.add_resource("{id}")
        presets = self.api.root.add_resource("presets")
        preset = presets.add_resource("{id}")
        routes = [
            (chat, "POST", STREAM_SECONDS),
            (chat.add_resource("cancel"), "POST", CANCEL_TIMEOUT_SECONDS),
            (conversations, "GET", CONVERSATIONS_TIMEOUT_SECONDS),
            (conversations, "POST", CONVERSATIONS_TIMEOUT_SECONDS),
            (conversation, "GET", CONVERSATIONS_TIMEOUT_SECONDS),
            (conversation, "PATCH", CONVERSATIONS_TIMEOUT_SECONDS),
            (conversation, "DELETE", CONVERSATIONS_TIMEOUT_SECONDS),
            # The model writes a title: a short answer, but an answer (the chat's budget).
            (conversation.add_resource("title"), "POST", STREAM_SECONDS),
            (presets, "GET", CONVERSATIONS_TIMEOUT_SECONDS),
            (presets, "POST", CONVERSATIONS_TIMEOUT_SECONDS),
            (preset, "PATCH", CONVERSATIONS_TIMEOUT_SECONDS),
            (preset, "DELETE", CONVERSATIONS_TIMEOUT_SECONDS),
            (self.api.root.add_resource("usage"), "GET", CONVERSATIONS_TIMEOUT_SECONDS),
        ]
        for resource, method, timeout in routes:
            resource.add_method(
                method,
                apigw.LambdaIntegration(
                    self.function,
                    response_transfer_mode=apigw.ResponseTransferMode.STREAM,
                    timeout=Duration.seconds(timeout),
                ),
                authorizer=authorizer,
                authorization_type=apigw.AuthorizationType.COGNITO,
            )
        #: the stage URL ("https://.../prod/"); the UI posts to {this}chat and {this}chat/cancel
        self.url = self.api.url

    def _gateway_function(
        self,
        *,
        upstream: UpstreamConfig,
        site_origin: str,
        upstream_protocol: str,
        upstream_model: str,
        fair_use: FairUse,
        model_endpoint: ModelEndpoint | None,
    ) -> lambda_.Function:
        """The gateway server (gateway/run.sh) behind the Lambda Web Adapter, streaming."""
        log_group = logs.LogGroup(
            self,
            "FunctionLogs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Our own role: logs to this one group, read one parameter and one secret. Nothing else
        # (the adapter is an extension in the same process tree and needs no permission).
        role = iam.Role(
            self, "FunctionRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        # Python's managed runtime cannot stream a response by itself; the Lambda Web Adapter (an
        # extension from the layer) can: /opt/bootstrap runs the handler script, which starts the
        # gateway's stdlib HTTP server on 127.0.0.1:$PORT; the adapter waits for GET /health,
        # then turns each invoke into an HTTP request to that server and streams its answer back.
        web_adapter = lambda_.LayerVersion.from_layer_version_arn(
            self, "WebAdapter", web_adapter_layer_arn(Stack.of(self).region)
        )
        function = lambda_.Function(
            self,
            "Gateway",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="run.sh",  # gateway/run.sh, executable: /opt/bootstrap execs it
            code=lambda_.Code.from_asset(str(GATEWAY_DIR), exclude=ASSET_EXCLUDES),
            layers=[web_adapter],
            # A stream lives as long as the function does: give it the stream's whole limit.
            timeout=Duration.seconds(STREAM_SECONDS),
            # A small stdlib server and the adapter (a static Rust binary); the work is waiting
            # on the model server's tokens, not computing.
            memory_size=256,
            # A cap on instances at once (each stream holds one): a flood of accounts costs at
            # most this, and the account's other functions keep theirs (fair_use.py).
            reserved_concurrent_executions=fair_use.reserved_concurrency,
            role=role,
            log_group=log_group,
            environment={
                "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
                "AWS_LWA_INVOKE_MODE": "response_stream",
                "PORT": str(SERVER_PORT),
                "AWS_LWA_READINESS_CHECK_PATH": READINESS_PATH,
                "UPSTREAM_URL_PARAMETER": upstream.url_parameter.parameter_name,
                "UPSTREAM_API_KEY_SECRET": upstream.api_key_secret.secret_name,
                "UPSTREAM_PROTOCOL": upstream_protocol,
                "TIME_BUDGET_SECONDS": str(TIME_BUDGET_SECONDS),
                "ALLOWED_ORIGINS": site_origin,
                "CONVERSATIONS_TABLE": self.conversations.table.table_name,
                # per-user limits, counted in the same table (unset: no limit)
                **{name: str(value) for name, value in fair_use.user_limits.items()},
                # servers behind the openai protocol may want the model named (vLLM, Ollama)
                **({"UPSTREAM_MODEL": upstream_model} if upstream_model else {}),
                # the model endpoint this stack runs (-c modelServer=sagemaker), signed by IAM
                **(
                    {"SAGEMAKER_ENDPOINT_NAME": model_endpoint.endpoint_name}
                    if model_endpoint is not None
                    else {}
                ),
            },
        )
        reserved = fair_use.reserved_concurrency or 0
        if reserved > USUAL_ACCOUNT_QUOTA - MIN_UNRESERVED:
            Annotations.of(function).add_warning_v2(
                "simplechat:reservedConcurrency",
                f"gatewayReservedConcurrency={reserved} leaves fewer than {MIN_UNRESERVED} "
                f"unreserved executions in an account with the usual quota of "
                f"{USUAL_ACCOUNT_QUOTA}: Lambda refuses it unless the quota was raised.",
            )
        self.log_group = log_group
        upstream.url_parameter.grant_read(function)
        upstream.api_key_secret.grant_read(function)
        self.conversations.grant_gateway(role)
        if model_endpoint is not None:
            model_endpoint.grant_invoke(role)
        return function

    def _rest_api(self, *, site_origin: str, fair_use: FairUse) -> apigw.RestApi:
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        api = apigw.RestApi(
            self,
            "Api",
            description="simplechat: POST /chat (streamed), /chat/cancel and /conversations for "
            "signed-in users",
            # REGIONAL, not CDK's default EDGE: a streamed response that sends nothing for 30 s is
            # cut on an edge-optimized endpoint, after 5 minutes on a regional one. (The gateway
            # sends a keep-alive comment at least every 10 s, but a cold model can be quiet.)
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            deploy_options=apigw.StageOptions(
                stage_name="prod",
                # the default for each method, each with a bucket of its own
                throttling_rate_limit=10,
                throttling_burst_limit=20,
                # POST /chat starts a generation that may stream for 15 minutes: a lower rate
                # of its own, refused with 429 before any Lambda runs (fair_use.py)
                method_options={
                    "/chat/POST": apigw.MethodDeploymentOptions(
                        throttling_rate_limit=fair_use.chat_rate_limit,
                        throttling_burst_limit=fair_use.chat_burst_limit,
                    )
                },
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
            # Preflight for every resource under the root: /chat, /chat/cancel, /conversations.
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=[site_origin],
                allow_methods=["OPTIONS", "GET", "POST", "PATCH", "DELETE"],
                allow_headers=ALLOW_HEADERS,
            ),
        )
        # API Gateway's own 4xx/5xx (e.g. 401 from the authorizer, a 500 when the function breaks
        # before its prelude) carry CORS headers too, so the browser can read them and the UI can
        # ask the user to sign in again. Everything else gets its CORS headers from the gateway.
        for response_type in (apigw.ResponseType.DEFAULT_4_XX, apigw.ResponseType.DEFAULT_5_XX):
            api.add_gateway_response(
                f"Cors{response_type.response_type}",
                type=response_type,
                response_headers={
                    "Access-Control-Allow-Origin": f"'{site_origin}'",
                    "Access-Control-Allow-Headers": "'" + ",".join(ALLOW_HEADERS) + "'",
                },
            )
        return api
