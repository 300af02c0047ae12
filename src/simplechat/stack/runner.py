"""`simplechat stack`: load the model, wire the real gateway to it, serve the UI, stop cleanly."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from pydantic import SecretStr

from simplechat.engines.base import Engine
from simplechat.engines.upstream_pool import is_loopback_host, sent_in_clear, without_credentials
from simplechat.settings import Settings
from simplechat.stack.first_run import describe_model, summary

log = logging.getLogger("simplechat")

#: The gateway's budget for one answer, as the CDK app sets it (API Gateway's 15-minute stream,
#: less a margin).
STREAM_BUDGET_SECONDS = 870


@dataclass(frozen=True)
class StackOptions:
    auth: str = "none"  # or "cognito": a local user pool on moto
    demo_user: str = "demo@example.com"
    demo_password: str | None = None
    mfa: str = "optional"  # the local pool's MFA: off, optional or required (as -c mfa=)
    language: str = "auto"
    upstream: str = ""  # a model server elsewhere; empty: the engine loaded here, under /llm
    upstream_protocol: str = "chat"
    data_dir: Path | None = None  # conversations; None: kept nowhere (the gateway answers 501)
    # Per-user limits, as the CDK app's -c userTokensPerDay= etc.; None: no limit.
    user_tokens_per_day: int | None = None
    user_requests_per_minute: int | None = None
    user_concurrent_answers: int | None = None
    # Host names served besides IP addresses and localhost (a LAN name, a proxy's domain).
    allowed_hosts: tuple[str, ...] = ()
    # --auth none on an address others can reach: only when the user says so.
    allow_no_auth_on_network: bool = False
    # An http:// --upstream on another machine (the key crosses the network in clear).
    allow_insecure_upstream: bool = False

    def limits_env(self) -> dict[str, str]:
        limits = {
            "USER_TOKENS_PER_DAY": self.user_tokens_per_day,
            "USER_REQUESTS_PER_MINUTE": self.user_requests_per_minute,
            "USER_CONCURRENT_ANSWERS": self.user_concurrent_answers,
        }
        return {name: str(value) for name, value in limits.items() if value is not None}


class ReadyServer(uvicorn.Server):
    """uvicorn's server, saying once that the stack is ready (after the port answers)."""

    def __init__(self, config: uvicorn.Config, ready_text: str) -> None:
        super().__init__(config)
        self.ready_text = ready_text

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self.ready_text, flush=True)


def conversations_db(folder: Path | None) -> str:
    """The SQLite file the gateway keeps conversations in, readable by its owner only (SQLite
    gives its journal files the same mode); the folder made, owner-only, if needed."""
    if folder is None:
        return ""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / "conversations.sqlite3"
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    path.chmod(0o600)  # made before this rule: other users of the machine could read it
    return str(path)


def start_refusal(host: str, options: StackOptions) -> str | None:
    """Why the stack will not start: everyone's data served to the network, or the model
    server's key sent across it in clear."""
    if options.upstream and sent_in_clear(options.upstream) and not options.allow_insecure_upstream:
        return (
            f"--upstream {without_credentials(options.upstream)} is http:// to another "
            "machine: the API key and every message would cross the network in clear. Use "
            "its https:// URL (a tunnel gives one), or add --allow-insecure-upstream if the "
            "network between is your own."
        )
    if options.auth != "none" or is_loopback_host(host) or options.allow_no_auth_on_network:
        return None
    return (
        f"--host {host} lets other machines reach the stack, and --auth none lets anyone who "
        "reaches it read and delete the conversations and use the model. Use --auth cognito "
        "(sign-in), or pass --allow-no-auth-on-network if every machine that can reach "
        f"{host} is yours."
    )


def own_origins(host: str, port: int, allowed_hosts: tuple[str, ...]) -> list[str]:
    """The origins the stack's page is loaded from: the gateway's CORS answers only these."""
    names = ["127.0.0.1", "localhost", *allowed_hosts]
    if host not in ("0.0.0.0", "::") and host not in names:
        names.append(f"[{host}]" if ":" in host else host)
    return [f"http://{name}:{port}" for name in names]


def run_stack(
    settings: Settings,
    engine: Engine | None,
    options: StackOptions,
    *,
    sockets: list[socket.socket] | None = None,  # the port, listening since the model's fetch
) -> int:
    from simplechat.api.app import create_app
    from simplechat.draining import sigterm_ends_like_ctrl_c
    from simplechat.slow_clients import guarded_protocol
    from simplechat.stack.app import LLM_PREFIX, create_stack_app
    from simplechat.stack.local_gateway import start_gateway
    from simplechat.stack.paths import MissingPart, gateway_dir, web_dir

    try:
        web, gateway = web_dir(), gateway_dir()
    except MissingPart as exc:
        print(f"simplechat stack: {exc}", file=sys.stderr)
        return 1
    if settings.port == 0:
        print("simplechat stack: give a fixed --port (the gateway must know it)", file=sys.stderr)
        return 2
    refusal = start_refusal(settings.host, options)
    if refusal is not None:
        print(f"simplechat stack: {refusal}", file=sys.stderr)
        return 2
    cognito = None
    pool = None
    if options.auth == "cognito":
        from simplechat.stack.cognito import LocalCognito
        from simplechat.stack.cognito_extras import password_problems

        cognito = LocalCognito(mfa=options.mfa, data_dir=options.data_dir)
        pool = cognito.pool
        password = options.demo_password or f"Local-{secrets.token_urlsafe(9)}1a"
        try:
            cognito.add_user(options.demo_user, password)
        except Exception as exc:  # botocore's ClientError: the pool's policy refused it
            cognito.stop()
            # What an empty password lacks is every rule of the pool's policy.
            rules = "; ".join(password_problems(pool.password_policy, ""))
            print(
                f"simplechat stack: the local user pool refused the demo user ({exc}). "
                f"--demo-password must pass the pool's rules ({rules}).",
                file=sys.stderr,
            )
            return 2
        log.info("local Cognito (moto) at %s, user pool %s", cognito.endpoint, pool.user_pool_id)
        # A password made up here is printed, so that it can be used; one you chose is not logged.
        shown = "(the one given with --demo-password)" if options.demo_password else password
        log.info("sign in as %s with password %s", options.demo_user, shown)
    keys = [key.get_secret_value() for key in settings.api_key]
    if options.auth == "cognito" and not keys and engine is not None:
        # Behind sign-in, the model answers only the gateway (and an operator with a key):
        # /llm called directly would skip both the sign-in and the per-user limits.
        keys = [secrets.token_urlsafe(32)]
        settings = settings.model_copy(update={"api_key": [SecretStr(keys[0])]})
    # Only the stack may reach the gateway's loopback port: it shows this secret (another
    # local process, e.g. another user's on a shared machine, does not know it).
    adapter_secret = secrets.token_urlsafe(32)
    # The gateway server as the Lambda Web Adapter runs it on AWS, with the CDK app's budget.
    gateway_server = start_gateway(
        gateway,
        {
            "UPSTREAM_URL": options.upstream or f"http://127.0.0.1:{settings.port}{LLM_PREFIX}",
            "UPSTREAM_PROTOCOL": options.upstream_protocol,
            "UPSTREAM_API_KEY": keys[0] if keys else "",
            "MAX_TOKENS": str(settings.default_max_tokens),
            # The fake engine echoes: its "title" would only replace the first line with noise.
            "MODEL_TITLES": str(settings.engine != "fake" or bool(options.upstream)).lower(),
            "TIME_BUDGET_SECONDS": str(STREAM_BUDGET_SECONDS),
            "ALLOWED_ORIGINS": ",".join(
                own_origins(settings.host, settings.port, options.allowed_hosts)
            ),
            "ADAPTER_SECRET": adapter_secret,
            # Without sign-in there is one user, `local`; with it, no `sub` is no entry.
            "LOCAL_SINGLE_USER": "true" if options.auth == "none" else "false",
            "ALLOW_INSECURE_UPSTREAM": "true" if options.allow_insecure_upstream else "false",
            "CONVERSATIONS_DB": conversations_db(options.data_dir),
            **options.limits_env(),
        },
    )
    model = describe_model(
        settings.model, engine.model_name if engine is not None else "", options.upstream
    )
    app = create_stack_app(
        llm_app=create_app(settings, engine) if engine is not None else None,
        gateway_url=f"http://127.0.0.1:{gateway_server.port}",
        web_dir=web,
        cognito=cognito,
        language=options.language,
        model=model,
        adapter_secret=adapter_secret,
        allowed_hosts=options.allowed_hosts,
        operator_keys=keys,
    )
    url = f"http://{settings.host}:{settings.port}"
    model_at = options.upstream or f"{url}{LLM_PREFIX} (docs: {url}{LLM_PREFIX}/docs)"
    log.info("the model answers from %s", model_at)
    if options.data_dir is not None:
        log.info("conversations are kept in %s", options.data_dir / "conversations.sqlite3")
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        http=guarded_protocol(settings.request_read_timeout, settings.max_connections),
        ws="none",  # no WebSocket route; an Upgrade would leave the connection cap's count
    )
    try:
        with sigterm_ends_like_ctrl_c():
            ReadyServer(config, summary(url, model)).run(sockets=sockets)
    except KeyboardInterrupt:
        pass  # uvicorn re-raises Ctrl-C after a clean shutdown
    finally:
        gateway_server.shutdown()
        if engine is not None:
            asyncio.run(engine.aclose())
        if cognito is not None:
            cognito.stop()
        log.info("stopped")
    return 0
