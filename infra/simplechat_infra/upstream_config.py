"""Where the model server is: an SSM parameter for its URL and a secret for its API key."""

from aws_cdk import RemovalPolicy
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct

PARAMETER_NAME = "/simplechat/upstream-url"


class UpstreamConfig(Construct):
    """`url_parameter` (changed by `simplechat register`) and `api_key_secret`."""

    def __init__(self, scope: Construct, construct_id: str, *, initial_url: str) -> None:
        super().__init__(scope, construct_id)
        self.url_parameter = ssm.StringParameter(
            self,
            "UrlParameter",
            parameter_name=PARAMETER_NAME,
            string_value=initial_url,
            description="Base URL of the simplechat model server (simplechat register updates it)",
        )
        self.api_key_secret = secretsmanager.Secret(
            self,
            "ApiKeySecret",
            description="API key the chat gateway sends to the model server",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=40
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
