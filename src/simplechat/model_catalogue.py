"""Small chat models that answer in Japanese, by short name (`--model tinyswallow-1.5b`)."""

from __future__ import annotations

from dataclasses import dataclass

#: For models that drift into English or Chinese when asked in Japanese (Qwen2.5's template puts
#: an English system prompt in front of every conversation that brings none).
SAME_LANGUAGE = (
    "You are a helpful assistant. Always answer in the language of the user's last message. "
    "ユーザーが日本語で書いたら、必ず自然な日本語で答えてください。"
)


@dataclass(frozen=True)
class CatalogueEntry:
    """One model: where it comes from and what a newcomer needs to know before fetching it."""

    name: str
    spec: str  # owner/repo:QUANT on the Hugging Face hub
    params: str
    download_gb: float  # the GGUF file(s) of that quantization
    memory_gb: float  # RAM (or GPU memory) to run it with a 4k context
    licence: str
    good_for: str
    good_for_ja: str
    system_prompt: str = ""  # used when neither the operator nor the conversation gives one


CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        name="tinyswallow-1.5b",
        spec="SakanaAI/TinySwallow-1.5B-Instruct-GGUF:Q5_K_M",
        params="1.5B",
        download_gb=1.1,
        memory_gb=2.0,
        licence="Apache-2.0 (the card adds the Gemma Terms of Use)",
        good_for="Japanese-first chat on a laptop CPU; the default recommendation",
        good_for_ja="ノート PC の CPU で日本語の会話。CPU 向けのおすすめ",
        system_prompt=SAME_LANGUAGE,
    ),
    CatalogueEntry(
        name="qwen2.5-0.5b",
        spec="Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M",
        params="0.5B",
        download_gb=0.5,
        memory_gb=1.0,
        licence="Apache-2.0",
        good_for="the smallest that answers Japanese; old laptops, quick tests",
        good_for_ja="日本語で答える最小のモデル。古い PC や動作確認に",
        system_prompt=SAME_LANGUAGE,
    ),
    CatalogueEntry(
        name="qwen2.5-1.5b",
        spec="Qwen/Qwen2.5-1.5B-Instruct-GGUF:Q4_K_M",
        params="1.5B",
        download_gb=1.1,
        memory_gb=2.0,
        licence="Apache-2.0",
        good_for="Japanese, English and code on a CPU",
        good_for_ja="CPU で日本語・英語・コード",
        system_prompt=SAME_LANGUAGE,
    ),
    CatalogueEntry(
        name="sarashina2.2-1b",
        spec="mmnga/sarashina2.2-1b-instruct-v0.1-gguf:Q4_K_M",
        params="1B",
        download_gb=0.9,
        memory_gb=1.5,
        licence="MIT",
        good_for="Japanese-trained from scratch (SB Intuitions); short Japanese answers",
        good_for_ja="日本語で一から学習（SB Intuitions）。短い日本語の回答に",
    ),
    CatalogueEntry(
        name="llm-jp-3.1-1.8b",
        spec="mmnga/llm-jp-3.1-1.8b-instruct4-gguf:Q4_K_M",
        params="1.8B",
        download_gb=1.1,
        memory_gb=2.0,
        licence="Apache-2.0",
        good_for="the Japanese national research model (NII LLM-jp); open data",
        good_for_ja="国立情報学研究所 LLM-jp のモデル。学習データも公開",
    ),
    CatalogueEntry(
        name="gemma-2-2b-jpn",
        spec="bartowski/gemma-2-2b-jpn-it-GGUF:Q4_K_M",
        params="2.6B",
        download_gb=1.7,
        memory_gb=3.0,
        licence="Gemma Terms of Use",
        good_for="the best Japanese here; a Colab T4 (or a fast CPU); the T4 recommendation",
        good_for_ja="この中で最も自然な日本語。Colab の T4（または速い CPU）向けのおすすめ",
        # Gemma's template has no system role (it refuses one): nothing is added.
    ),
)

#: What the first run suggests: runs on any laptop CPU, answers Japanese questions in Japanese.
LAPTOP_CPU = "tinyswallow-1.5b"
#: For a Colab T4 (15 GB of GPU memory): the largest and best at Japanese of the list.
COLAB_T4 = "gemma-2-2b-jpn"

_BY_NAME = {entry.name: entry for entry in CATALOGUE}


def lookup(name: str) -> CatalogueEntry | None:
    """The entry a short name (any case) stands for, or None."""
    return _BY_NAME.get(name.strip().lower())


def recommended() -> CatalogueEntry:
    return _BY_NAME[LAPTOP_CPU]


def table() -> str:
    """What `simplechat models` prints."""
    rows = [("NAME", "SIZE", "DOWNLOAD", "MEMORY", "LICENCE", "GOOD FOR")]
    for entry in CATALOGUE:
        rows.append(
            (
                entry.name,
                entry.params,
                f"{entry.download_gb:.1f} GB",
                f"{entry.memory_gb:.1f} GB",
                entry.licence.split(" (")[0],
                entry.good_for,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True))
        + "  "
        + row[5]
        for row in rows
    ]
    return "\n".join(
        [
            *lines,
            "",
            f"Laptop CPU: make run MODEL={LAPTOP_CPU}    Colab T4: --model {COLAB_T4}",
            "Any GGUF repository works too: --model owner/repo-GGUF[:Q4_K_M]. "
            "Downloaded once into the Hugging Face cache; later starts need no network.",
            "Repositories and licences: docs/models.md",
        ]
    )
