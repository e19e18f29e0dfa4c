"""The README and the docs call the public functions with keywords they take.

A user copies the examples; a keyword the function does not take would greet
them with a TypeError. The examples are parsed, not run (many need a GPU or
weights), and every keyword of a call to a public function of the package is
looked up in that function's signature.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from pathlib import Path

import pytest

import sklearn_depict

ROOT = Path(__file__).resolve().parents[1]
# Public callables by name, and the keywords each accepts (None: it takes **kwargs).
PUBLIC = {}
for _name in sklearn_depict.__all__:
    _obj = getattr(sklearn_depict, _name)
    if _name in sklearn_depict._LAZY:
        continue  # torch or matplotlib: not in a core install
    if callable(_obj) and not (isinstance(_obj, type) and issubclass(_obj, Warning)):
        _params = inspect.signature(_obj).parameters.values()
        PUBLIC[_name] = (
            None if any(p.kind is p.VAR_KEYWORD for p in _params)
            else {p.name for p in _params}
        )


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


def _unknown_keywords(source: str) -> list[str]:
    calls = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        accepted = PUBLIC.get(name)
        if accepted is None:
            continue
        bad = sorted({k.arg for k in node.keywords if k.arg is not None} - accepted)
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


def test_the_checker_finds_a_keyword_the_function_does_not_take():
    assert _unknown_keywords("depict_importance(m, X, y, generator=g, cache='c')") == [
        "depict_importance(..., cache=...) at line 1"
    ]
    assert _unknown_keywords("depict_diagnostics(m, X, y, detector=d)") == []
    assert _unknown_keywords("CaptionToImage(g, cache='c', seed=1)") == []


EXAMPLES = _examples()


@pytest.mark.parametrize(
    "where, block", EXAMPLES, ids=[f"{where}-{k}" for k, (where, _) in enumerate(EXAMPLES)]
)
def test_examples_use_keywords_the_functions_take(where, block):
    try:
        calls = _unknown_keywords(block)
    except SyntaxError:
        pytest.skip("a fragment, not a whole example")
    assert not calls, f"{where}: {calls}"
