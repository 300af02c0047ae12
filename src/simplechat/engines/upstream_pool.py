"""The model servers behind the `openai` engine: which are up, and which gets the next request."""

from __future__ import annotations

import ipaddress
import itertools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger("simplechat")

Balance = Literal["round-robin", "least-outstanding"]


def api_base(url: str) -> str:
    """`http://host:8000`, `.../` and `.../v1` all mean the server at `http://host:8000`."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"an upstream is an http(s) URL such as http://10.0.0.5:8000, got {url!r}")
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v1")
    return f"{parts.scheme}://{parts.netloc}{path}"


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: traffic to it never leaves this machine."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sent_in_clear(url: str) -> bool:
    """True for an `http://` URL to another machine: whatever is sent, key included, can be read
    (and changed) by anyone on the way."""
    parts = urlsplit(url.strip())
    return parts.scheme == "http" and not is_loopback_host(parts.hostname or "")


def without_credentials(url: str) -> str:
    """The URL for logs and messages: `http://user:secret@host` shows as `http://***@host`."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


@dataclass
class Upstream:
    """One OpenAI-compatible server; `outstanding` counts our requests in flight to it."""

    base: str
    healthy: bool = True
    outstanding: int = 0
    served: int = 0  # answers it gave (for logs and tests)
    label: str = field(init=False)  # `base` as logs and error messages show it

    def __post_init__(self) -> None:
        self.label = without_credentials(self.base)

    def mark(self, healthy: bool, reason: str = "") -> None:
        if healthy != self.healthy:
            state = "up" if healthy else f"down ({reason})"
            log.warning("upstream %s is %s", self.label, state)
        self.healthy = healthy


class UpstreamPool:
    """Orders the upstreams for each request: healthy ones first, by the balancing policy; the
    ones marked down come last, so a request still tries them before giving up."""

    def __init__(self, urls: Sequence[str], balance: Balance = "least-outstanding") -> None:
        if not urls:
            raise ValueError("the openai engine needs at least one --upstream URL")
        self.upstreams = [Upstream(api_base(url)) for url in urls]
        self.balance = balance
        self._turn = itertools.count()

    def candidates(self) -> Iterator[Upstream]:
        """The order in which one request tries the upstreams (failover goes down the list)."""
        n = len(self.upstreams)
        start = next(self._turn) % n
        rotated = self.upstreams[start:] + self.upstreams[:start]
        if self.balance == "least-outstanding":
            # stable sort: ties keep the rotation, so equal servers still take turns
            rotated.sort(key=lambda upstream: upstream.outstanding)
        healthy = [u for u in rotated if u.healthy]
        down = [u for u in rotated if not u.healthy]
        yield from healthy + down

    @property
    def any_healthy(self) -> bool:
        return any(upstream.healthy for upstream in self.upstreams)

    def check_health(self, probe: Callable[[Upstream], str | None], interval: float) -> None:
        """Probe every upstream now and then every `interval` seconds, in a daemon thread.

        `probe` returns None when the server answers well, else the reason it does not.
        """
        self._stop = threading.Event()

        def run() -> None:
            while True:
                for upstream in self.upstreams:
                    problem = probe(upstream)
                    upstream.mark(problem is None, problem or "")
                if self._stop.wait(interval):
                    return

        self._checker = threading.Thread(target=run, name="upstream-health", daemon=True)
        self._checker.start()

    def stop(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()
