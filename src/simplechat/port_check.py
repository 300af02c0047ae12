"""Is the port free? Checked before a model loads, so a taken port fails in a second, clearly."""

from __future__ import annotations

import socket


def port_unavailable(host: str, port: int) -> str | None:
    """Why `host:port` cannot be served, or None when it can (as far as binding it now says)."""
    if port == 0:
        return None  # any free port
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot resolve host {host!r} ({exc.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: a port left in TIME_WAIT by a server that just stopped is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return f"cannot serve on {host}:{port}: {exc.strerror or exc}"
    return None


def port_advice(reason: str) -> str:
    """The message for a port that cannot be served."""
    return (
        f"{reason}. Another server may be using it: stop that one, or pick another port "
        "with --port (make run PORT=8001)."
    )
