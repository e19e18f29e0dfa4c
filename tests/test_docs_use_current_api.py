"""The README and the docs call the public functions with current keywords only.

A user copies the examples; a deprecated keyword there would greet them with a
FutureWarning. The examples are parsed, not run (many need a GPU or weights).
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

from sklearn_depict._engine.params import CAPTION_OPTIONS, CHECK_OPTIONS

ROOT = Path(__file__).resolve().parents[1]
DEPRECATED = {
    "depict_importance": set(CAPTION_OPTIONS) | set(CHECK_OPTIONS),
    "depict_diagnostics": set(CAPTION_OPTIONS),
    "cross_validate_importance": set(CAPTION_OPTIONS),
}


def _markdown_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _rst_blocks(text: str) -> list[str]:
    blocks = []
    for match in re.finditer(r"\.\. code-block:: python\n((?:\n|[ \t]+.*\n)+)", text):
        blocks.append(textwrap.dedent(match.group(1)))
    return blocks


def _examples() -> list[tuple[str, str]]:
    found = [("README.md", b) for b in _markdown_blocks((ROOT / "README.md").read_text())]
    for page in sorted((ROOT / "docs").glob("*.rst")):
        found += [(page.name, b) for b in _rst_blocks(page.read_text())]
    return found


def _deprecated_calls(source: str) -> list[str]:
    calls = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        bad = sorted({k.arg for k in node.keywords} & DEPRECATED.get(name, set()))
        if bad:
            calls.append(f"{name}(..., {', '.join(bad)}=...) at line {node.lineno}")
    return calls


def test_the_examples_are_found_and_parse():
    examples = EXAMPLES
    assert len(examples) > 30
    parsed = 0
    for _, block in examples:
        try:
            ast.parse(block)
            parsed += 1
        except SyntaxError:  # a fragment with "..." placeholders
            pass
    assert parsed >= 0.8 * len(examples)


def test_the_checker_finds_a_deprecated_keyword():
    assert _deprecated_calls("depict_importance(m, X, y, generator=g, cache='c')") == [
        "depict_importance(..., cache=...) at line 1"
    ]
    assert _deprecated_calls("depict_diagnostics(m, X, y, detector=d)") == []


EXAMPLES = _examples()


@pytest.mark.parametrize(
    "where, block", EXAMPLES, ids=[f"{where}-{k}" for k, (where, _) in enumerate(EXAMPLES)]
)
def test_examples_use_no_deprecated_keyword(where, block):
    try:
        calls = _deprecated_calls(block)
    except SyntaxError:
        pytest.skip("a fragment, not a whole example")
    assert not calls, f"{where}: {calls}"
