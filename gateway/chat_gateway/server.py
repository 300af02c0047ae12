"""The gateway as an HTTP server, as the Lambda Web Adapter runs it (`-m chat_gateway.server`).

The adapter turns each API Gateway invoke into a request to this server on 127.0.0.1:$PORT and
streams the response back (AWS_LWA_INVOKE_MODE=response_stream); the local stack does the same.
API Gateway's request context, with the Cognito claims, comes in the `x-amzn-request-context`
header, so whoever can reach this port can claim to be any user. Who can:

- On AWS, only the Lambda Web Adapter: the function's sandbox is single-tenant, nothing else
  runs in it, and the port is on loopback. ADAPTER_SECRET is not set there.
- Locally, any process of any user of the machine. The local stack therefore sets
  ADAPTER_SECRET to a random value per run, and sends it with every request in the
  `x-simplechat-adapter-secret` header (ADAPTER_SECRET_HEADER). With it set, every request but
  `GET /health` (the adapter's readiness check) that does not carry it is refused with 403
  before its request context is read.

`GET /metrics` leaves out the per-user token series (each user's `sub`) unless the request
carries the adapter secret and `x-simplechat-metrics-users: 1` (METRICS_USERS_HEADER): the
stack asks for them only for a caller it checked as an operator. Without ADAPTER_SECRET set,
the user series are never shown.
"""

from __future__ import annotations

import hmac
import json
import os
import sys
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from chat_gateway.config import Config
from chat_gateway.conversation_api import is_conversations
from chat_gateway.errors import GatewayError
from chat_gateway.events import HttpRequest, claims_of
from chat_gateway.handler import Gateway, is_cancel
from chat_gateway.preset_api import is_presets
from chat_gateway.responses import cors_headers

#: What API Gateway itself refuses beyond (10 MB); the gateway's own, smaller limit applies after.
MAX_REQUEST_BYTES = 10 * 1024 * 1024
#: The most a JSON (non-streaming) answer may take: under API Gateway's 5-minute idle limit.
JSON_BUDGET_SECONDS = 290.0
#: The header that carries ADAPTER_SECRET (the local stack's per-run value).
ADAPTER_SECRET_HEADER = "x-simplechat-adapter-secret"
#: With the adapter secret, asks /metrics for the tokens by user.
METRICS_USERS_HEADER = "x-simplechat-metrics-users"
NOT_THE_ADAPTER = (
    "This port answers only the Lambda Web Adapter or the local stack, and the request did not "
    "carry their secret. Send requests through the stack's own address instead."
)


def request_context(header: str | None) -> dict[str, Any]:
    try:
        context = json.loads(header or "{}")
    except ValueError:
        return {}
    return context if isinstance(context, dict) else {}


class GatewayHandler(BaseHTTPRequestHandler):
    """One request per thread; `server.gateway` does the work."""

    protocol_version = "HTTP/1.1"
    server: GatewayServer

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/health":  # the adapter's readiness check: says nothing of anyone
            self._send_json(200, {"status": "ok"}, {})
        elif not self._from_the_adapter():
            return
        elif path == "/metrics":  # the local stack's; API Gateway has no route to it
            users = self.headers.get(METRICS_USERS_HEADER, "").strip() == "1"
            self._send_proxy_result(
                {
                    "statusCode": 200,
                    "headers": {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
                    "body": self.server.gateway.tally.text(
                        include_users=users and bool(self.server.gateway.config.adapter_secret)
                    ),
                }
            )
        elif is_conversations(path) or is_presets(path) or path.rstrip("/") == "/usage":
            self._chat()
        else:
            self._send_json(404, {"success": False, "error": "Not found."}, {})

    # Every other method goes to the gateway, which answers 405 where a route does not take it.
    def do_POST(self) -> None:
        self._chat_from_the_adapter()

    def do_OPTIONS(self) -> None:
        self._chat_from_the_adapter()

    def do_PUT(self) -> None:
        self._chat_from_the_adapter()

    def do_PATCH(self) -> None:
        self._chat_from_the_adapter()

    def do_DELETE(self) -> None:
        self._chat_from_the_adapter()

    def _from_the_adapter(self) -> bool:
        """True when ADAPTER_SECRET is unset or the request carries it; else answers 403."""
        secret = self.server.gateway.config.adapter_secret
        if not secret:
            return True
        given = self.headers.get(ADAPTER_SECRET_HEADER, "")
        if hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8")):
            return True
        # The body is left unread: the connection is closed rather than reused.
        self.close_connection = True
        self._send_json(403, {"success": False, "error": NOT_THE_ADAPTER}, {"Connection": "close"})
        return False

    def _chat_from_the_adapter(self) -> None:
        if self._from_the_adapter():
            self._chat()

    def _chat(self) -> None:
        started = time.monotonic()
        gateway = self.server.gateway
        body = self._body()
        if body is None:
            return
        context = request_context(self.headers.get("x-amzn-request-context"))
        request = HttpRequest(
            method=self.command.upper(),
            # The secret goes no further than the check above (nothing else may log it).
            headers={
                k.lower(): v for k, v in self.headers.items() if k.lower() != ADAPTER_SECRET_HEADER
            },
            body=body,
            request_id=str(context.get("requestId", "")),
            user_sub=str(claims_of(context).get("sub", "")),
            path=urlsplit(self.path).path,
            query=dict(parse_qsl(urlsplit(self.path).query)),
        )
        streaming = (
            request.method == "POST"
            and not is_cancel(request.path)
            and not is_conversations(request.path)
            and not is_presets(request.path)
            and "text/event-stream" in request.headers.get("accept", "")
        )
        if not streaming:
            # A JSON answer sends nothing until it is whole, and API Gateway ends a stream
            # (what the adapter's answers are) after 5 quiet minutes: it must end sooner.
            budget = min(gateway.config.time_budget_seconds, JSON_BUDGET_SECONDS)
            deadline = started + budget
            self._send_proxy_result(gateway.respond(request, deadline, started))
            return
        try:
            stream = gateway.open_stream(request, started)
        except GatewayError as exc:
            gateway.log_refusal(request, exc, started)
            self._send_proxy_result(gateway.error_response(exc, request.origin))
            return
        headers = {
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            **cors_headers(gateway.config, request.origin),
        }
        events = stream.events()
        try:
            self._send_events(headers, events)
        except OSError:  # the browser left: dropping the model server's connection stops it
            stream.outcome.status, stream.outcome.error = 499, "the client went away"
            self.close_connection = True
        finally:
            events.close()  # closes the model server's connection, logs the request
            stream.end()  # the same, for events never started (the browser left at once)

    def _body(self) -> bytes | None:
        length = self.headers.get("content-length")
        if length is None or not length.isdigit():
            return b""
        if int(length) > MAX_REQUEST_BYTES:
            self._send_json(413, {"success": False, "error": "The request is too large."}, {})
            self.close_connection = True
            return None
        return self.rfile.read(int(length))

    def _send_proxy_result(self, result: dict[str, Any]) -> None:
        body = str(result.get("body") or "").encode("utf-8")
        self.send_response(int(result["statusCode"]))
        for name, value in (result.get("headers") or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
        self._send_proxy_result(
            {
                "statusCode": status,
                "headers": {"Content-Type": "application/json; charset=utf-8", **headers},
                "body": json.dumps(payload),
            }
        )

    def _send_events(
        self, headers: dict[str, str], events: Iterable[dict[str, Any] | None]
    ) -> None:
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for item in events:
            if item is None:
                data = b": keep-alive\n\n"
            else:
                data = f"data: {json.dumps(item, ensure_ascii=False)}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the gateway logs one JSON line per request itself


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: in the local stack many browsers' requests arrive
    # at once, and a sixth connection waiting to be accepted would be reset.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        super().__init__(address, GatewayHandler)
        self.gateway = gateway

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def start_in_thread(gateway: Gateway, host: str = "127.0.0.1", port: int = 0) -> GatewayServer:
    """For the local stack and tests: the server on its own thread (port 0: any free one)."""
    server = GatewayServer((host, port), gateway)
    # A short poll: shutdown() waits for one (the stack stops, each test stops its own server).
    threading.Thread(
        target=server.serve_forever, args=(0.05,), name="chat-gateway", daemon=True
    ).start()
    return server


def main() -> int:
    port = int(os.environ.get("PORT", "8080"))
    config = Config.from_env(os.environ)
    for problem in config.problems:  # each answer names them too; the log says so at start
        print(f"chat gateway configuration problem: {problem}", file=sys.stderr, flush=True)
    server = GatewayServer(("127.0.0.1", port), Gateway(config))
    print(f"chat gateway listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
