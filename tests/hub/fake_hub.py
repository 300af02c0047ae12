"""A Hugging Face hub on 127.0.0.1, as huggingface_hub 2.x talks to it: the model API, HEAD and
GET on /resolve/ (a 302 to a separate "CDN" origin for LFS files, with X-Repo-Commit,
X-Linked-Etag and X-Linked-Size), ranged GETs on the CDN, and the hub's error headers."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

CHUNK = 1 << 20


@dataclass
class FakeFile:
    path: Path  # served from disk: models are large
    sha256: str = ""
    size: int = 0
    corrupt: bool = False  # served with one byte changed (the hub's hash stays the true one)
    cut_after: int | None = None  # the first GET closes the connection after this many bytes
    claimed_size: int | None = None  # what the API says, when it should lie (a huge model)

    def __post_init__(self) -> None:
        self.size = self.path.stat().st_size
        if not self.sha256:
            self.sha256 = sha256_of(self.path)


@dataclass
class FakeRepo:
    files: dict[str, FakeFile]
    gated: bool = False
    allowed_tokens: frozenset[str] = frozenset()
    commit: str = field(default_factory=lambda: secrets.token_hex(20))


_HASHES: dict[tuple[Path, float], str] = {}


def sha256_of(path: Path) -> str:
    """Remembered per file and modification time: the bundled model is hashed once a session."""
    key = (path.resolve(), path.stat().st_mtime)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as file:
            while chunk := file.read(CHUNK):
                digest.update(chunk)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


class FakeHub:
    """Two servers: the hub (API and /resolve/) and the CDN its LFS redirects point to."""

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[tuple[str, str, str, dict[str, str]]] = []  # server, method, path
        self.statuses: list[int] = []  # what the hub answered, in order
        self.lock = threading.Lock()
        #: While cleared, the CDN stops after `hold_after` bytes of a body and waits (past
        #: huggingface_hub's 10 MiB read chunk, so that the client has counted some).
        self.flowing = threading.Event()
        self.hold_after = 12 * CHUNK
        self.flowing.set()
        self._cut_done: set[str] = set()
        self.hub = ThreadingHTTPServer(("127.0.0.1", 0), self._handler("hub"))
        self.cdn = ThreadingHTTPServer(("127.0.0.1", 0), self._handler("cdn"))
        for server in (self.hub, self.cdn):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self.cdn.server_address[1]}"

    def add(self, repo: str, files: dict[str, Path | FakeFile], **options: Any) -> FakeRepo:
        made = {
            name: f if isinstance(f, FakeFile) else FakeFile(Path(f)) for name, f in files.items()
        }
        self.repos[repo] = FakeRepo(made, **options)
        return self.repos[repo]

    def count(self, server: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.requests if server is None or r[0] == server)

    def log(self, server: str) -> list[tuple[str, str, dict[str, str]]]:
        with self.lock:
            return [(m, p, h) for s, m, p, h in self.requests if s == server]

    def close(self) -> None:
        self.flowing.set()
        for server in (self.hub, self.cdn):
            server.shutdown()
            server.server_close()

    def _handler(self, role: str) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self._serve("HEAD")

            def do_GET(self) -> None:
                self._serve("GET")

            def _serve(self, method: str) -> None:
                path = unquote(urlsplit(self.path).path)
                seen = {
                    k.title(): v
                    for k, v in self.headers.items()
                    if k.lower() in ("range", "authorization")
                }
                with hub.lock:
                    hub.requests.append((role, method, path, seen))
                try:
                    if role == "cdn":
                        hub._cdn(self, method, path)
                    else:
                        hub._hub(self, method, path)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler

    # -- the hub --------------------------------------------------------------------------

    def _hub(self, h: BaseHTTPRequestHandler, method: str, path: str) -> None:
        token = (h.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        api = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
        if api:
            repo = self.repos.get(api[1])
            if repo is None:
                return self._not_found(h, method, token)
            return self._json(h, method, self._model_info(api[1], repo))
        resolve = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if not resolve:
            return self._reply(h, method, 404, {"X-Error-Code": "EntryNotFound"})
        repo = self.repos.get(resolve[1])
        if repo is None:
            return self._not_found(h, method, token)
        if repo.gated and token not in repo.allowed_tokens:
            # As the hub: 401 without a token, 403 with one that has not been granted access.
            status = 403 if token else 401
            return self._reply(
                h,
                method,
                status,
                {
                    "X-Error-Code": "GatedRepo",
                    "X-Error-Message": f"Access to model {resolve[1]} is restricted. You must "
                    "have access to it and be authenticated to access it. Please log in.",
                },
            )
        file = repo.files.get(resolve[3])
        if file is None:
            return self._reply(
                h,
                method,
                404,
                {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.commit},
            )
        self._reply(
            h,
            method,
            302,
            {
                "Location": f"{self.cdn_url}/blobs/{file.sha256}?signature=fake",
                "X-Repo-Commit": repo.commit,
                "X-Linked-Etag": f'"{file.sha256}"',
                "X-Linked-Size": str(file.size),
                "ETag": f'"{hashlib.sha1(file.sha256.encode()).hexdigest()}"',
                "Accept-Ranges": "bytes",
            },
        )

    def _model_info(self, name: str, repo: FakeRepo) -> dict[str, Any]:
        return {
            "_id": secrets.token_hex(12),
            "id": name,
            "modelId": name,
            "sha": repo.commit,
            "private": False,
            "gated": "manual" if repo.gated else False,
            "disabled": False,
            "tags": ["gguf"],
            "siblings": [
                {
                    "rfilename": filename,
                    "size": file.claimed_size or file.size,
                    "blobId": hashlib.sha1(file.sha256.encode()).hexdigest(),
                    "lfs": {
                        "sha256": file.sha256,
                        "size": file.claimed_size or file.size,
                        "pointerSize": 134,
                    },
                }
                for filename, file in repo.files.items()
            ],
        }

    def _not_found(self, h: BaseHTTPRequestHandler, method: str, token: str) -> None:
        # The hub answers 401 to an anonymous request for a missing (or private) repository.
        status = 404 if token else 401
        with self.lock:
            self.statuses.append(status)
        self._reply(
            h,
            method,
            status,
            {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"},
        )

    # -- the CDN --------------------------------------------------------------------------

    def _cdn(self, h: BaseHTTPRequestHandler, method: str, path: str) -> None:
        sha = path.removeprefix("/blobs/")
        file = next(
            (f for repo in self.repos.values() for f in repo.files.values() if f.sha256 == sha),
            None,
        )
        if file is None:
            return self._reply(h, method, 404, {})
        start = 0
        ranged = re.fullmatch(r"bytes=(\d+)-", h.headers.get("Range") or "")
        if ranged:
            start = int(ranged[1])
        length = file.size - start
        h.send_response(206 if ranged else 200)
        h.send_header("Content-Length", str(length))
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Type", "application/octet-stream")
        if ranged:
            h.send_header("Content-Range", f"bytes {start}-{file.size - 1}/{file.size}")
        h.end_headers()
        if method == "HEAD":
            return
        cut = None
        if file.cut_after is not None and sha not in self._cut_done:
            self._cut_done.add(sha)
            cut = file.cut_after
        sent = 0
        held = False
        with file.path.open("rb") as source:
            source.seek(start)
            while chunk := source.read(CHUNK):
                if file.corrupt and start + sent == 0:
                    chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
                if cut is not None and sent + len(chunk) >= cut:
                    h.wfile.write(chunk[: cut - sent])
                    h.wfile.flush()
                    h.close_connection = True
                    h.connection.close()  # the cut: the client sees a body that ends early
                    return
                h.wfile.write(chunk)
                sent += len(chunk)
                if not held and sent >= self.hold_after and not self.flowing.is_set():
                    held = True
                    h.wfile.flush()
                    self.flowing.wait(60)

    # -- replies --------------------------------------------------------------------------

    @staticmethod
    def _reply(
        h: BaseHTTPRequestHandler, method: str, status: int, headers: dict[str, str]
    ) -> None:
        h.send_response(status)
        for key, value in headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", "0")
        h.end_headers()

    @staticmethod
    def _json(h: BaseHTTPRequestHandler, method: str, body: Any) -> None:
        data = json.dumps(body).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if method == "GET":
            h.wfile.write(data)
