"""The documentation tells the truth: its samples run, its flags exist, its links work.

- Every ```python block of README.md, README.zh-CN.md and docs/**/*.md appears
  verbatim (after textwrap.dedent, ignoring trailing spaces) in a file under
  examples/ or tests/, files that run in the test suite. A sample that is not
  Python says so: ```bash, ```ini, ```toml, ```text, ```json or ```yaml.
- Every ``--partition-...`` flag and ``partition_...`` ini key the docs name
  exists in :data:`pytest_partition.settings.OPTIONS` (or, for a
  ``partition_...`` word, is one of the plugin's fixtures or JUnit properties).
- Every relative link points to a file that exists (and, for ``#anchor``
  links into Markdown, to a heading); docs/index.md and the README link to
  every page.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_partition import lifecycle, plugin
from pytest_partition.settings import OPTIONS

ROOT = Path(__file__).resolve().parent.parent
READMES = [ROOT / "README.md", ROOT / "README.zh-CN.md"]
DOCS = sorted(path for path in [*READMES, *(ROOT / "docs").rglob("*.md")] if path.is_file())
LANGUAGES = {"python", "bash", "ini", "toml", "text", "json", "yaml"}
PAGES = ["index.md", "quickstart.md", "concepts.md", "api.md", "node-contract.md",
         "checkers.md", "shrinking.md", "ci.md", "troubleshooting.md", "store-cp.md",
         "store-ap.md", "architecture.md", "zh/quickstart.md"]


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    path: Path
    line: int
    language: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    """The fenced blocks of ``path``, with their language and dedented text."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    opened: tuple[int, str] | None = None
    body: list[str] = []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if opened is None:
            if stripped.startswith("```"):
                opened, body = (number, stripped[3:].strip()), []
        elif stripped == "```":
            text = textwrap.dedent("\n".join(part.rstrip() for part in body)).strip("\n")
            blocks.append(Block(path, opened[0], opened[1], text))
            opened = None
        else:
            body.append(line)
    assert opened is None, f"{path.relative_to(ROOT)}:{opened[0]}: code block never closed"
    return blocks


BLOCKS = [block for doc in DOCS for block in fenced_blocks(doc)]
PYTHON = [block for block in BLOCKS if block.language == "python"]


def runnable_sources() -> dict[Path, list[str]]:
    """Lines (trailing spaces stripped) of every file the test suite runs."""
    files = [*(ROOT / "examples").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
    return {path: [line.rstrip() for line in path.read_text(encoding="utf-8").splitlines()]
            for path in files if path.resolve() != Path(__file__).resolve()}


SOURCES = runnable_sources()


def found_in(block: Block, lines: list[str]) -> bool:
    """True when some run of ``lines``, dedented, is the block's text."""
    wanted = block.text.splitlines()
    first = wanted[0].strip()
    for start, line in enumerate(lines):
        if line.strip() != first:
            continue
        window = lines[start:start + len(wanted)]
        if textwrap.dedent("\n".join(window)).splitlines() == wanted:
            return True
    return False


def test_the_documentation_pages_exist() -> None:
    missing = [page for page in PAGES if not (ROOT / "docs" / page).is_file()]
    missing += [path.name for path in READMES if not path.is_file()]
    assert not missing, f"missing pages: {missing}"
    assert PYTHON, "the docs show no Python sample at all"


def test_every_code_block_names_its_language() -> None:
    unnamed = [f"{block.where} ({block.language or 'no language'})" for block in BLOCKS
               if block.language not in LANGUAGES]
    assert not unnamed, f"code blocks need one of {sorted(LANGUAGES)}: {unnamed}"


@pytest.mark.parametrize("block", PYTHON, ids=[block.where for block in PYTHON])
def test_every_python_sample_runs_in_the_test_suite(block: Block) -> None:
    homes = [path for path, lines in SOURCES.items() if found_in(block, lines)]
    assert homes, (
        f"{block.where}: this Python sample is not in any file under examples/ or tests/; "
        f"put it in a test (tests/docs_snippets/) so that it runs:\n{block.text}"
    )


FLAG = re.compile(r"--partition-[a-z]+(?:-[a-z]+)*")
INI_KEY = re.compile(r"(?<![\w.\-/])partition_[a-z]+(?:_[a-z]+)*")


def other_partition_names() -> set[str]:
    """``partition_...`` names that are not ini keys: the plugin's fixtures and
    JUnit properties (string literals in plugin.py and lifecycle.py)."""
    fixtures = {name for name in vars(plugin) if name.startswith("partition_")}
    literals = set()
    for module in (plugin, lifecycle):
        literals |= set(re.findall(r"[\"'](partition_[a-z_]+)[\"']",
                                   Path(module.__file__).read_text(encoding="utf-8")))
    return fixtures | literals


def test_every_flag_and_ini_key_in_the_docs_exists() -> None:
    flags = {option.flag for option in OPTIONS}
    keys = {option.ini for option in OPTIONS} | other_partition_names()
    unknown = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        where = doc.relative_to(ROOT)
        unknown += [f"{where}: {flag}" for flag in FLAG.findall(text) if flag not in flags]
        unknown += [f"{where}: {key}" for key in INI_KEY.findall(text) if key not in keys]
    assert not unknown, f"the docs name options that do not exist: {sorted(set(unknown))}"


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def links(doc: Path) -> list[str]:
    """Link targets of a Markdown file, code blocks and code spans left out."""
    text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    return LINK.findall(text)


def anchors(doc: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file."""
    text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.DOTALL)
    seen: dict[str, int] = {}
    for line in text.splitlines():
        heading = re.match(r"^#{1,6}\s+(.*)$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            seen[slug] = seen.get(slug, 0) + 1
            if seen[slug] > 1:
                seen[f"{slug}-{seen[slug] - 1}"] = 1
    return set(seen)


def test_every_relative_link_points_to_a_file() -> None:
    broken = []
    for doc in DOCS:
        for target in links(doc):
            if re.match(r"^[a-z][a-z0-9+.\-]*:", target):
                continue  # a web address or mailto:
            name, _, anchor = target.partition("#")
            path = (doc.parent / name).resolve() if name else doc
            if not path.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, f"links to files or headings that do not exist: {broken}"


@pytest.mark.parametrize(("home", "also"), [("docs/index.md", []),
                                           ("README.md", ["README.zh-CN.md"])])
def test_the_index_and_the_readme_link_every_page(home: str, also: list[str]) -> None:
    doc = ROOT / home
    targets = {(doc.parent / link.split("#", 1)[0]).resolve() for link in links(doc)}
    wanted = [ROOT / "docs" / page for page in PAGES] + [ROOT / name for name in also]
    missing = [str(path.relative_to(ROOT)) for path in wanted
               if path.resolve() != doc.resolve() and path.resolve() not in targets]
    assert not missing, f"{home} does not link to {missing}"


@pytest.mark.parametrize("readme", READMES, ids=lambda path: path.name)
def test_the_readme_opens_with_the_commands_ci_runs(readme: Path) -> None:
    # The README's first block: install and run the examples, then run the
    # tests. CI runs the same test command, so what the README promises is
    # what CI proves.
    first = fenced_blocks(readme)[0]
    install_and_examples, tests_command = first.text.strip().splitlines()
    assert install_and_examples.startswith("python -m pip install -e '.[test]' && ")
    assert "python -m pytest examples" in install_and_examples
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "python -m pip install -e '.[test]'" in ci
    assert ci[-1] == tests_command
