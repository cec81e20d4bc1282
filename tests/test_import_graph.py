"""The import graph of drp: no module imports itself back through others (the layers between
packages are the import-linter contracts in pyproject.toml; this checks inside them too)."""

import pytest

grimp = pytest.importorskip("grimp")  # installed with import-linter ('.[dev]')


def import_cycles(graph) -> list[list[str]]:
    """Strongly connected groups of more than one drp module (Tarjan), each an import circle."""
    modules = sorted(m for m in graph.modules if m.startswith("drp."))
    edges = {
        m: sorted(d for d in graph.find_modules_directly_imported_by(m) if d.startswith("drp."))
        for m in modules
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                cycles.append(sorted([v, *group]))

    for m in modules:
        if m not in index:
            visit(m)
    return cycles


def test_no_module_imports_itself_back():
    # type-checking imports count: a circle drawn only for type hints is still a circle
    assert import_cycles(grimp.build_graph("drp")) == []


def test_the_cycle_check_finds_a_planted_circle():
    graph = grimp.ImportGraph()
    for a, b in [("drp.a", "drp.b"), ("drp.b", "drp.c"), ("drp.c", "drp.a"), ("drp.c", "drp.d")]:
        graph.add_import(importer=a, imported=b)
    assert import_cycles(graph) == [["drp.a", "drp.b", "drp.c"]]
