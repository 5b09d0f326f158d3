"""The import rule of DESIGN.md: `acd/` (the core) imports nothing else of the project, and
no edge imports another edge's internals through the core's back door."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = {"acd", "pbx", "ivr", "dialplan", "recordings", "callback", "tickets", "web",
                    "events", "hotline_pbx", "hotline_config"}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_given_the_core_when_its_imports_are_read_then_it_imports_no_edge() -> None:
    offenders = {}
    for path in sorted((REPO / "acd").rglob("*.py")):
        edges = (imported_top_levels(path) & PROJECT_PACKAGES) - {"acd"}
        if edges:
            offenders[str(path.relative_to(REPO))] = sorted(edges)
    assert offenders == {}


def test_given_an_edge_when_its_imports_are_read_then_it_never_imports_the_composition_root() -> None:
    offenders = []
    for package in PROJECT_PACKAGES - {"hotline_pbx", "hotline_config"}:
        for path in sorted((REPO / package).rglob("*.py")):
            if "hotline_pbx" in imported_top_levels(path):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
