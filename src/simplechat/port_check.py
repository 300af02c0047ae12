"""Is the port free? Checked before a model loads, so a taken port fails in a second, clearly."""

from __future__ import annotations

import socket


def port_unavailable(host: str, port: int) -> str | None:
    """Why `host:port` cannot be served, or None when it can (as far as binding it now says)."""
    if port == 0:
        return None  # any free port
    # As uvicorn binds: IPv6 for a host with a colon, else IPv4; a port left in TIME_WAIT by a
    # server that just stopped counts as free.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        return f"cannot serve on {host}:{port}: {exc.strerror or exc}"
    return None


def port_advice(reason: str) -> str:
    """The message for a port that cannot be served."""
    return (
        f"{reason}. Another server may be using it: stop that one, or pick another port "
        "with --port (make run PORT=8001)."
    )
