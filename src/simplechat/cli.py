"""The `simplechat` command line: `serve` loads a model and runs the API."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from simplechat import __version__
from simplechat.engines.base import Engine
from simplechat.settings import Settings

log = logging.getLogger("simplechat")

# Flag -> settings field; flags left out fall back to SIMPLECHAT_* variables, then defaults.
_SERVE_FLAGS: dict[str, dict[str, Any]] = {
    "--model": {
        "help": "a name from `simplechat models`, a GGUF repository on the hub "
        "(owner/name-GGUF[:Q4_K_M]), a GGUF file, a Hugging Face folder or hub id "
        "(default: the bundled SmolLM2-135M)"
    },
    "--engine": {
        "choices": ["auto", "llamacpp", "transformers", "vllm", "openai", "fake"],
        "help": "default: auto (llama.cpp for .gguf, else transformers); vllm (GPU, "
        "simplechat[vllm]); openai (forward to --upstream servers)",
    },
    "--host": {"help": "address to bind (default: 127.0.0.1)"},
    "--port": {"type": int, "help": "port (default: 8000)"},
    "--api-key": {
        "action": "append",
        "help": "a key clients must send (repeat for several). Better: the environment "
        "variable SIMPLECHAT_API_KEY=k1,k2, since flags show in `ps` to every user",
    },
    "--cors-origin": {
        "action": "append",
        "dest": "cors_origins",
        "help": "an origin (https://your.app) whose web pages may call the API (repeatable; "
        "default: none, so other sites' pages are refused; * allows every site)",
    },
    "--open-path": {
        "action": "append",
        "dest": "open_paths",
        "help": "a path that needs no key besides /health, e.g. /metrics (repeatable)",
    },
    "--model-name": {"help": "model id shown to clients (default: from the file or hub id)"},
    "--system-prompt": {
        "help": "system prompt for conversations that bring none (default: the catalogue's "
        "for its models, which keeps answers in the user's language)"
    },
    "--context-length": {
        "type": int,
        "help": "tokens of context per request (default: the model's; at most 4096 for GGUF)",
    },
    "--threads": {"type": int, "help": "CPU threads for the engine"},
    "--max-batch": {
        "type": int,
        "help": "requests decoded together; each gets --context-length tokens of KV cache "
        "(llama.cpp: as many full contexts as fit in 1/8 of memory, a power of two up to 16; "
        "other engines: 4)",
    },
    "--kv-cache-type": {
        "choices": ["f16", "q8_0"],
        "help": "llama.cpp KV cache precision (f16); q8_0 halves its memory, a few %% slower",
    },
    "--weight-type": {
        "choices": ["auto", "file", "q8_0", "file+q8_0"],
        "help": "llama.cpp weights: as in the file, converted once to q8_0 (kept in "
        "~/.cache/simplechat), or both, a step of few tokens on the file's and one of many on "
        "the q8_0 copy; auto (default): both for a q4_1/q5_1 model on the CPU, else file",
    },
    "--default-max-tokens": {"type": int, "help": "answer length when a request sets none (512)"},
    "--no-prompt-cache": {
        "action": "store_false",
        "dest": "prompt_cache",
        "default": None,
        "help": "decode every prompt in full (default: reuse a shared prefix's KV cache)",
    },
    "--request-time-limit": {
        "type": float,
        "help": "seconds one request may take, queueing included (600); then it ends as 'length'",
    },
    "--request-read-timeout": {
        "type": float,
        "help": "seconds a client has to send a whole request; slower ones are cut off (15)",
    },
    "--max-connections": {
        "type": int,
        "help": "client connections open at once (512); one more gets 503 and is closed",
    },
    "--shutdown-grace-seconds": {
        "type": float,
        "help": "on SIGTERM: refuse new work, let running requests finish this long (30)",
    },
    "--max-queue": {"type": int, "help": "requests that may wait beyond the batch (16); more: 429"},
    "--max-body-bytes": {"type": int, "help": "largest request body accepted (1 MiB); more: 413"},
    "--device": {
        "choices": ["auto", "cpu", "cuda", "mps"],
        "help": "default: auto (GPU if present)",
    },
    "--log-level": {"choices": ["critical", "error", "warning", "info", "debug"]},
}


# `serve` only: engines that scale out (see README "Scaling out").
_SCALE_FLAGS: dict[str, dict[str, Any]] = {
    "--upstream": {
        "action": "append",
        "dest": "upstreams",
        "help": "an OpenAI-compatible server for --engine openai (repeat for several)",
    },
    "--upstream-api-key": {
        "help": "the key those servers want (sent as a Bearer token). Better: the environment "
        "variable SIMPLECHAT_UPSTREAM_API_KEY, since flags show in `ps` to every user",
    },
    "--allow-insecure-upstream": {
        "action": "store_true",
        "default": None,
        "help": "allow an http:// --upstream on another machine (key and prompts unencrypted); "
        "default: http:// only on loopback",
    },
    "--balance": {
        "choices": ["least-outstanding", "round-robin"],
        "help": "how --engine openai spreads requests (default: least-outstanding)",
    },
    "--upstream-health-interval": {
        "type": float,
        "help": "seconds between health checks of each upstream (5)",
    },
    "--tensor-parallel-size": {"type": int, "help": "GPUs one model is split across (vllm; 1)"},
    "--gpu-memory-utilization": {
        "type": float,
        "help": "share of each GPU's memory vLLM may use (0.9)",
    },
    "--enforce-eager": {
        "action": "store_true",
        "default": None,
        "help": "vllm: skip torch.compile and CUDA graphs: starts faster, decodes slower "
        "(on a small CPU, compiling takes minutes)",
    },
}


# `serve` only: make the server reachable by the deployed AWS app (see public_access.py).
_PUBLIC_FLAGS: dict[str, dict[str, Any]] = {
    "--tunnel": {
        "choices": ["none", "ngrok"],
        "help": "open a public tunnel (ngrok: token from NGROK_AUTHTOKEN) and print its URL",
    },
    "--insecure-public": {
        "action": "store_true",
        "default": None,
        "help": "allow a public tunnel without --api-key (anyone could use your model)",
    },
    "--register-parameter": {
        "help": "SSM parameter (a stack output) that gets the tunnel URL, also after a reconnect",
    },
    "--register-secret": {
        "help": "Secrets Manager secret (a stack output) that gets the API key",
    },
    "--tunnel-check-interval": {
        "type": float,
        "help": "seconds between checks that the tunnel is up (10)",
    },
}


def positive_int(text: str) -> int:
    """A limit: a whole number of 1 or more (argparse says which flag was wrong)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a limit must be 1 or more")
    return value


_STACK_FLAGS: dict[str, dict[str, Any]] = {
    "--auth": {
        "choices": ["none", "cognito"],
        "default": "none",
        "help": "cognito: sign in against a local Cognito user pool (moto), as on AWS",
    },
    "--demo-user": {"default": "demo@example.com", "help": "the local Cognito user's email"},
    "--demo-password": {"help": "its password (default: generated and printed)"},
    "--mfa": {
        "choices": ["off", "optional", "required"],
        "default": "optional",
        "help": "the local user pool's TOTP MFA, as the CDK app's -c mfa= (optional)",
    },
    "--language": {"choices": ["auto", "ja", "en"], "default": "auto", "help": "UI language"},
    "--upstream": {
        "help": "use a model server elsewhere (e.g. your Colab tunnel URL) instead of loading one",
    },
    "--upstream-protocol": {"choices": ["chat", "generate", "openai"], "default": "chat"},
    "--user-tokens-per-day": {
        "type": positive_int,
        "help": "per-user limit: tokens a day (UTC), prompt and answer (default: no limit)",
    },
    "--user-requests-per-minute": {
        "type": positive_int,
        "help": "per-user limit: chat requests a minute (default: no limit)",
    },
    "--user-concurrent-answers": {
        "type": positive_int,
        "help": "per-user limit: answers being written at once (default: no limit)",
    },
    "--data-dir": {
        "help": "where conversations are kept (default: $SIMPLECHAT_DATA_DIR, else "
        "~/.local/share/simplechat)",
    },
    "--allowed-host": {
        "action": "append",
        "default": [],
        "metavar": "NAME",
        "help": "a host name the stack answers for besides IP addresses and localhost "
        "(a LAN name, a proxy's domain); repeat for more. Guards against DNS rebinding",
    },
    "--allow-no-auth-on-network": {
        "action": "store_true",
        "help": "let --auth none serve a --host other machines can reach (anyone there can "
        "read the conversations)",
    },
    "--allow-insecure-upstream": {
        "action": "store_true",
        "dest": "allow_insecure_upstream_stack",
        "help": "allow an http:// --upstream on another machine (the key and messages cross "
        "the network unencrypted); default: http:// only on loopback",
    },
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simplechat", description="Your own LLM behind a chat app."
    )
    parser.add_argument("--version", action="version", version=f"simplechat {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="load a model and serve the API")
    stack = commands.add_parser(
        "stack", help="the whole chat app on one port: web UI, gateway Lambda and the model"
    )
    for flag, options in _SERVE_FLAGS.items():
        serve.add_argument(flag, **options)
        stack.add_argument(flag, **options)
    for flag, options in {**_SCALE_FLAGS, **_PUBLIC_FLAGS}.items():
        serve.add_argument(flag, **options)
    for flag, options in _STACK_FLAGS.items():
        stack.add_argument(flag, **options)
    commands.add_parser(
        "models", help="recommended small models that answer in Japanese, by short name"
    )
    register = commands.add_parser(
        "register", help="write the server's public URL into the deployed app's SSM parameter"
    )
    register.add_argument("--parameter", required=True, help="SSM parameter name (a stack output)")
    register.add_argument("--url", required=True, help="the server's public base URL")
    register.add_argument("--region", help="AWS region (default: from AWS_REGION / your profile)")
    register.add_argument(
        "--allow-insecure-upstream",
        action="store_true",
        help="register an http:// URL of another machine (the Lambda would send the API key "
        "unencrypted); default: https:// only",
    )
    return parser


def load_settings(args: argparse.Namespace) -> Settings:
    """Flags given on the command line win over the environment."""
    stack_only = {
        options.get("dest", flag.removeprefix("--").replace("-", "_"))
        for flag, options in _STACK_FLAGS.items()
    }
    given = {
        name: value
        for name, value in vars(args).items()
        if value is not None and name != "command" and name not in stack_only
    }
    return Settings(**given)


def _flag_names(parser: argparse.ArgumentParser, command: str) -> dict[str, str]:
    """Setting name -> the flag that sets it, as the command's parser spells it."""
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub = subparsers.choices[command]
    return {a.dest: max(a.option_strings, key=len) for a in sub._actions if a.option_strings}


def explain(error: ValidationError, flags: dict[str, str] | None = None) -> str:
    """One line per problem, naming the flag (`flags` maps setting names to flags where they
    differ, e.g. upstreams -> --upstream) and the environment variable."""
    lines = ["simplechat: invalid settings:"]
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"])
        message = str(problem["msg"]).removeprefix("Value error, ")
        if not field:  # a rule across several settings names its flags itself
            lines.append(f"  {message}")
            continue
        flag = (flags or {}).get(field) or "--" + field.replace("_", "-")
        env = "SIMPLECHAT_" + field.upper()
        lines.append(f"  {flag} / {env}: {message}")
    return "\n".join(lines)


def warn_about_keys_in_argv(args: argparse.Namespace) -> None:
    """Keys given as flags still work; the warning names the variable that keeps them private."""
    for name in ("api_key", "upstream_api_key"):
        if getattr(args, name, None):
            flag, env = "--" + name.replace("_", "-"), "SIMPLECHAT_" + name.upper()
            log.warning(
                "%s on the command line is visible to every user of this machine (ps, shell "
                "history); set the environment variable %s instead",
                flag,
                env,
            )


def load_engine_logged(settings: Settings) -> Engine | None:
    """Load the model, saying what and how long; None (after a message) when it cannot."""
    from simplechat.engines import load_engine
    from simplechat.engines.base import EngineError

    if not settings.api_key and settings.binds_publicly:
        log.warning(
            "\n%s\n  No API key, yet binding %s: anyone who can reach this machine can use the\n"
            "  model. Add --api-key (or SIMPLECHAT_API_KEY) before exposing it.\n%s",
            "!" * 72,
            settings.host,
            "!" * 72,
        )
    if settings.resolved_engine == "openai":
        from simplechat.engines.upstream_pool import without_credentials

        shown = ", ".join(without_credentials(url) for url in settings.upstreams)
        log.info("asking %s for its model ...", shown)
    else:
        log.info(
            "loading %s with the %s engine ...",
            settings.model or "the fake model",
            settings.resolved_engine,
        )
    started = time.perf_counter()
    try:
        engine = load_engine(settings)
    except EngineError as exc:
        print(f"simplechat: {exc}", file=sys.stderr)
        return None
    log.info(
        "model %r loaded in %.1f s (context %d tokens)",
        engine.model_name,
        time.perf_counter() - started,
        engine.context_length,
    )
    return engine


def port_free(settings: Settings) -> bool:
    """False, with a clear message, when the port is taken (before a model load, not after)."""
    from simplechat.port_check import port_advice, port_unavailable

    reason = port_unavailable(settings.host, settings.port)
    if reason is not None:
        print(f"simplechat: {port_advice(reason)}", file=sys.stderr)
    return reason is None


def serve(settings: Settings) -> int:
    import uvicorn

    from simplechat.api.app import create_app
    from simplechat.draining import Drain, DrainingServer, sigterm_ends_like_ctrl_c
    from simplechat.model_startup import prepare_model
    from simplechat.public_access import PublicAccess
    from simplechat.slow_clients import guarded_protocol

    if not port_free(settings):
        return 1
    prepared = prepare_model(settings, load_engine_logged, page=False)
    if prepared is None:
        return 1
    settings, engine = prepared.settings, prepared.engine
    drain = Drain(settings.shutdown_grace_seconds)
    app = create_app(settings, engine, drain)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=2,  # the draining above already waited for the requests
        http=guarded_protocol(settings.request_read_timeout, settings.max_connections),
        ws="none",  # no WebSocket route; an Upgrade would leave the connection cap's count
    )
    public = PublicAccess(settings)
    server = DrainingServer(
        config,
        drain=drain,
        in_flight=lambda: app.state.service.admission.in_flight,
        on_started=public.start_in_background if public.wanted else None,
    )
    try:
        with sigterm_ends_like_ctrl_c():
            server.run(sockets=prepared.sockets)  # None: uvicorn binds the port itself
    except KeyboardInterrupt:
        pass  # uvicorn re-raises Ctrl-C after a clean shutdown; it is a normal stop for us
    finally:
        public.stop()
        asyncio.run(engine.aclose())
        log.info("stopped")
    return 0


#: What `--auth cognito` imports (the `local-auth` extra), by the module each package provides.
SIGN_IN_MODULES = {"moto": "moto[server]", "jwt": "pyjwt[crypto]", "boto3": "boto3"}


def missing_sign_in_packages(auth: str) -> str | None:
    """What to install for `--auth cognito` when `make run` alone set up .venv, else None."""
    import importlib.util

    if auth != "cognito":
        return None
    missing = [pkg for mod, pkg in SIGN_IN_MODULES.items() if importlib.util.find_spec(mod) is None]
    if not missing:
        return None
    return (
        f"--auth cognito needs {', '.join(missing)} (a local Cognito user pool): install them "
        "with .venv/bin/pip install -e '.[local-auth]' in the checkout (make install-dev "
        "installs them too)."
    )


def stack(settings: Settings, args: argparse.Namespace) -> int:
    from simplechat.model_startup import prepare_model
    from simplechat.stack.paths import data_dir
    from simplechat.stack.runner import StackOptions, run_stack, start_refusal

    options = StackOptions(
        auth=args.auth,
        demo_user=args.demo_user,
        demo_password=args.demo_password,
        mfa=args.mfa,
        language=args.language,
        upstream=args.upstream or "",
        upstream_protocol=args.upstream_protocol,
        data_dir=data_dir(args.data_dir),
        user_tokens_per_day=args.user_tokens_per_day,
        user_requests_per_minute=args.user_requests_per_minute,
        user_concurrent_answers=args.user_concurrent_answers,
        allowed_hosts=tuple(args.allowed_host),
        allow_no_auth_on_network=args.allow_no_auth_on_network,
        allow_insecure_upstream=args.allow_insecure_upstream_stack,
    )
    # Before the model loads: a refusal should not wait for it.
    refusal = start_refusal(settings.host, options) or missing_sign_in_packages(options.auth)
    if refusal is not None:
        print(f"simplechat stack: {refusal}", file=sys.stderr)
        return 2
    if not port_free(settings):
        return 1
    engine = None
    sockets = None
    if not args.upstream:
        prepared = prepare_model(settings, load_engine_logged, page=True)
        if prepared is None:
            return 1
        settings, engine, sockets = prepared.settings, prepared.engine, prepared.sockets
    return run_stack(settings, engine, options, sockets=sockets)


def register(args: argparse.Namespace) -> int:
    from simplechat.register import RegistrationError, register_url, ssm_client

    try:
        register_url(
            args.parameter,
            args.url,
            ssm_client(args.region),
            allow_insecure=args.allow_insecure_upstream,
        )
    except RegistrationError as exc:
        print(f"simplechat register: {exc}", file=sys.stderr)
        return 1
    print(f"registered {args.url} in {args.parameter}; the chat app uses it within a minute")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "register":
        return register(args)
    if args.command == "models":
        from simplechat.model_catalogue import table

        print(table())
        return 0
    if args.command == "stack" and getattr(args, "engine", None) == "openai":
        print(
            "simplechat stack: the stack fronts a model server elsewhere with --upstream URL "
            "(--upstream-protocol openai for a plain OpenAI-compatible one); --engine openai "
            "is for `simplechat serve`.",
            file=sys.stderr,
        )
        return 2
    try:
        settings = load_settings(args)
    except ValidationError as error:
        print(explain(error, _flag_names(parser, args.command)), file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    warn_about_keys_in_argv(args)
    if args.command == "stack":
        return stack(settings, args)
    return serve(settings)
