"""The Chinese docs keep in step with the English README and read as Chinese.

- README.zh-CN.md names every inline code span of README.md at least as
  often (a dropped sentence usually drops a name: it once lost the one about
  ``bench_linearizable.py``'s table);
- the warehouse of the CAP story is 货仓: 仓库 alone also reads "code
  repository", so it only appears as 代码仓库;
- Chinese prose uses full-width punctuation (，。：；（）！？), code aside.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHINESE = [ROOT / "README.zh-CN.md", *sorted((ROOT / "docs" / "zh").glob("*.md"))]
HAN = "[\u4e00-\u9fff]"


def prose(path: Path) -> list[tuple[int, str]]:
    """(line number, text) outside fenced blocks, code spans and link targets removed."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            text = re.sub(r"`[^`\n]*`", "", line)
            lines.append((number, re.sub(r"\]\([^)\s]*\)", "]", text)))
    return lines


def code_spans(path: Path) -> Counter[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return Counter(re.findall(r"`([^`\n]+)`", text))


def test_the_chinese_readme_names_everything_the_english_one_does() -> None:
    english, chinese = code_spans(ROOT / "README.md"), code_spans(ROOT / "README.zh-CN.md")
    missing = {span: (count, chinese[span]) for span, count in english.items()
               if chinese[span] < count}
    assert not missing, f"README.zh-CN.md lags behind README.md (span: en, zh): {missing}"


@pytest.mark.parametrize("path", CHINESE, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_warehouse_is_never_a_repository(path: Path) -> None:
    ambiguous = [f"{number}: {text.strip()}" for number, text in prose(path)
                 if re.search("(?<!代码)仓库", text)]
    assert not ambiguous, f"仓库 may read as a code repository (say 货仓 or 代码仓库): {ambiguous}"


@pytest.mark.parametrize("path", CHINESE, ids=lambda path: str(path.relative_to(ROOT)))
def test_chinese_prose_uses_full_width_punctuation(path: Path) -> None:
    half = re.compile(rf"{HAN}\s?[,.:;!?()]|[,:;!?(]\s?{HAN}|\([^)]*{HAN}[^)]*\)")
    found = [f"{number}: {text.strip()}" for number, text in prose(path) if half.search(text)]
    assert not found, f"half-width punctuation in Chinese text: {found}"
