"""The README and the manual in docs/: every setting the code reads is documented, every local
link resolves (anchors included), no table is written twice, and the README stays a front page."""

import re
from pathlib import Path

import pytest

from thumbnail_operator.settings import OperatorSettings
from uploader.settings import UploaderSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS, REPO_ROOT / "benchmarks" / "README.md"]
#: The README is the front page; the manual lives in docs/.
README_MAX_LINES = 200

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code (links there are not links)."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in _FENCE.sub("", text).splitlines():
        if m := re.match(r"#{1,6} (.+)", line):
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(text: str) -> list[str]:
    return _LINK.findall(prose(text))


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in links(page.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file.read_text())):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    return broken


def tables(text: str) -> list[tuple[str, ...]]:
    """Every Markdown table outside code blocks, as its lines (header, separator, rows), stripped."""
    found, current = [], []
    for line in [*_FENCE.sub("", text).splitlines(), ""]:
        if line.lstrip().startswith("|"):
            current.append(re.sub(r"\s+", " ", line.strip()))
        elif current:
            found.append(tuple(current))
            current = []
    return found


def test_every_uploader_and_operator_setting_is_in_the_configuration_doc():
    configuration = (REPO_ROOT / "docs" / "configuration.md").read_text()
    for settings in (UploaderSettings, OperatorSettings):
        for name, field in settings.model_fields.items():
            env = (field.validation_alias or name).upper()
            assert f"`{env}`" in configuration, env


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_local_link_resolves(page):
    assert not broken_links(page)


def test_the_link_check_sees_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "a.md").write_text("# A\n\n## Two words\n")
    page = tmp_path / "b.md"
    page.write_text("[ok](a.md#two-words) [self](#b) `[code](gone.md)`\n# B\n[x](gone.md) [y](a.md#nope)\n"
                    "```\n[in a block](gone.md)\n```\n")
    assert broken_links(page) == ["gone.md: no such file", "a.md#nope: no heading #nope in a.md"]


def test_every_doc_links_back_to_the_readme_and_the_readme_links_every_doc():
    readme_links = {(README.parent / t.partition("#")[0]).resolve() for t in links(README.read_text())}
    for doc in DOCS:
        purpose = doc.read_text().split("\n\n")[1]  # the paragraph under the title
        assert "](../README.md)" in purpose, doc.name
        assert doc.resolve() in readme_links, f"the README does not link {doc.name}"


def test_no_table_appears_in_two_places():
    where: dict[object, list[str]] = {}
    for page in PAGES:
        for table in tables(page.read_text()):
            where.setdefault(table, []).append(page.name)
            for row in table[2:]:  # a row copied into another table counts too
                where.setdefault(("row", row), []).append(page.name)
    repeated = {key: pages for key, pages in where.items() if len(pages) > 1}
    assert not repeated, repeated


def test_the_table_check_sees_a_copied_table():
    text = "| a | b |\n|---|---|\n| 1 | 2 |\n\ntext\n\n| a  | b |\n|---|---|\n| 1 |  2 |\n```\n| in | code |\n```\n"
    assert tables(text) == [("| a | b |", "|---|---|", "| 1 | 2 |")] * 2


def test_the_readme_is_a_short_front_page():
    lines = README.read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move the detail into docs/"
    assert "```sh\nmake test\n```" in README.read_text()  # the command CI runs (.ci/run)
