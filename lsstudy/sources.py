"""Which lsstudy source files importing a module executes: the code a stage depends on (``lsstudy.pipeline.dvc``)
and the code a digest of reused work covers (``lsstudy.grid.study``), found by following imports with ``ast``.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository (lsstudy/ and notebooks/ are in it)
PACKAGE = "lsstudy"


def _module_file(module: str, root: Path = ROOT) -> Path | None:
    path = root.joinpath(*module.split("."))
    for candidate in [path.with_suffix(".py"), path / "__init__.py"]:
        if candidate.is_file():
            return candidate
    return None


def imported(source: str, module: str | None, root: Path = ROOT) -> set[str]:
    """The lsstudy modules ``source`` imports anywhere (functions included), as module names."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importing module's package
                parent = (module or "").split(".")[: -node.level]
                base = ".".join([*parent, base] if base else parent)
            if base.split(".")[0] != PACKAGE:
                continue
            found.add(base)
            # `from lsstudy import data` imports the module lsstudy.data
            found |= {f"{base}.{alias.name}" for alias in node.names if _module_file(f"{base}.{alias.name}", root)}
    return found


def _with_parents(module: str) -> list[str]:
    """Importing a.b.c runs a/__init__.py and a/b/__init__.py first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def closure(modules: set[str], root: Path = ROOT) -> list[Path]:
    """Every lsstudy source file that importing ``modules`` executes, sorted."""
    todo, seen = [m for name in modules for m in _with_parents(name)], set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(module, root)
        if path is None:
            continue
        todo += [m for name in imported(path.read_text(), module, root) for m in _with_parents(name)]
    return sorted(p for p in (_module_file(m, root) for m in seen) if p is not None)


def module_files(module: str, root: Path = ROOT) -> list[Path]:
    """The lsstudy files importing ``module`` executes (what a digest of its code must cover)."""
    return closure({module}, root)
