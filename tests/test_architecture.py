"""The import rule of DESIGN.md: `acd/` (the core) imports nothing else of the project, and
no edge imports another edge's internals through the core's back door."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = {"acd", "pbx", "ivr", "dialplan", "recordings", "callback", "tickets", "web", "security", "seats",
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


PRODUCTION = PROJECT_PACKAGES - {"hotline_pbx", "hotline_config"}


def package_imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for package in sorted(PRODUCTION | {"devtools"}):
        for path in sorted((REPO / package).rglob("*.py")):
            found = imported_top_levels(path) & (PROJECT_PACKAGES | {"devtools"})
            graph.setdefault(package, set()).update(found - {package})
    return graph


def test_given_the_packages_when_their_imports_are_drawn_then_there_is_no_cycle() -> None:
    graph = package_imports()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join(path + [nxt])}"
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_given_production_code_when_its_imports_are_read_then_it_never_imports_the_development_tooling() -> None:
    graph = package_imports()
    assert {package for package in PRODUCTION if "devtools" in graph.get(package, set())} == set()


def test_given_the_feature_folders_then_none_is_empty() -> None:
    """A newcomer finds a feature by its folder: no folder of the layout is a bare __init__.py."""
    empty = [package for package in sorted(PRODUCTION | {"devtools"})
             if not [p for p in (REPO / package).glob("*.py") if p.name != "__init__.py"]]
    assert empty == []


def test_given_the_composition_root_then_it_runs_no_loop_of_its_own() -> None:
    """Background loops live with the module they serve (journal sweep in pbx/, store statistics
    in tickets/, callback saves in callback/): hotline_pbx.py only wires."""
    tree = ast.parse((REPO / "hotline_pbx.py").read_text())
    loops = [node.lineno for node in ast.walk(tree) if isinstance(node, (ast.While, ast.AsyncFor))]
    assert loops == []
