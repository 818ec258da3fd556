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
