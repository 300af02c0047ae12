"""The `sagemaker` protocol: OpenAI chat bodies to a SageMaker endpoint, signed by boto3.

vLLM's SageMaker image (and LMI) take OpenAI's chat body on /invocations; with `stream: true`
InvokeEndpointWithResponseStream carries vLLM's server-sent events in PayloadPart chunks.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from chat_gateway.chat_request import ChatInput
from chat_gateway.config import Config
from chat_gateway.errors import GatewayError
from chat_gateway.http_client import Reply
from chat_gateway.sagemaker_stream import SageMakerStream, StreamFailed, refusal
from chat_gateway.upstream import Answer, parse_answer, prompt_messages
from chat_gateway.upstream_events import Event, Failed, openai_events

#: A stop cannot reach the generation from another function instance (see `cancel`).
CANNOT_STOP = (
    "The model endpoint cannot be asked to stop an answer; it was stopped in your browser only."
)


def runtime_client(config: Config, *, endpoint_url: str | None = None) -> Any:
    """A sagemaker-runtime client: no retries of its own (an invocation that reached the model
    must not run twice), a read timeout as long as the gateway waits for the next byte."""
    import boto3  # provided by the Lambda runtime; imported only for this protocol
    from botocore.config import Config as BotoConfig

    settings = BotoConfig(
        connect_timeout=config.connect_timeout_seconds,
        read_timeout=config.stream_idle_seconds,
        retries={"total_max_attempts": 1},
        tcp_keepalive=True,
    )
    return boto3.client("sagemaker-runtime", endpoint_url=endpoint_url, config=settings)


def chat_body(chat: ChatInput, config: Config, *, stream: bool, user: str = "") -> bytes:
    """OpenAI's chat body, as vLLM's /invocations takes it."""
    payload: dict[str, Any] = {
        "messages": prompt_messages(chat, config.system_prompt),
        "max_tokens": chat.token_limit(config),
        "stream": stream,
    }
    if stream:
        payload["stream_options"] = {"include_usage": True}
    if config.upstream_model:
        payload["model"] = config.upstream_model
    if user:
        payload["user"] = user
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def sagemaker_events(stream: SageMakerStream) -> Iterator[Event]:
    """The stream as the gateway's events; SageMaker's own failure events end it clearly."""
    try:
        yield from openai_events(stream.events())
    except StreamFailed as exc:
        yield Failed(exc.status, exc.message)


class SageMakerUpstream:
    """Asks the endpoint named by SAGEMAKER_ENDPOINT_NAME, within the deadline."""

    def __init__(self, config: Config, *, client: Callable[[], Any] | Any = None) -> None:
        self._config = config
        self._client_value = client
        self.endpoint = config.sagemaker_endpoint

    def _client(self) -> Any:
        if self._client_value is None:  # made once per container, on the first request
            self._client_value = runtime_client(self._config)
        return self._client_value

    def open(self, chat: ChatInput, user: str, deadline: float) -> SageMakerStream:
        request = {
            "EndpointName": self.endpoint,
            "Body": chat_body(chat, self._config, stream=True, user=user),
            "ContentType": "application/json",
            "Accept": "text/event-stream",
        }
        stream = SageMakerStream(
            self._client(), request, deadline, self._config.stream_idle_seconds
        )
        return stream.open()

    def ask(self, chat: ChatInput, deadline: float) -> Answer:
        """The buffered path: InvokeEndpoint with the whole JSON answer."""
        client = self._client()
        results: queue.Queue[Any] = queue.Queue()

        def call() -> None:
            try:
                reply = client.invoke_endpoint(
                    EndpointName=self.endpoint,
                    Body=chat_body(chat, self._config, stream=False),
                    ContentType="application/json",
                    Accept="application/json",
                )
                results.put(reply["Body"].read())
            except Exception as exc:
                results.put(refusal(exc, self.endpoint))

        # On a thread, so the deadline holds even while boto3 waits for a slow model.
        threading.Thread(target=call, daemon=True).start()
        try:
            body = results.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise GatewayError(
                504, "The model did not answer in time. Try a shorter message, or try again."
            ) from None
        if isinstance(body, GatewayError):
            raise body
        return parse_answer(Reply(200, {}, body), "openai")

    def cancel(self) -> dict[str, Any]:
        """POST /chat/cancel reaches another function instance than the stream it would stop,
        and SageMaker has no call to stop one invocation: the browser stops reading."""
        return {"cancelled": False, "message": CANNOT_STOP}
