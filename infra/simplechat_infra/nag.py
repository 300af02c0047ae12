"""cdk-nag AwsSolutions findings we accept, each acknowledged with its reason (reviewed)."""

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

PACK = "AwsSolutions::"
#: Our reviewed findings: construct path under the stack -> {rule id: reason}.
REVIEWED: dict[str, dict[str, str]] = {
    "Auth/UserPool/Resource": {
        "AwsSolutions-COG2": "MFA is optional (TOTP) by default so course students can sign in "
        "without a second device; -c mfa=required makes it required.",
        "AwsSolutions-COG8": "Threat protection needs Cognito's Plus plan, a paid tier this "
        "starter stack does not assume.",
    },
    "Upstream/ApiKeySecret/Resource": {
        "AwsSolutions-SMG4": "The key is shared with a model server outside AWS (e.g. Colab); "
        "rotating it means restarting that server, so rotation is manual.",
    },
    "Web/Distribution/Resource": {
        "AwsSolutions-CFR1": "A chat app for anyone with an account: no country is excluded.",
        "AwsSolutions-CFR2": "No WAF by default (it has a monthly cost); the API behind the "
        "site needs a Cognito token and is throttled.",
        "AwsSolutions-CFR4": "The default CloudFront certificate (no custom domain) cannot pin "
        "TLS 1.2; add a domain and certificate to enforce it.",
    },
    "Chat/Api/Resource": {
        "AwsSolutions-APIG2": "The Lambda validates every body and answers with messages the UI "
        "shows; an API Gateway schema would replace those with generic errors.",
    },
    "Chat/Api/DeploymentStage.prod/Resource": {
        "AwsSolutions-APIG3": "No WAF by default (monthly cost); the stage is throttled and every "
        "call needs a Cognito token.",
    },
    "Chat/Api/CloudWatchRole/Resource": {
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AmazonAPIGatewayPushToCloudWatchLogs]": "API Gateway's account-level logging role uses "
        "the AWS managed policy, as AWS documents for it.",
    },
}


def model_reviewed(endpoint_name: str) -> dict[str, dict[str, str]]:
    """The model tier's findings (-c modelServer=sagemaker, model_endpoint.py), reviewed."""
    log_group = (
        "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
        f"/aws/sagemaker/Endpoints/{endpoint_name}:*"
    )
    return {
        "Model/ExecutionRole/DefaultPolicy/Resource": {
            "AwsSolutions-IAM5[Resource::*]": "ecr:GetAuthorizationToken has no resource to "
            "scope to, and cloudwatch:PutMetricData is limited by a condition to SageMaker's "
            "namespaces; the image pull itself is scoped to the one vLLM repository.",
            f"AwsSolutions-IAM5[Resource::{log_group}]": "The endpoint's instances create "
            "their own log streams in the endpoint's one log group, named as they start.",
        },
    }


#: CDK's own helper Lambda that copies the UI into the bucket (BucketDeployment).
DEPLOYMENT_HELPER = "CDK's own BucketDeployment helper"
HELPER_REVIEWED: dict[str, dict[str, str]] = {
    "Resource": {"AwsSolutions-L1": f"{DEPLOYMENT_HELPER}: aws-cdk-lib picks its runtime."},
    "ServiceRole/Resource": {
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole]": f"{DEPLOYMENT_HELPER} logs with the basic execution role.",
    },
    "ServiceRole/DefaultPolicy/Resource": {
        f"AwsSolutions-IAM5[{finding}]": f"{DEPLOYMENT_HELPER} copies and prunes objects, so it "
        "needs object-level access within the asset and site buckets."
        for finding in (
            "Action::s3:GetObject*",
            "Action::s3:GetBucket*",
            "Action::s3:List*",
            "Action::s3:DeleteObject*",
            "Action::s3:Abort*",
            "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-"
            "<AWS::Region>/*",
            "Resource::<WebSiteD504717C.Arn>/*",
            "Resource::*",
        )
    },
}


def _child(root: IConstruct, path: str) -> IConstruct:
    node = root
    for part in path.split("/"):
        found = node.node.try_find_child(part)
        if found is None:
            raise LookupError(f"no construct at {root.node.path}/{path}")
        node = found
    return node


def _acknowledge(construct: IConstruct, rules: dict[str, str]) -> None:
    for rule, reason in rules.items():
        Validations.of(construct).acknowledge(Acknowledgment(id=PACK + rule, reason=reason))


def acknowledge_reviewed_findings(stack: Stack) -> None:
    for path, rules in REVIEWED.items():
        _acknowledge(_child(stack, path), rules)
    model = stack.node.try_find_child("Model")
    if model is not None:
        for path, rules in model_reviewed(getattr(model, "endpoint_name", "")).items():
            _acknowledge(_child(stack, path), rules)
    for helper in stack.node.children:
        if helper.node.id.startswith("Custom::CDKBucketDeployment"):
            for path, rules in HELPER_REVIEWED.items():
                _acknowledge(_child(helper, path), rules)
