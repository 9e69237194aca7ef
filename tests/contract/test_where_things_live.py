"""docs/architecture.md §6 "Where things live" points at code that exists.

A newcomer follows those answers to a file and a function; a rename that leaves the document
behind sends them to nothing. Every path named there must exist, and every name given with a
path, as in ``path`` (``name``, ``Class.method``), must be defined in that file.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"

QUESTIONS = (
    "10-active-keys limit",
    "creator resolved",
    "signature checked",
    "revoked key's tokens refused",
    "priority become a severity",
    "timeline entry for a PagerDuty event",
    "outbox relay",
    "inbox",
)
"""The questions the section must answer (issue: "where things live")."""

_PATH = re.compile(r"`((?:services|runtime|contracts|devtools|tests|bench|tools)/[^`\s]+)`")
_NAMES = re.compile(r"\s*\(((?:`[\w.]+`(?:,\s*)?)+)\)")


def _section() -> str:
    text = DOC.read_text()
    start = text.index("## 6. Where things live")
    return text[start : text.index("\n## ", start + 1)]


def _references(section: str) -> list[tuple[str, list[str]]]:
    found = []
    for match in _PATH.finditer(section):
        names = _NAMES.match(section, match.end())
        listed = re.findall(r"`([\w.]+)`", names.group(1)) if names else []
        found.append((match.group(1), listed))
    return found


def _defined(tree: ast.Module, dotted: str) -> bool:
    """Whether ``dotted`` (``name`` or ``Class.member``) is defined at the module's top level."""
    scope: list[ast.stmt] = tree.body
    for part in dotted.split("."):
        hit: ast.stmt | None = None
        for node in scope:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if node.name == part:
                    hit = node
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == part for t in targets):
                    hit = node
        if hit is None:
            return False
        scope = hit.body if isinstance(hit, ast.ClassDef) else []
    return True


def test_the_section_answers_the_questions_a_newcomer_asks() -> None:
    questions = re.findall(r"^\*\*(.+?)\*\*$", _section(), flags=re.MULTILINE)
    for wanted in QUESTIONS:
        matching = [q for q in questions if wanted.lower() in q.lower()]
        assert matching, f"no question about {wanted!r} in {questions}"


def test_each_answer_leads_with_one_path() -> None:
    blocks = re.split(r"^\*\*.+?\*\*$", _section(), flags=re.MULTILINE)[1:]
    for block in blocks:
        bullets = re.findall(r"^- (.+)$", block, flags=re.MULTILINE)
        assert len(bullets) == 1, block
        assert _PATH.match(bullets[0]), bullets[0]


def test_every_path_exists_and_defines_the_names_given_with_it() -> None:
    references = _references(_section())
    assert len(references) >= len(QUESTIONS)
    problems = []
    for path, names in references:
        file = ROOT / path
        if not file.exists():
            problems.append(f"{path}: no such file")
            continue
        if not names:
            continue
        tree = ast.parse(file.read_text())
        problems += [
            f"{path}: {name} is not defined there" for name in names if not _defined(tree, name)
        ]
    assert not problems, problems
