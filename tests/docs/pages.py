"""The READMEs and docs pages as the docs tests read them: pairs, headings, code, links."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Pages others write in parallel; the links test names them apart until they are merged.
PENDING = frozenset(
    f"docs/{name}{lang}.md" for name in ("models", "scaling", "aws-model") for lang in ("", ".ja")
)

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`([^`\n]+)`")
HEADING = re.compile(r"^(#{1,6}) (.+)$", re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
NUMBER = re.compile(r"(?<![\w.,/-])\d+(?:[.,]\d+)*(?![\w/])")


def english_pages() -> list[Path]:
    """README.md and every English docs page (a page is English unless it ends in .ja.md)."""
    docs = sorted(p for p in (ROOT / "docs").glob("*.md") if not p.name.endswith(".ja.md"))
    return [ROOT / "README.md", *docs]


def japanese_of(page: Path) -> Path:
    return page.with_name(page.name.removesuffix(".md") + ".ja.md")


def all_pages() -> list[Path]:
    pages = []
    for page in english_pages():
        pages.append(page)
        if japanese_of(page).exists():
            pages.append(japanese_of(page))
    return pages


def without_code(text: str) -> str:
    return INLINE.sub(" ", FENCE.sub(" ", text))


def headings(text: str) -> list[int]:
    """The level of each heading, in order (code blocks may hold lines starting with #)."""
    return [len(m.group(1)) for m in HEADING.finditer(FENCE.sub("", text))]


def commands(text: str) -> set[str]:
    """Every code span, and every line of every code block without its comment."""
    found = set(INLINE.findall(FENCE.sub("", text)))
    for block in FENCE.findall(text):
        for line in block.splitlines():
            line = re.sub(r"(^|\s)#\s.*$", "", line).rstrip()
            if line:
                found.add(line)
    return found


def flags(text: str) -> set[str]:
    return set(FLAG.findall(text))


def numbers(text: str) -> set[str]:
    """The numbers of the prose (code and link targets left out)."""
    prose = LINK.sub(" ", without_code(text))
    return set(NUMBER.findall(prose))


def links(text: str) -> list[str]:
    """Every link and image target outside code."""
    return LINK.findall(FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading (web/js/guide.js makes the same)."""
    text = re.sub(r"[^\w\s-]", "", INLINE.sub(r"\1", heading).strip().lower())
    return re.sub(r"\s", "-", text)


def anchors(text: str) -> set[str]:
    return {slug(m.group(2)) for m in HEADING.finditer(FENCE.sub("", text))}
