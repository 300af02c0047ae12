"""Make a running server reachable by the deployed app: a tunnel, and its URL and key registered."""

from __future__ import annotations

import logging
import threading

from simplechat.register import Registrar
from simplechat.settings import Settings
from simplechat.tunnel import NgrokTunnel, TunnelError

log = logging.getLogger("simplechat")


class PublicAccess:
    """Started once the server listens; stopped when it exits."""

    def __init__(self, settings: Settings, registrar: Registrar | None = None) -> None:
        self.settings = settings
        self.registrar = registrar or Registrar(
            settings.register_parameter, settings.register_secret
        )
        self.tunnel: NgrokTunnel | None = None
        self._lock = threading.Lock()
        self._stopped = False

    @property
    def wanted(self) -> bool:
        return self.settings.tunnel != "none" or bool(self.settings.register_secret)

    def start(self, port: int) -> None:
        """Blocking (ngrok takes seconds): call it from a thread, never the event loop."""
        settings = self.settings
        if settings.register_secret:
            self.registrar.publish_key(settings.api_key[0].get_secret_value())
        if settings.tunnel == "none":
            return
        with self._lock:
            if self._stopped:
                return
            self.tunnel = NgrokTunnel(
                port, on_url=self._announce, check_interval=settings.tunnel_check_interval
            )
        try:
            self.tunnel.open()
        except TunnelError as exc:
            log.error("could not open the tunnel: %s (serving locally; retrying)", exc)
        self.tunnel.watch()

    def start_in_background(self, port: int) -> None:
        threading.Thread(target=self.start, args=(port,), name="public-access", daemon=True).start()

    def _announce(self, url: str) -> None:
        key_note = "send the API key" if self.settings.api_key else "NO API KEY: open to anyone"
        # print, not log: this is the line a person (or a notebook) looks for
        print(f"simplechat: public URL {url}  ({key_note})", flush=True)
        self.registrar.publish_url(url)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            tunnel = self.tunnel
        if tunnel is not None:
            tunnel.close()
