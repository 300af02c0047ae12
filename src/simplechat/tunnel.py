"""A public ngrok tunnel (through pyngrok) that re-opens itself when lost and reports each URL."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("simplechat")


class TunnelError(Exception):
    """A one-line reason the tunnel could not be opened."""


def _pyngrok() -> Any:
    try:
        from pyngrok import ngrok
    except ImportError:
        raise TunnelError(
            "pyngrok is not installed: pip install -e '.[tunnel]' in the checkout "
            "(or pip install pyngrok)"
        ) from None
    return ngrok


def _explain(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    if "4018" in text or "authtoken" in text.lower() or "authentication failed" in text.lower():
        return (
            "ngrok refused the session: set NGROK_AUTHTOKEN to your token from "
            "https://dashboard.ngrok.com/get-started/your-authtoken"
        )
    return f"ngrok failed: {type(exc).__name__}: {text[:300]}"


class NgrokTunnel:
    """Forwards a public https URL to 127.0.0.1:`port`.

    `open()` connects and calls `on_url`; a watcher thread checks every `check_interval` seconds
    that ngrok still serves our URL and, when it does not (the agent died or lost the session),
    opens a new tunnel and calls `on_url` with the new URL. `close()` ends it all.
    """

    def __init__(
        self,
        port: int,
        *,
        on_url: Callable[[str], object],
        check_interval: float = 10.0,
        ngrok: Any = None,
    ) -> None:
        self.port = port
        self.on_url = on_url
        self.check_interval = check_interval
        self._ngrok = ngrok
        self.public_url: str | None = None
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def ngrok(self) -> Any:
        if self._ngrok is None:
            self._ngrok = _pyngrok()
        return self._ngrok

    def open(self) -> str:
        """Connect (the agent's auth token comes from NGROK_AUTHTOKEN or ngrok's config)."""
        try:
            tunnel = self.ngrok.connect(str(self.port), "http")
        except TunnelError:
            raise
        except Exception as exc:
            raise TunnelError(_explain(exc)) from None
        url = str(tunnel.public_url)
        self.public_url = url
        self.on_url(url)
        return url

    def is_up(self) -> bool:
        try:
            return self.public_url in {str(t.public_url) for t in self.ngrok.get_tunnels()}
        except Exception as exc:
            log.warning("tunnel check failed: %s", _explain(exc))
            return False

    def watch(self) -> None:
        """Keep the tunnel up in a background thread until `close()`."""
        self._watcher = threading.Thread(target=self._keep_up, name="tunnel-watch", daemon=True)
        self._watcher.start()

    def _keep_up(self) -> None:
        while not self._stop.wait(self.check_interval):
            if self.is_up():
                continue
            log.warning("the tunnel %s is gone; opening a new one", self.public_url)
            try:
                self.open()
            except TunnelError as exc:
                log.error("could not re-open the tunnel: %s (trying again)", exc)

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=self.check_interval + 5)
        if self._ngrok is None:
            return  # never opened: nothing to close, and no reason to import pyngrok
        try:
            if self.public_url:
                self.ngrok.disconnect(self.public_url)
            self.ngrok.kill()
        except Exception as exc:
            log.warning("closing the tunnel: %s", _explain(exc))
        log.info("tunnel closed")
