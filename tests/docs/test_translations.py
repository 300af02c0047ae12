"""The Japanese README and docs say what the English say: sections, commands, flags, numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.pages import (
    ROOT,
    commands,
    english_pages,
    flags,
    headings,
    japanese_of,
    numbers,
)

PAIRS = english_pages()


def name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_every_english_page_has_its_japanese_twin() -> None:
    missing = [name(japanese_of(p)) for p in PAIRS if not japanese_of(p).exists()]
    assert missing == [], f"no Japanese page for these: {missing}"


@pytest.mark.parametrize("page", PAIRS, ids=name)
def test_the_two_languages_agree(page: Path) -> None:
    twin = japanese_of(page)
    if not twin.exists():
        pytest.skip(f"{name(twin)} does not exist (the test above names it)")
    en, ja = page.read_text(encoding="utf-8"), twin.read_text(encoding="utf-8")
    assert headings(ja) == headings(en), "heading levels differ"
    for what, read in (("commands and code", commands), ("flags", flags), ("numbers", numbers)):
        only_en, only_ja = read(en) - read(ja), read(ja) - read(en)
        assert not only_en and not only_ja, (
            f"{what} differ: only in {name(page)}: {sorted(only_en)}; "
            f"only in {name(twin)}: {sorted(only_ja)}"
        )
