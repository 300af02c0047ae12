"""The performance page's tables and chart are what bench/perf_tables.py makes from bench/results,
and the settings page names every flag of `simplechat serve` with its real variable."""

from __future__ import annotations

import re
import sys
from typing import Any

from simplechat.cli import build_parser
from simplechat.settings import Settings
from tests.docs.pages import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import perf_tables


def test_the_committed_tables_and_chart_are_generated_from_the_results() -> None:
    for path, text in perf_tables.generated().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(ROOT)} is out of date: run .venv/bin/python bench/perf_tables.py"
        )


def test_every_generated_table_names_its_results_file() -> None:
    for lang in ("en", "ja"):
        block = perf_tables.tables(lang)
        named = re.findall(r"`bench/results/([^`]+)`", block)
        assert len(named) == block.count("\n### ") == 8
        assert all((ROOT / "bench" / "results" / name).exists() for name in named)


def serve_flags() -> set[str]:
    parser: Any = build_parser()
    serve = parser._subparsers._group_actions[0].choices["serve"]
    return {s for a in serve._actions for s in a.option_strings if s.startswith("--")} - {"--help"}


def test_the_settings_table_names_every_serve_flag_and_its_variable() -> None:
    for name in ("settings.md", "settings.ja.md"):
        text = (ROOT / "docs" / name).read_text(encoding="utf-8")
        missing = sorted(flag for flag in serve_flags() if f"`{flag}`" not in text)
        assert missing == [], f"docs/{name} leaves out {missing}"
        fields = {f"SIMPLECHAT_{field.upper()}" for field in Settings.model_fields}
        named = set(re.findall(r"`(SIMPLECHAT_[A-Z_]+)", text)) - {"SIMPLECHAT_DATA_DIR"}
        assert named <= fields, sorted(named - fields)
