"""The package layering holds: dependencies point down, and no module imports form a cycle.

    engine   (ground floor: settings, database, logs, metrics, errors, vLLM, registry, RAG)
    guardrails, feedback   (may use engine; never bot; never each other's insides in a cycle)
    bot      (front ends: Slack, CLI, admin page; may use everything below)

Imports are read from the source (``ast``), module-level and function-level alike, so a lazy import
inside a function cannot hide an upward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "guardrails", "feedback", "bot")
ALLOWED = {
    "engine": {"engine"},
    "guardrails": {"engine", "guardrails"},
    "feedback": {"engine", "feedback", "guardrails"},
    "bot": {"engine", "guardrails", "feedback", "bot"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")
            if "migrations" not in p.parts}


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Project modules ``path`` imports (``from a.b import c`` counts a.b.c when that is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # module level, including `if TYPE_CHECKING:` blocks' siblings but not their bodies
        nodes = [n for n in nodes if isinstance(n, (ast.Import, ast.ImportFrom))]
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name.split(".")[0] in PACKAGES}


MODULES = _modules()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle a depth-first walk of ``graph`` meets (each as the path that closes it)."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


@pytest.mark.parametrize("module", sorted(MODULES))
def test_dependencies_point_down(module: str) -> None:
    package = module.split(".")[0]
    upward = sorted(m for m in _imports(MODULES[module], top_level_only=False)
                    if m.split(".")[0] not in ALLOWED[package])
    assert not upward, f"{module} imports {upward}: {package} may only use {sorted(ALLOWED[package])}"


def test_no_import_cycles() -> None:
    """Module-level imports form no cycle (a package's __init__ importing its own modules is the one
    allowed direction: a module importing its package's __init__ back would close a cycle)."""
    graph = {m: {i for i in _imports(p, top_level_only=True) if i in MODULES and i != m} for m, p in MODULES.items()}
    # importing a.b.c also runs a/__init__ and a/b/__init__
    for deps in graph.values():
        for dep in list(deps):
            parts = dep.split(".")
            deps |= {".".join(parts[:k]) for k in range(1, len(parts)) if ".".join(parts[:k]) in MODULES}
    for module in list(graph):
        graph[module] -= {p for p in graph[module] if p == module or module.startswith(p + ".")}  # itself, its packages
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """The import reader sees an upward import hidden in a function, so the layering test can fail."""
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from bot.pipeline import Pipeline\n    return Pipeline\n")
    assert "bot.pipeline" in _imports(source, top_level_only=False)
    assert "bot.pipeline" not in _imports(source, top_level_only=True)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
