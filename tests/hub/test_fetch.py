"""Fetching GGUF models through huggingface_hub's real download code, from a fake hub."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from simplechat.hub_download import HubModelError, cached_model, fetch
from simplechat.hub_gguf import HubSpec, parse_hub_spec
from simplechat.model_progress import Progress
from tests.hub.fake_hub import FakeFile, FakeHub

Blob = Callable[..., Path]


def spec(text: str) -> HubSpec:
    parsed = parse_hub_spec(text)
    assert parsed is not None
    return parsed


def test_download_reports_progress_and_lands_in_the_cache(
    hub: FakeHub, cache_dir: Path, blob: Blob
) -> None:
    source = blob("m-Q4_K_M.gguf")
    hub.add("owner/m-GGUF", {"m-Q4_K_M.gguf": source, "README.md": blob("README.md", 300)})
    progress = Progress("owner/m-GGUF")

    path = fetch(spec("owner/m-GGUF"), progress, endpoint=hub.endpoint, cache_dir=cache_dir)

    assert path.read_bytes() == source.read_bytes()
    assert path.is_relative_to(cache_dir / "models--owner--m-GGUF" / "snapshots")
    state = progress.snapshot()
    size = source.stat().st_size
    assert (state["status"], state["downloaded_bytes"], state["total_bytes"]) == (
        "downloading",
        size,
        size,
    )
    assert state["percent"] == 100.0 and state["bytes_per_second"] > 0
    assert "3.0 MB of 3.0 MB (100%)" in progress.sentence()
    # The metadata came from the hub, the bytes from the CDN its redirect named.
    assert [m for m, _, _ in hub.log("cdn")] == ["GET"]


def test_a_cut_connection_is_resumed_from_where_it_stopped(
    hub: FakeHub, cache_dir: Path, blob: Blob
) -> None:
    # huggingface_hub writes what it received in chunks of 10 MiB: a cut after 12 MB keeps one.
    source = blob("m-Q4_K_M.gguf", 24_000_000)
    hub.add("owner/m-GGUF", {"m-Q4_K_M.gguf": FakeFile(source, cut_after=12_000_000)})

    path = fetch(spec("owner/m-GGUF"), endpoint=hub.endpoint, cache_dir=cache_dir)

    assert (
        hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    )
    gets = [headers.get("Range") for method, _, headers in hub.log("cdn") if method == "GET"]
    assert len(gets) == 2 and gets[0] is None
    resumed_at = int(str(gets[1]).removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_at <= 12_000_000


def test_a_file_that_does_not_match_the_hubs_hash_is_refused_and_not_kept(
    hub: FakeHub, cache_dir: Path, blob: Blob
) -> None:
    hub.add("owner/m-GGUF", {"m-Q4_K_M.gguf": FakeFile(blob("m-Q4_K_M.gguf"), corrupt=True)})

    with pytest.raises(HubModelError, match=r"arrived damaged .*deleted\. Start again"):
        fetch(spec("owner/m-GGUF"), endpoint=hub.endpoint, cache_dir=cache_dir)

    assert cached_model(spec("owner/m-GGUF"), cache_dir) is None
    assert not list((cache_dir / "models--owner--m-GGUF" / "blobs").iterdir())


def test_a_second_start_uses_the_cache_without_asking_the_hub(
    hub: FakeHub, cache_dir: Path, blob: Blob
) -> None:
    hub.add("owner/m-GGUF", {"m-Q4_K_M.gguf": blob("m-Q4_K_M.gguf")})
    first = fetch(spec("owner/m-GGUF"), endpoint=hub.endpoint, cache_dir=cache_dir)
    asked = hub.count()
    hub.close()  # no network at all now

    again = fetch(spec("owner/m-GGUF:Q4_K_M"), endpoint=hub.endpoint, cache_dir=cache_dir)

    assert again == first
    assert hub.count() == asked


def test_the_quant_after_the_colon_picks_the_file(
    hub: FakeHub, cache_dir: Path, blob: Blob
) -> None:
    hub.add(
        "owner/m-GGUF",
        {name: blob(name, 5000) for name in ("m-Q4_K_M.gguf", "m-Q8_0.gguf", "mmproj-f16.gguf")},
    )

    picked = fetch(spec("owner/m-GGUF:q8_0"), endpoint=hub.endpoint, cache_dir=cache_dir)
    default = fetch(spec("owner/m-GGUF"), endpoint=hub.endpoint, cache_dir=cache_dir / "2")

    assert picked.name == "m-Q8_0.gguf"
    assert default.name == "m-Q4_K_M.gguf"
    with pytest.raises(HubModelError, match=r"no file for 'Q2_K'; it has: Q4_K_M, Q8_0"):
        fetch(spec("owner/m-GGUF:Q2_K"), endpoint=hub.endpoint, cache_dir=cache_dir)


def test_a_split_model_is_fetched_whole(hub: FakeHub, cache_dir: Path, blob: Blob) -> None:
    names = [f"Q4_K_M/m-Q4_K_M-0000{n}-of-00003.gguf" for n in (1, 2, 3)]
    hub.add("owner/m-GGUF", {name: blob(name.replace("/", "_"), 4000) for name in names})

    first = fetch(spec("owner/m-GGUF:Q4_K_M"), endpoint=hub.endpoint, cache_dir=cache_dir)

    assert first.name == "m-Q4_K_M-00001-of-00003.gguf"
    assert sorted(p.name for p in first.parent.iterdir()) == [n.split("/")[1] for n in names]


def test_a_gated_repository_says_where_to_accept_and_which_token(
    hub: FakeHub, cache_dir: Path, blob: Blob, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add("google/g-GGUF", {"g-Q4_K_M.gguf": blob("g-Q4_K_M.gguf", 5000)}, gated=True)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")

    with pytest.raises(HubModelError) as anonymous:
        fetch(spec("google/g-GGUF"), endpoint=hub.endpoint, cache_dir=cache_dir)
    monkeypatch.setenv("HF_TOKEN", "hf_not_granted_secret")
    with pytest.raises(HubModelError) as refused:
        fetch(spec("google/g-GGUF"), endpoint=hub.endpoint, cache_dir=cache_dir)

    page = f"{hub.endpoint}/google/g-GGUF"
    gated = f"google/g-GGUF is gated: sign in at {page} and accept its licence"
    assert gated in str(anonymous.value)
    assert f"set HF_TOKEN to a token from {hub.endpoint}/settings/tokens" in str(anonymous.value)
    assert "your HF_TOKEN has no access yet" in str(refused.value)
    assert "hf_not_granted_secret" not in str(refused.value)
    assert [h.get("Authorization") for m, p, h in hub.log("hub") if "resolve" in p][-1] == (
        "Bearer hf_not_granted_secret"
    )


def test_a_missing_repository_is_named(
    hub: FakeHub, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(HubModelError, match=r"no repository owner/nothing-GGUF on http://127"):
        fetch(spec("owner/nothing-GGUF"), endpoint=hub.endpoint, cache_dir=cache_dir)  # 401
    monkeypatch.setenv("HF_TOKEN", "hf_some_token")
    with pytest.raises(HubModelError, match=r"no repository owner/nothing-GGUF on http://127"):
        fetch(spec("owner/nothing-GGUF"), endpoint=hub.endpoint, cache_dir=cache_dir)  # 404

    assert [status for status in hub.statuses if status in (401, 404)] == [401, 404]


def test_no_network_and_nothing_cached_says_what_to_do(hub: FakeHub, cache_dir: Path) -> None:
    endpoint = hub.endpoint
    hub.close()

    with pytest.raises(HubModelError) as error:
        fetch(spec("owner/m-GGUF"), endpoint=endpoint, cache_dir=cache_dir)

    assert f"cannot reach the hub at {endpoint}" in str(error.value)
    assert "connect to the internet and start again" in str(error.value)


def test_not_enough_disk_is_said_before_downloading(
    hub: FakeHub, cache_dir: Path, blob: Blob
) -> None:
    huge = FakeFile(blob("m-Q4_K_M.gguf", 5000), claimed_size=10**18)
    hub.add("owner/m-GGUF", {"m-Q4_K_M.gguf": huge})

    with pytest.raises(HubModelError, match=r"not enough disk space: the model needs 1000000000"):
        fetch(spec("owner/m-GGUF"), endpoint=hub.endpoint, cache_dir=cache_dir)

    assert hub.log("cdn") == []
