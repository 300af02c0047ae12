"""The CDK app: one stack with the whole simplechat deployment (`make synth`, `make deploy`)."""

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from simplechat_infra.stack import SimplechatStack, StackSettings


def main() -> None:
    app = cdk.App()
    SimplechatStack(app, "Simplechat", settings=StackSettings.from_context(app.node))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()


if __name__ == "__main__":
    main()
