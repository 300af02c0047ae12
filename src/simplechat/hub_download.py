"""Fetches a GGUF model from the Hugging Face hub with `huggingface_hub` (its cache, HF_ENDPOINT,
HF_TOKEN, HF_HUB_OFFLINE): the cache first, with no request at all; else a download, with
progress, checked against the hub's hash; failures in words."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from simplechat.hub_gguf import HubSpec, NoSuchFile, pick_files
from simplechat.model_progress import Progress, human_bytes

log = logging.getLogger("simplechat")

#: Left free beside the model on the cache's disk (the system and the cache need some room).
DISK_MARGIN_BYTES = 100_000_000


class HubModelError(ValueError):
    """The model cannot be had from the hub or the cache; the message says why and what to do."""


def _hub() -> Any:
    """huggingface_hub's parts we use, imported when a hub model is asked for (not at start)."""
    from types import SimpleNamespace

    import huggingface_hub.constants
    import huggingface_hub.errors
    import huggingface_hub.utils
    from huggingface_hub import HfApi, hf_hub_download

    # One INFO line per request, with the CDN's signed URLs in it: not for our log.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    return SimpleNamespace(
        constants=huggingface_hub.constants,
        errors=huggingface_hub.errors,
        utils=huggingface_hub.utils,
        HfApi=HfApi,
        hf_hub_download=hf_hub_download,
    )


def default_cache_dir() -> Path:
    return Path(_hub().constants.HF_HUB_CACHE)


def default_endpoint() -> str:
    return str(_hub().constants.ENDPOINT).rstrip("/")


def cached_model(spec: HubSpec, cache_dir: Path | None = None) -> Path | None:
    """The model's first file when every file the spec picks is in the cache (for the revision
    `main` last fetched), else None. Reads the disk only: no request to the hub."""
    folder = (cache_dir or default_cache_dir()) / ("models--" + spec.repo.replace("/", "--"))
    try:
        commit = (folder / "refs" / "main").read_text().strip()
    except OSError:
        return None
    snapshot = folder / "snapshots" / commit
    files = [
        path.relative_to(snapshot).as_posix() for path in snapshot.rglob("*.gguf") if path.exists()
    ]
    try:
        wanted = pick_files(spec, files)
    except NoSuchFile:
        return None
    return snapshot / wanted[0]


def fetch(
    spec: HubSpec,
    progress: Progress | None = None,
    *,
    endpoint: str | None = None,
    cache_dir: Path | None = None,
) -> Path:
    """The local path of the model's (first) GGUF file, downloaded if the cache lacks it.

    `endpoint` and `cache_dir` default to huggingface_hub's own (HF_ENDPOINT, HF_HUB_CACHE).
    """
    cache_dir = cache_dir or default_cache_dir()
    endpoint = (endpoint or default_endpoint()).rstrip("/")
    cached = cached_model(spec, cache_dir)
    if cached is not None:
        log.info("%s: using the cached %s", spec, cached.name)
        return cached
    hub = _hub()
    if hub.constants.is_offline_mode():
        raise HubModelError(
            f"{spec} is not in the Hugging Face cache ({cache_dir}) and HF_HUB_OFFLINE is set: "
            "unset it and start once with a network connection (later starts need none)"
        )
    siblings = _listing(spec, endpoint)
    try:
        names = pick_files(spec, siblings)
    except NoSuchFile as exc:
        raise HubModelError(str(exc)) from None
    sizes = {name: siblings[name].size or 0 for name in names}
    _check_disk(sum(sizes.values()), cache_dir)
    total = sum(sizes.values())
    log.info(
        "%s: downloading %s (%s) into %s",
        spec,
        ", ".join(names),
        human_bytes(total) if total else "size unknown",
        cache_dir,
    )
    if progress is not None:
        progress.downloading(total)
    paths = [_download(spec, name, siblings[name], endpoint, cache_dir, progress) for name in names]
    return paths[0]


def _listing(spec: HubSpec, endpoint: str) -> dict[str, Any]:
    """The repository's files (name -> huggingface_hub's RepoSibling, with size and hashes)."""
    hub = _hub()
    try:
        info = hub.HfApi(endpoint=endpoint).model_info(spec.repo, files_metadata=True)
    except Exception as exc:  # huggingface_hub's and httpx2's errors, put in words below
        raise HubModelError(explain(exc, spec, endpoint)) from None
    return {sibling.rfilename: sibling for sibling in info.siblings or []}


def _download(
    spec: HubSpec,
    name: str,
    sibling: Any,
    endpoint: str,
    cache_dir: Path,
    progress: Progress | None,
) -> Path:
    hub = _hub()
    try:
        path = Path(
            hub.hf_hub_download(
                spec.repo,
                name,
                endpoint=endpoint,
                cache_dir=cache_dir,
                tqdm_class=_reporting_tqdm(progress) if progress is not None else None,
            )
        )
    except Exception as exc:
        raise HubModelError(explain(exc, spec, endpoint)) from None
    problem = hash_problem(path, sibling)
    if problem is not None:
        # Not kept: the next start downloads it again instead of loading a damaged file.
        blob = path.resolve()
        path.unlink(missing_ok=True)
        blob.unlink(missing_ok=True)
        raise HubModelError(
            f"{spec}: {name} arrived damaged ({problem}) and was deleted. Start again to "
            "download it again; if it keeps happening, a proxy or the disk alters files"
        )
    return path


def hash_problem(path: Path, sibling: Any) -> str | None:
    """None when the file's hash is the hub's: SHA-256 for LFS files (GGUF models are), else
    git's blob SHA-1. huggingface_hub itself checks only the size."""
    lfs = getattr(sibling, "lfs", None)
    if lfs is not None:
        digest = hashlib.sha256()
        expected = lfs.sha256
    elif getattr(sibling, "blob_id", None):
        digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
        expected = sibling.blob_id
    else:
        return None  # the hub gave no hash to check against
    with path.open("rb") as file:
        while chunk := file.read(8 * 1024 * 1024):
            digest.update(chunk)
    if digest.hexdigest() == expected:
        return None
    return f"its hash is {digest.hexdigest()[:12]}…, the hub's is {str(expected)[:12]}…"


def _check_disk(required: int, cache_dir: Path) -> None:
    folder = cache_dir
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if required + DISK_MARGIN_BYTES > free:
        raise HubModelError(
            f"not enough disk space: the model needs {human_bytes(required)}, and {folder} has "
            f"{human_bytes(free)} free. Free some space, or point HF_HUB_CACHE at a larger disk"
        )


def _reporting_tqdm(progress: Progress) -> type:
    """huggingface_hub's progress bar (size and speed in the terminal) that also tells
    `progress`, which /health reports."""
    base = _hub().utils.tqdm

    class ReportingTqdm(base):  # type: ignore[misc, valid-type]
        def update(self, n: float | None = 1) -> bool | None:
            progress.add(int(n or 0))
            return super().update(n)

    return ReportingTqdm


def explain(exc: Exception, spec: HubSpec, endpoint: str) -> str:
    """A huggingface_hub (or network) failure in words, with what to do; never the token."""
    errors = _hub().errors
    page = f"{endpoint}/{spec.repo}"
    if isinstance(exc, errors.GatedRepoError):
        token = (
            "your HF_TOKEN has no access yet"
            if os.environ.get("HF_TOKEN")
            else "then set HF_TOKEN to a token from " + f"{endpoint}/settings/tokens"
        )
        return (
            f"{spec.repo} is gated: sign in at {page} and accept its licence, {token} "
            "(or run `hf auth login`), and start again"
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        return (
            f"no repository {spec.repo} on {endpoint}: check the name (`simplechat models` "
            "lists short names); a private one also needs HF_TOKEN"
        )
    if isinstance(exc, errors.RevisionNotFoundError | errors.RemoteEntryNotFoundError):
        return f"{spec.repo} changed while downloading (a file or revision is gone): start again"
    if isinstance(exc, errors.LocalEntryNotFoundError | errors.OfflineModeIsEnabled) or (
        type(exc).__module__.startswith(("httpx", "httpcore"))
    ):
        return (
            f"cannot reach the hub at {endpoint} ({type(exc).__name__}), and {spec} is not in "
            "the cache: connect to the internet and start again (once downloaded, it starts "
            "offline), or give a local .gguf file with --model PATH"
        )
    if isinstance(exc, errors.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else "?"
        return f"the hub at {endpoint} answered {status} for {spec}: try again later"
    if isinstance(exc, OSError):
        return f"cannot write {spec} into the Hugging Face cache: {exc}"
    return f"cannot download {spec}: {type(exc).__name__}: {exc}"
