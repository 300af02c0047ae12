"""Runs `python -m simplechat serve` (or `stack`) as a real process on a free 127.0.0.1 port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """A live server; `url` is its base URL, `log` what it printed. `program` runs another
    server than ours (vLLM's, its router), given `--port` and `args` the same way."""

    def __init__(
        self,
        args: list[str],
        log_path: Path,
        *,
        command: str = "serve",
        health_path: str = "/health",
        startup_timeout: float = 120,
        env: dict[str, str] | None = None,
        program: list[str] | None = None,
    ) -> None:
        self.port = free_port()
        self.health_path = health_path
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLECHAT_")}
        # A stack keeps conversations: beside its log unless a test names the folder, never in
        # the user's own data folder.
        inherited["SIMPLECHAT_DATA_DIR"] = str(log_path.parent / "data")
        self._log = log_path.open("wb")
        program = program or [sys.executable, "-m", "simplechat", command]
        self.process = subprocess.Popen(
            [*program, "--port", str(self.port), *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**inherited, **(env or {})},
        )
        self._wait_healthy(startup_timeout)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log}")
            try:
                with urllib.request.urlopen(self.url + self.health_path, timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not healthy after {timeout} s:\n{self.log}")

    @property
    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode
