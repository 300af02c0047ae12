"""The stores the configuration names: DynamoDB on AWS, SQLite locally, or none."""

from __future__ import annotations

from chat_gateway.config import Config
from chat_gateway.store import ConversationStore
from chat_gateway.usage import UsageStore


def open_store(config: Config) -> ConversationStore | None:
    # Imported only when chosen: the DynamoDB store needs boto3 (in the Lambda runtime), and
    # neither touches the network or the disk before its first call.
    if config.conversations_table:
        from chat_gateway.store_dynamodb import DynamoStore

        return DynamoStore(config.conversations_table)
    if config.conversations_db:
        from chat_gateway.store_sqlite import SqliteStore

        return SqliteStore(config.conversations_db)
    return None


def open_usage(config: Config, store: ConversationStore | None) -> UsageStore | None:
    """The per-user counts live beside the conversations: the same table, the same file, and
    the conversation store opened for them (one DynamoDB client, one schema set-up)."""
    from chat_gateway.store_dynamodb import DynamoStore
    from chat_gateway.store_sqlite import SqliteStore

    if config.conversations_table:
        from chat_gateway.usage_dynamodb import DynamoUsage

        shared = store if isinstance(store, DynamoStore) else None
        return DynamoUsage(config.conversations_table, store=shared)
    if config.conversations_db:
        from chat_gateway.usage_sqlite import SqliteUsage

        db = store if isinstance(store, SqliteStore) else None
        return SqliteUsage(config.conversations_db, store=db)
    return None
