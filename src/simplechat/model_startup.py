"""Getting the model ready: a hub model is fetched (or found in the cache) and loaded while a
stand-in server holds the port, answering /health with 503 and how far along it is."""

from __future__ import annotations

import html
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

import uvicorn
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send

from simplechat.hub_gguf import HubSpec, parse_hub_spec
from simplechat.model_catalogue import CATALOGUE, lookup
from simplechat.model_progress import Progress

if TYPE_CHECKING:
    from simplechat.engines.base import Engine
    from simplechat.settings import Settings

log = logging.getLogger("simplechat")

#: Paths the stand-in server answers with a page (the stack's UI); the rest get JSON.
API_PREFIXES = ("/llm", "/api", "/cognito", "/v1", "/chat", "/generate", "/metrics")


def hub_spec(settings: Settings) -> HubSpec | None:
    """The hub repository to fetch for these settings, or None (a local file, transformers)."""
    if settings.resolved_engine != "llamacpp":
        return None
    entry = lookup(settings.model)
    return parse_hub_spec(entry.spec if entry else settings.model)


def catalogue_prompt(model: str, spec: HubSpec) -> str:
    """The catalogue's system prompt for a model named by short name or by its repository."""
    entry = lookup(model) or next(
        (e for e in CATALOGUE if e.spec.partition(":")[0].lower() == spec.repo.lower()), None
    )
    return entry.system_prompt if entry else ""


class ProgressApp:
    """The stand-in: /health is 503 with progress; the stack's page says what is happening."""

    def __init__(self, progress: Progress, *, page: bool) -> None:
        self.progress = progress
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        response = self.respond(scope["path"], scope["method"])
        await response(scope, receive, send)

    def respond(self, path: str, method: str) -> Response:
        retry = {"Retry-After": "2"}
        if path.endswith("/health"):
            return JSONResponse(self.progress.snapshot(), 503, headers=retry)
        if self.page and method == "GET" and not path.startswith(API_PREFIXES):
            return HTMLResponse(progress_page(self.progress), 503, headers=retry)
        return JSONResponse(
            {
                "error": {
                    "message": f"The model is not ready yet: {self.progress.sentence()}. "
                    "Retry shortly.",
                    "type": "server_error",
                    "param": None,
                    "code": "model_not_ready",
                }
            },
            503,
            headers=retry,
        )


def progress_page(progress: Progress) -> str:
    """A page that reloads itself every 2 s until the real UI answers instead."""
    state = progress.snapshot()
    percent = state.get("percent")
    bar = (
        f'<progress max="100" value="{percent}">{percent}%</progress>'
        if percent is not None
        else "<progress></progress>"
    )
    line = html.escape(progress.sentence())
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="2"><title>simplechat: preparing the model</title>'
        "<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;"
        "padding:0 1em}progress{width:100%;height:1.5em}</style></head><body>"
        "<h1>simplechat</h1>"
        "<p>モデルを準備しています。準備ができるとこのページが自動でチャット画面に変わります。</p>"
        "<p>Preparing the model. This page turns into the chat when it is ready.</p>"
        f"{bar}<p><code>{line}</code></p></body></html>"
    )


class PreparingServer:
    """Serves ProgressApp on the port until the real server takes it over.

    The listening socket is bound here and handed on (`socket`): the stand-in serves a
    duplicate of it and closes only that, so connections that arrive in between wait in the
    socket's queue for the real server instead of being refused.
    """

    def __init__(self, host: str, port: int, progress: Progress, *, page: bool) -> None:
        config = uvicorn.Config(
            ProgressApp(progress, page=page),
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            ws="none",
        )
        self.socket = config.bind_socket()
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self.socket.dup()]},
            name="preparing",
            daemon=True,
        )

    def __enter__(self) -> PreparingServer:
        self.thread.start()
        while self.thread.is_alive() and not self.server.started:  # listening, or failed
            time.sleep(0.02)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass(frozen=True)
class Prepared:
    settings: Settings  # naming the local file where the model came from the hub
    engine: Engine
    sockets: list[socket.socket] | None = None  # the port, already listening: serve on these


def prepare_model(
    settings: Settings, load: Callable[[Settings], Engine | None], *, page: bool
) -> Prepared | None:
    """The settings naming the local file, and the loaded engine; None after a message.

    A model that cannot be fetched ends the start with a sentence rather than falling back
    to the bundled model: whoever named a model (and the clients of this server) should not
    get another, English-only one by surprise.
    """
    spec = hub_spec(settings)
    if spec is None:
        engine = load(settings)
        return None if engine is None else Prepared(settings, engine)
    from simplechat.hub_download import HubModelError, fetch

    progress = Progress(model=str(spec))
    stand_in = PreparingServer(settings.host, settings.port, progress, page=page)
    with stand_in:
        try:
            path = fetch(spec, progress)
        except HubModelError as exc:
            stand_in.socket.close()
            print(f"simplechat: {exc}", file=sys.stderr)
            return None
        except KeyboardInterrupt:
            stand_in.socket.close()
            print(f"simplechat: stopped while fetching {spec}", file=sys.stderr)
            return None
        settings = settings.model_copy(
            update={
                "model": str(path),
                "model_name": settings.model_name or settings.model,
                "system_prompt": settings.system_prompt or catalogue_prompt(settings.model, spec),
            }
        )
        progress.loading()
        engine = load(settings)
    if engine is None:
        stand_in.socket.close()
        return None
    return Prepared(settings, engine, [stand_in.socket])
