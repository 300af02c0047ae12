"""`--kv-cache-type q8_0`: the same server in far less memory, still answering correctly."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.processes import ServerProcess

pytestmark = pytest.mark.real_model

#: 4 requests x 4096 tokens of KV cache for the bundled model, in f16 (llama.cpp's own count).
F16_KV_MIB = 368
#: What q8_0 saves of it: 34 bytes a 32-value block instead of 64.
SAVED_MIB = F16_KV_MIB * (1 - 34 / 64)


def resident_mib(server: ServerProcess) -> float:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_q8_kv_cache_takes_less_memory_and_answers(tmp_path: Path) -> None:
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
    # Half the saving is the bar: resident memory also moves with what else the process has
    # touched (compute buffers, the allocator), by tens of MiB; a q8 cache that were not
    # applied saves nothing at all.
    assert f16_mib - q8_mib > SAVED_MIB / 2, (f16_mib, q8_mib, SAVED_MIB)
    assert reply.status_code == 200
    assert "Tokyo" in reply.json()["response"]
