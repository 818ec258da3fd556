"""The dependency direction holds: labeling never imports training; training/jobs never imports Django.

Imports are read with ast from every module, function-local ones included, so a lazy import
cannot hide a crossing.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Return every module a file imports, anywhere in it (relative imports resolved against its package)."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.add(f"{base}.{node.module}" if node.module else base)
            else:
                found.add(node.module or "")
    return found


def crossings(package: str, forbidden: tuple[str, ...], root: Path = ROOT) -> list[str]:
    bad = []
    for path in sorted((root / package).rglob("*.py")):
        for module in sorted(imported_modules(path, root)):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(root)} imports {module}")
    return bad


def test_labeling_never_imports_training():
    assert crossings("labeling", ("training",)) == []


def test_training_jobs_never_import_django_or_the_web_app():
    forbidden = ("django", "rest_framework", "django_tasks", "labeling", "config")
    assert crossings("training/jobs", forbidden) == []
    web_side = [c for c in crossings("training/jobs", ("training",)) if " imports training.jobs" not in c]
    assert web_side == []


def test_the_checker_sees_function_local_and_relative_imports(tmp_path):
    (tmp_path / "labeling" / "views").mkdir(parents=True)
    (tmp_path / "labeling" / "views" / "probe.py").write_text(
        "def f():\n    from training.models import Run\n\nfrom ..models import Project\n"
    )
    assert crossings("labeling", ("training",), root=tmp_path) == ["labeling/views/probe.py imports training.models"]
    assert "labeling.models" in imported_modules(tmp_path / "labeling" / "views" / "probe.py", tmp_path)


def _module_graph(packages: tuple[str, ...], skip: tuple[str, ...]) -> dict[str, set[str]]:
    """Return {module: modules it imports} among the packages' own modules (migrations and `skip` left out)."""
    paths = {}
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT)
            name = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
            if "migrations" not in rel.parts and not any(name == s or name.startswith(s + ".") for s in skip):
                paths[name] = path
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        for module in imported_modules(path):
            while module and module not in paths:
                module = module.rpartition(".")[0]  # `from pkg.mod import name`: the module, not the name
            if module and module != name:
                graph[name].add(module)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Return the strongly connected groups of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while not group or w != v:
                w = stack.pop()
                group.add(w)
            if len(group) > 1:
                found.append(group)

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_jobs_have_no_import_cycle():
    assert [sorted(c) for c in _cycles(_module_graph(("training",), skip=()))
            if any(m.startswith("training.jobs") for m in c)] == []


def test_the_web_app_has_no_import_cycle_beyond_a_service_task_pair():
    # training/jobs is Django-free and checked on its own terms above.
    cycles = _cycles(_module_graph(("labeling", "training"), skip=("training.jobs",)))
    assert [sorted(c) for c in cycles if len(c) > 2 or not any(m.endswith("tasks") for m in c)] == []
