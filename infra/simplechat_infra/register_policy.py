"""The least IAM that `simplechat register` needs: write the URL parameter and the key secret."""

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from simplechat_infra.upstream_config import UpstreamConfig

#: What src/simplechat/register.py calls: `register_url` reads the parameter first (so a wrong
#: name says "does not exist" instead of creating a stray parameter) and then overwrites it;
#: `register_key` (serve --register-secret) puts the key as the secret's new value. Nothing
#: reads the key back, and the parameter is a plain String (no KMS key to grant).
URL_ACTIONS = ["ssm:GetParameter", "ssm:PutParameter"]
KEY_ACTIONS = ["secretsmanager:PutSecretValue"]


class RegisterPolicy(Construct):
    """`document` for the machine that runs the model server (a Colab notebook's access key
    should carry nothing more), given as the `RegisterPolicy` output; with `managed`, also
    `managed_policy` to attach to that user or role (its ARN as `RegisterPolicyArn`)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, upstream: UpstreamConfig, managed: bool
    ) -> None:
        super().__init__(scope, construct_id)
        self.document = iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="RegisterTheModelServerUrl",
                    actions=URL_ACTIONS,
                    resources=[upstream.url_parameter.parameter_arn],
                ),
                iam.PolicyStatement(
                    sid="RegisterTheModelServerKey",
                    actions=KEY_ACTIONS,
                    # the secret's full ARN (with its random suffix), not a name pattern
                    resources=[upstream.api_key_secret.secret_arn],
                ),
            ]
        )
        stack = Stack.of(self)
        document: Any = self.document.to_json()
        CfnOutput(
            stack,
            "RegisterPolicy",
            value=stack.to_json_string(document),
            description="The least IAM policy for simplechat register and serve "
            "--register-secret (attach it to the model server machine's user or role)",
        )
        self.managed_policy: iam.ManagedPolicy | None = None
        if managed:
            self.managed_policy = iam.ManagedPolicy(
                self,
                "Policy",
                description="simplechat register: write the model server's URL and API key",
                document=self.document,
            )
            CfnOutput(
                stack,
                "RegisterPolicyArn",
                value=self.managed_policy.managed_policy_arn,
                description="Attach to the model server machine's IAM user or role: "
                "aws iam attach-user-policy --user-name NAME --policy-arn <this>",
            )
