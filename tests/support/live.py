"""A real uvicorn server on 127.0.0.1 in a thread, over an engine the test controls."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from simplechat.api.app import create_app
from simplechat.engines.base import Engine
from simplechat.slow_clients import guarded_protocol
from tests.support.processes import free_port
from tests.support.settings import make_settings


@contextmanager
def live_server(engine: Engine, **settings: Any) -> Iterator[str]:
    """Yields the base URL; the server stops when the block ends. It speaks HTTP as
    `simplechat serve` does (the read deadline, the lingering close)."""
    port = free_port()
    config = make_settings(**settings)
    app = create_app(config, engine)
    http = guarded_protocol(config.request_read_timeout)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", http=http)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def raw_json_post(base_url: str, path: str, body: bytes) -> bytes:
    """An HTTP/1.1 POST as bytes, for tests that send it on a socket they then drop."""
    host_port = base_url.removeprefix("http://")
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host_port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Polls `condition` until it holds or `timeout` seconds pass; says whether it held."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def wait_until_it_stops_growing(
    read: Callable[[], int], *, deadline_s: float, still_for_s: float = 0.5
) -> int:
    """Polls a growing count until it holds still for `still_for_s`; returns where it stopped.

    Fails the test if it is still growing after `deadline_s`: the condition is the halt itself,
    not a guess at how long a busy machine needs to reach it."""
    deadline = time.monotonic() + deadline_s
    last, still_since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = read()
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= still_for_s:
            return now
    raise AssertionError(f"still growing after {deadline_s} s (at {last})")


def metric(base_url: str, name: str, *, key: str | None = None, **labels: str) -> float:
    """One sample from the server's /metrics (0 when absent), matched by name and labels."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    text = httpx.get(base_url + "/metrics", headers=headers, timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0
