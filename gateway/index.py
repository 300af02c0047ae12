"""Lambda entry point `index.lambda_handler`: the chat gateway between API Gateway and the LLM."""

import os
from typing import Any

from chat_gateway.config import Config
from chat_gateway.handler import Gateway

# Set up once per container: configuration is parsed here, but nothing touches the network
# until the first request (SSM, Secrets Manager and the upstream are read lazily, then cached).
_gateway = Gateway(Config.from_env(os.environ))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _gateway.handle(event, context)
