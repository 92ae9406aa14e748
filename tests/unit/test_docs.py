"""The docs stay true to the code: every option of every command is on its page (the tables
are generated from the parsers by scripts/docs_options.py and must be fresh), every page has
its sections, and every relative link and anchor of README.md and docs/ resolves. The
examples themselves run in the system tier (tests/system/test_docs.py)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").glob("*.md"))


def docs_options() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_options",
                                                  ROOT / "scripts" / "docs_options.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OPTIONS = docs_options()


@pytest.mark.parametrize("command", OPTIONS.COMMANDS)
def test_every_option_is_documented_with_a_fresh_table(command: str) -> None:
    page = OPTIONS.page(command)
    text = page.read_text(encoding="utf-8")
    assert text == OPTIONS.refreshed(command), \
        f"{page.name}: stale options table; run python scripts/docs_options.py"
    table = text.split(OPTIONS.BEGIN, 1)[1].split(OPTIONS.END, 1)[0]
    for action in OPTIONS.documented_actions(OPTIONS.parser_of(command)):
        for option in action.option_strings:
            assert f"`{option}" in table, f"{page.name}: {option} undocumented"
    for heading in ("## Examples", "## Options", "## Errors"):
        assert f"\n{heading}\n" in text, f"{page.name}: no {heading}"
    assert "ERRORS_" not in text


def test_a_stale_table_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The freshness check can fail: a parser with one more option gives another table."""
    real = OPTIONS.parser_of

    def with_extra(command: str):  # type: ignore[no-untyped-def]
        parser = real(command)
        parser.add_argument("--brand-new", help="an option no page has")
        return parser

    monkeypatch.setattr(OPTIONS, "parser_of", with_extra)
    assert "`--brand-new BRAND_NEW`" in OPTIONS.table("mbr")
    assert OPTIONS.refreshed("mbr") != OPTIONS.page("mbr").read_text(encoding="utf-8")


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {slug(m) for m in re.findall(r"^#+ (.*)$", text, flags=re.MULTILINE)}


def test_slug_is_githubs() -> None:
    assert slug("Attention: `cpu-attention` against it (dropout 0.2)") == \
        "attention-cpu-attention-against-it-dropout-02"
    assert slug("Tables 1 and 2 (`pipelines/multi30k_evidence.py`)") == \
        "tables-1-and-2-pipelinesmulti30k_evidencepy"


@pytest.mark.parametrize("page", [ROOT / "README.md", *PAGES], ids=lambda p: p.name)
def test_links_resolve(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        assert path.exists(), f"{page.name}: link to missing {target}"
        if anchor:
            assert anchor in anchors(path), f"{page.name}: no anchor #{anchor} in {path.name}"


def test_every_page_is_reachable_from_the_index() -> None:
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    for page in PAGES:
        if page.name != "index.md":
            assert f"({page.name}" in index, f"docs/index.md does not link {page.name}"
    assert "(docs/index.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
