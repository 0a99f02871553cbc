"""The house rules a reader can check without running anything: one owner for history rows, no import cycles,
no test support in production packages."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("esa_domain", "esa_api", "esa_admin", "workers")
TRANSITIONS = ROOT / "esa_domain" / "core" / "transitions.py"


def _modules(packages=(*PRODUCTION, "sandbox")) -> dict[str, Path]:
    found = {}
    for pkg in packages:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every project module `name` imports, at any depth of the file (function-level imports included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".")[: -node.level] if path.name != "__init__.py" else name.split(".")
                if path.name == "__init__.py" and node.level > 1:
                    pkg = name.split(".")[: -(node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def test_no_history_row_is_written_outside_the_transitions_owner():
    pattern = re.compile(r"INSERT\s+INTO\s+payment_history", re.IGNORECASE)
    offenders = [
        str(path.relative_to(ROOT))
        for path in _modules().values()
        if path != TRANSITIONS and pattern.search(path.read_text())
    ]
    assert offenders == []


def test_no_module_imports_one_that_imports_it_back():
    modules = _modules()
    known = set(modules)
    graph = {name: _imports(name, path, known) for name, path in modules.items()}
    # a package's __init__ importing its own submodules is how a package exposes them, not a cycle
    graph = {n: {d for d in deps if not d.startswith(n + ".")} for n, deps in graph.items()}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*stack[stack.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_production_packages_import_no_test_support():
    modules = _modules(PRODUCTION)
    known = set(_modules((*PRODUCTION, "tests"))) | {"tests"}
    offenders = {
        name: sorted(d for d in _imports(name, path, known) if d == "tests" or d.startswith("tests."))
        for name, path in modules.items()
    }
    assert {k: v for k, v in offenders.items() if v} == {}
