"""The whole deployment: sign-in, upstream config, chat API, web site; next steps as outputs."""

import json
from dataclasses import dataclass, field

from aws_cdk import CfnOutput, Stack
from constructs import Construct, Node

from simplechat_infra.auth import MFA_CHOICES, UserAuth
from simplechat_infra.chat_api import ChatApi
from simplechat_infra.fair_use import FairUse
from simplechat_infra.model_endpoint import ModelEndpoint, ModelServerSettings
from simplechat_infra.nag import acknowledge_reviewed_findings
from simplechat_infra.operations import Operations
from simplechat_infra.register_policy import RegisterPolicy
from simplechat_infra.upstream_config import UpstreamConfig
from simplechat_infra.web_site import WebSite

PROTOCOLS = ("chat", "generate", "openai")


@dataclass(frozen=True, kw_only=True)
class StackSettings:
    """What `-c key=value` can change at synth time."""

    upstream_url: str = "not-registered-yet"
    upstream_protocol: str = "chat"
    upstream_model: str = ""  # the `model` the openai protocol sends (empty: none)
    self_sign_up: bool = False
    mfa: str = "optional"  # off, optional or required (TOTP)
    from_email: str = ""  # an SES-verified sender for the codes; empty: Cognito's own
    #: Per-user limits, POST /chat's throttle, reserved concurrency (fair_use.py): on by default.
    fair_use: FairUse = field(default_factory=FairUse)
    #: Also create the IAM managed policy for `simplechat register` (-c registerPolicy=true).
    register_policy: bool = False
    #: The stack's own model on a SageMaker endpoint (-c modelServer=sagemaker): off by default.
    model_server: ModelServerSettings = field(default_factory=ModelServerSettings)

    def __post_init__(self) -> None:
        if self.self_sign_up:
            self.fair_use.refuse_off_with_sign_up()

    @classmethod
    def from_context(cls, node: Node) -> "StackSettings":
        protocol = str(node.try_get_context("upstreamProtocol") or "chat")
        if protocol not in PROTOCOLS:
            raise ValueError(
                f"upstreamProtocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}"
            )
        self_sign_up = _flag(node.try_get_context("selfSignUp"))
        mfa = str(node.try_get_context("mfa") or "optional").lower()
        if mfa not in MFA_CHOICES:
            raise ValueError(f"mfa must be one of {', '.join(MFA_CHOICES)}, got {mfa!r}")
        return cls(
            upstream_url=str(node.try_get_context("upstreamUrl") or "not-registered-yet"),
            upstream_protocol=protocol,
            upstream_model=str(node.try_get_context("upstreamModel") or "").strip(),
            self_sign_up=self_sign_up,
            mfa=mfa,
            from_email=str(node.try_get_context("fromEmail") or "").strip(),
            fair_use=FairUse.from_context(node),
            register_policy=_flag(node.try_get_context("registerPolicy")),
            model_server=ModelServerSettings.from_context(node),
        )


def _flag(raw: object) -> bool:
    return str(raw).strip().lower() in ("true", "1", "yes")


class SimplechatStack(Stack):
    """The course app's shape, deployed securely: CloudFront UI, Cognito, API Gateway, Lambda."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: StackSettings) -> None:
        super().__init__(
            scope, construct_id, description="simplechat: your own LLM behind a chat app"
        )
        self.auth = UserAuth(
            self,
            "Auth",
            self_sign_up=settings.self_sign_up,
            mfa=settings.mfa,
            from_email=settings.from_email,
        )
        self.upstream = UpstreamConfig(self, "Upstream", initial_url=settings.upstream_url)
        self.site = WebSite(self, "Web")
        self.model = (
            ModelEndpoint(self, "Model", settings=settings.model_server)
            if settings.model_server.enabled
            else None
        )
        self.chat_api = ChatApi(
            self,
            "Chat",
            user_pool=self.auth.user_pool,
            upstream=self.upstream,
            site_origin=self.site.url,
            upstream_protocol=settings.upstream_protocol,
            upstream_model=settings.upstream_model,
            fair_use=settings.fair_use,
            model_endpoint=self.model,
        )
        self.register_policy = RegisterPolicy(
            self, "Register", upstream=self.upstream, managed=settings.register_policy
        )
        self.operations = Operations(self, "Operations", chat_api=self.chat_api)
        self.ui_deployment = self.site.deploy_ui(
            api_endpoint=self.chat_api.url,
            user_pool_id=self.auth.user_pool.user_pool_id,
            client_id=self.auth.client.user_pool_client_id,
            auth_settings=self.auth.ui_settings,
        )
        self._outputs()
        acknowledge_reviewed_findings(self)

    def _outputs(self) -> None:
        pool_id = self.auth.user_pool.user_pool_id
        parameter = self.upstream.url_parameter.parameter_name
        secret = self.upstream.api_key_secret.secret_name
        outputs = {
            "SiteUrl": (self.site.url, "Open this to chat"),
            "ApiUrl": (
                self.chat_api.url,
                "The chat API: POST {ApiUrl}chat (streams with Accept: text/event-stream; "
                "watch it with curl -N) and POST {ApiUrl}chat/cancel",
            ),
            "UserPoolId": (pool_id, "Cognito user pool"),
            "UserPoolClientId": (self.auth.client.user_pool_client_id, "Web client id"),
            "UpstreamUrlParameterName": (parameter, "SSM parameter holding the model server URL"),
            "UpstreamApiKeySecretName": (
                secret,
                "Secrets Manager secret with the server's API key",
            ),
            "GatewayLogGroupName": (
                self.chat_api.log_group.log_group_name,
                "The gateway function's log group: aws logs tail <this> --follow",
            ),
            "NextStep1CreateUser": (
                f"aws cognito-idp admin-create-user --user-pool-id {pool_id} "
                "--username YOU@example.com --user-attributes Name=email,Value=YOU@example.com "
                "Name=email_verified,Value=true",
                "Create your first user (the temporary password arrives by email)",
            ),
            "NextStep2ApiKey": (
                f"aws secretsmanager get-secret-value --secret-id {secret} "
                "--query SecretString --output text",
                "The key to start your model server with: simplechat serve --api-key <this> "
                "(where the model runs: the notebook, or .venv/bin/simplechat in this folder)",
            ),
            "NextStep3Register": (
                # Run in the project folder, where `make deploy` ran: the command is in .venv.
                f".venv/bin/simplechat register --parameter {parameter} --url https://YOUR-SERVER",
                "In this folder: point the app at your running model server (again after each "
                "new tunnel URL)",
            ),
        }
        if self.model is not None:  # steps 2 and 3 check the model instead of registering one
            del outputs["NextStep2ApiKey"], outputs["NextStep3Register"]
            outputs.update(model_outputs(self.model))
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)


def model_outputs(model: ModelEndpoint) -> dict[str, tuple[str, str]]:
    """The stack's own model: its name and the two commands that check it."""
    name = model.endpoint_name
    body = json.dumps(
        {
            "model": model.model_id,
            "messages": [{"role": "user", "content": "Hello"}],
            "max_tokens": 32,
        }
    )
    return {
        "ModelEndpointName": (name, "The SageMaker endpoint that runs the model"),
        "NextStep2WaitForModel": (
            f"aws sagemaker describe-endpoint --endpoint-name {name} "
            "--query EndpointStatus --output text",
            "Wait until this says InService (the first start takes minutes: see docs/aws-model.md)",
        ),
        "NextStep3AskModel": (
            f"aws sagemaker-runtime invoke-endpoint --endpoint-name {name} "
            "--content-type application/json --cli-binary-format raw-in-base64-out "
            f"--body '{body}' /dev/stdout",
            "Ask the model once, directly; the chat app uses this endpoint (no URL to register)",
        ),
    }
