"""The opt-in model tier: vLLM on a SageMaker real-time endpoint, autoscaled (-c modelServer)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aws_cdk import ArnFormat, Aws, CfnMapping, Duration, SecretValue, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct, Node

#: AWS Deep Learning Containers' vLLM image for SageMaker (aws/deep-learning-containers,
#: docs/vllm: `server-sagemaker-cuda-v1.4`, vLLM 0.20.0.dev361, CUDA 12.9.1, 2026-05-22). The
#: minor tag takes that line's security patches; -c modelImageTag pins another one.
IMAGE_REPOSITORY = "vllm"
IMAGE_TAG = "server-sagemaker-cuda-v1.4"
#: The DLC registry account per region (docs/reference/region_availability.md of that repo),
#: as a CloudFormation mapping: the template deploys to any of these regions as it is.
DLC_ACCOUNT = "763104351884"
DLC_ACCOUNTS = {
    **{
        region: DLC_ACCOUNT
        for region in (
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-south-1",
            "ap-southeast-1",
            "ap-southeast-2",
            "ca-central-1",
            "eu-central-1",
            "eu-north-1",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "sa-east-1",
        )
    },
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "ap-east-2": "975050140332",
    "ap-northeast-3": "364406365360",
    "ap-south-2": "772153158452",
    "ap-southeast-3": "907027046896",
    "ap-southeast-4": "457447274322",
    "ap-southeast-5": "550225433462",
    "ap-southeast-6": "633930458069",
    "ap-southeast-7": "590183813437",
    "ca-west-1": "204538143572",
    "eu-central-2": "380420809688",
    "eu-south-1": "692866216735",
    "eu-south-2": "503227376785",
    "il-central-1": "780543022126",
    "me-central-1": "914824155844",
    "me-south-1": "217643126080",
    "me-west-1": "124382933778",
    "mx-central-1": "637423239942",
    "cn-north-1": "727897471807",
    "cn-northwest-1": "727897471807",
}
#: The host AMI the DLC docs name for their CUDA 12.9 images (NVIDIA driver 550 with the
#: container's CUDA-compat libraries); SageMaker's default AMI's driver is too old for them.
INFERENCE_AMI = "al2-ami-sagemaker-inference-gpu-3-1"
VARIANT = "AllTraffic"
#: Downloading the weights from the Hugging Face hub and loading them into the GPU: minutes for
#: a 1-8B model. SageMaker allows 60-3600 s before the instance must answer GET /ping.
STARTUP_SECONDS = 1800
MODEL_SERVERS = ("sagemaker",)
#: Apache-2.0, not gated, answers in Japanese and English, small enough for one L4 with room
#: for many conversations' KV cache; it writes no "thinking" text into its answers.
DEFAULT_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"
DEFAULT_INSTANCE = "ml.g6.xlarge"
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")


@dataclass(frozen=True, kw_only=True)
class ModelServerSettings:
    """`-c modelServer=sagemaker` and what goes with it; `enabled` is False without it."""

    server: str = ""
    model: str = DEFAULT_MODEL
    instance_type: str = DEFAULT_INSTANCE
    min_instances: int = 1
    max_instances: int = 2
    #: In-flight requests per instance that target tracking keeps to (vLLM batches them).
    target_concurrency: int = 8
    max_model_len: int = 8192
    #: An existing Secrets Manager secret holding a Hugging Face token (gated models).
    hf_token_secret: str = ""
    image_tag: str = IMAGE_TAG

    @property
    def enabled(self) -> bool:
        return bool(self.server)

    @classmethod
    def from_context(cls, node: Node) -> ModelServerSettings:
        server = str(node.try_get_context("modelServer") or "").strip().lower()
        if not server:
            return cls()
        if server not in MODEL_SERVERS:
            raise ValueError(
                f"modelServer must be one of {', '.join(MODEL_SERVERS)}, got {server!r}"
            )

        def text(name: str, default: str) -> str:
            return str(node.try_get_context(name) or default).strip()

        def number(name: str, default: int, low: int, high: int) -> int:
            raw = node.try_get_context(name)
            try:
                value = int(str(raw)) if raw not in (None, "") else default
            except ValueError:
                raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
            if not low <= value <= high:
                raise ValueError(f"{name} must be between {low} and {high}, got {value}")
            return value

        model = text("model", DEFAULT_MODEL)
        if not _HUB_ID.match(model):
            raise ValueError(
                f"model must be a Hugging Face hub id such as {DEFAULT_MODEL}, got {model!r}"
            )
        instance_type = text("instanceType", DEFAULT_INSTANCE)
        if not instance_type.startswith("ml."):
            raise ValueError(f"instanceType must be a SageMaker type (ml.*), got {instance_type!r}")
        secret = text("hfTokenSecret", "")
        if secret and not _SECRET_NAME.match(secret):
            raise ValueError(f"hfTokenSecret must be a Secrets Manager secret name, got {secret!r}")
        minimum = number("minInstances", 1, 1, 100)
        maximum = number("maxInstances", max(2, minimum), 1, 100)
        if maximum < minimum:
            raise ValueError(f"maxInstances ({maximum}) must be at least minInstances ({minimum})")
        return cls(
            server=server,
            model=model,
            instance_type=instance_type,
            min_instances=minimum,
            max_instances=maximum,
            target_concurrency=number("targetConcurrency", 8, 1, 1000),
            max_model_len=number("maxModelLen", 8192, 256, 1_048_576),
            hf_token_secret=secret,
            image_tag=text("modelImageTag", IMAGE_TAG),
        )


class ModelEndpoint(Construct):
    """`endpoint_name`, `endpoint_arn`; `grant_invoke(role)` for the gateway."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: ModelServerSettings
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.model_id = settings.model
        registries = CfnMapping(
            self,
            "ImageRegistry",
            mapping={region: {"account": account} for region, account in DLC_ACCOUNTS.items()},
        )
        #: The account the image comes from, in the region deployed to (a CloudFormation value).
        self.image_account = registries.find_in_map(Aws.REGION, "account")
        self.image = (
            f"{self.image_account}.dkr.ecr.{Aws.REGION}.{Aws.URL_SUFFIX}/"
            f"{IMAGE_REPOSITORY}:{settings.image_tag}"
        )
        # A fixed, lower-case name: SageMaker writes ARNs in lower case, and the gateway's
        # grant and the scaling target both name this one endpoint.
        self.endpoint_name = f"{stack.stack_name.lower()}-model"
        self.endpoint_arn = stack.format_arn(
            service="sagemaker", resource="endpoint", resource_name=self.endpoint_name
        )
        role = self._execution_role(stack)
        environment = {
            "SM_VLLM_MODEL": settings.model,
            "SM_VLLM_MAX_MODEL_LEN": str(settings.max_model_len),
        }
        if settings.hf_token_secret:
            # Resolved by CloudFormation at deploy time (not in the template); SageMaker keeps
            # it in the model's environment, visible to whoever may DescribeModel.
            environment["HF_TOKEN"] = SecretValue.secrets_manager(
                settings.hf_token_secret
            ).unsafe_unwrap()
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=self.image, environment=environment
            ),
        )
        self.model.node.add_dependency(role)
        self.config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT,
                    model_name=self.model.attr_model_name,
                    instance_type=settings.instance_type,
                    initial_instance_count=settings.min_instances,
                    initial_variant_weight=1,
                    inference_ami_version=INFERENCE_AMI,
                    container_startup_health_check_timeout_in_seconds=STARTUP_SECONDS,
                )
            ],
        )
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=self.endpoint_name,
            endpoint_config_name=self.config.attr_endpoint_config_name,
        )
        self._autoscaling(settings)

    def _execution_role(self, stack: Stack) -> iam.Role:
        """What the endpoint's instances may do: pull the one image, write their logs and
        metrics, nothing else (the weights come from the Hugging Face hub)."""
        role = iam.Role(
            self, "ExecutionRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com")
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                resources=[
                    stack.format_arn(
                        service="ecr",
                        account=self.image_account,
                        resource="repository",
                        resource_name=IMAGE_REPOSITORY,
                    )
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="/aws/sagemaker/Endpoints/" + self.endpoint_name + ":*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            )
        )
        # No secret read here: CloudFormation resolves the HF token with the deployer's rights.
        return role

    def _autoscaling(self, settings: ModelServerSettings) -> None:
        """Instances follow in-flight requests: target tracking on SageMaker's high-resolution
        concurrency metric, between minInstances and maxInstances."""
        self.scaling_target = appscaling.ScalableTarget(
            self,
            "ScalingTarget",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint_name}/variant/{VARIANT}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=settings.min_instances,
            max_capacity=settings.max_instances,
        )
        self.scaling_target.node.add_dependency(self.endpoint)
        self.scaling_target.scale_to_track_metric(
            "InFlightRequests",
            target_value=settings.target_concurrency,
            predefined_metric=(
                appscaling.PredefinedMetric.SAGEMAKER_VARIANT_CONCURRENT_REQUESTS_PER_MODEL_HIGH_RESOLUTION
            ),
            # A new GPU instance takes minutes to download and load the model: scale out
            # promptly, scale in only after a quiet spell.
            scale_out_cooldown=Duration.minutes(2),
            scale_in_cooldown=Duration.minutes(10),
        )

    def grant_invoke(self, grantee: iam.IGrantable) -> None:
        """InvokeEndpoint (which also covers the streaming call) on this one endpoint."""
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:InvokeEndpoint"], resource_arns=[self.endpoint_arn]
        )
