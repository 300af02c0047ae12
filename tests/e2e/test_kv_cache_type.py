"""`--kv-cache-type q8_0`: the same server in far less memory, still answering correctly."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.real_model


def resident_mib(server: ServerProcess) -> float:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_q8_kv_cache_takes_less_memory_and_answers(tmp_path: Path) -> None:
    # 4 requests x 4096 tokens of KV cache: 368 MiB in f16, half of it in q8_0.
    args = ["--max-batch", "4", "--context-length", "4096", "--no-prompt-cache"]
    f16 = ServerProcess(args, tmp_path / "f16.log")
    try:
        f16_mib = resident_mib(f16)
    finally:
        f16.stop()
    q8 = ServerProcess([*args, "--kv-cache-type", "q8_0"], tmp_path / "q8.log")
    try:
        q8_mib = resident_mib(q8)
        reply = httpx.post(
            q8.url + "/chat",
            json={
                "message": "What is the capital city of Japan?",
                "temperature": 0,
                "max_tokens": 24,
            },
            timeout=60,
        )
    finally:
        q8.stop()
    assert f16_mib - q8_mib > 150, (f16_mib, q8_mib)
    assert reply.status_code == 200
    assert "Tokyo" in reply.json()["response"]
