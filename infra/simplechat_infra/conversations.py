"""The conversations table (DynamoDB): one partition per user, one item per message part."""

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

#: The keys and the index as gateway/chat_gateway/store_dynamodb.py reads them
#: (docs/conversations.md): pk = "USER#<sub>", sk = "CONV#<id>#META" | "...#MSG#..." | "PROFILE".
PARTITION_KEY = "pk"
SORT_KEY = "sk"
BY_UPDATED_INDEX = "byUpdated"
TTL_ATTRIBUTE = "expiresAt"
#: What the gateway does with the table, and nothing more (no Scan: every read is one user's
#: partition; TransactWriteItems is authorised through the actions it is made of: the store's
#: are Put, Update and Delete). tests/infra/test_conversations.py runs both stores and checks
#: that this is exactly what they call.
GATEWAY_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchWriteItem",
]


class ConversationTable(Construct):
    """`table`; `grant_gateway(role)` gives a function exactly what the store needs."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(
                name=PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
            # Pay per request: a class's chat app is idle most of the day.
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            # Users' conversations outlive the stack: `cdk destroy` leaves the table (delete it
            # in the console when you mean to). A new deploy makes a new, empty one.
            removal_policy=RemovalPolicy.RETAIN,
            # Usage counts (per day, per minute) delete themselves once they can no longer
            # matter; conversations never carry the attribute.
            time_to_live_attribute=TTL_ATTRIBUTE,
        )
        # The list of a user's conversations, newest first, read strongly consistent (a local
        # index can be): only conversation items carry the index's sort key.
        self.table.add_local_secondary_index(
            index_name=BY_UPDATED_INDEX,
            sort_key=dynamodb.Attribute(name="byUpdated", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )

    def grant_gateway(self, role: iam.IRole) -> None:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=GATEWAY_ACTIONS,
                resources=[
                    self.table.table_arn,
                    f"{self.table.table_arn}/index/{BY_UPDATED_INDEX}",
                ],
            )
        )
