"""The import graph of lamina: wings, cycles, imports running back up, private names taken across modules.

Usage: python tools/imports.py   (prints the numbers; exit 1 when a rule is broken)

Every ``import`` statement counts, lazy ones inside functions included. A module's wing is its first
folder under ``lamina/`` (``lamina/train/engine.py`` is in ``train``); the package's own
``__init__.py`` is the front door and may import every wing. Wings are ordered from the bottom up
in ``WINGS``: a module may import its own wing and the wings below it, never one above.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "lamina"
# Bottom to top. Wings on the same step may not import each other.
WINGS: list[tuple[str, ...]] = [
    ("core",),
    ("nn",),
    ("train",),
    ("io",),
    ("models",),
    ("data",),
    ("project",),
    ("deploy",),
    ("maintain",),
    ("cli", "playground"),
]
LEVEL = {wing: step for step, group in enumerate(WINGS) for wing in group}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> list[tuple[str, str, int]]:
    """(imported module, imported name or "", line) for every lamina import in one module."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    typing_only = {
        id(n)
        for block in ast.walk(tree)
        if _is_type_checking(block)
        for stmt in block.body
        for n in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [
                (a.name, "", node.lineno) for a in node.names if a.name.split(".")[0] == "lamina"
            ]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "lamina":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append(
                    (sub, "", node.lineno) if sub in known else (base, alias.name, node.lineno)
                )
    return found


def _is_type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` blocks hold imports for annotations only: they never run."""
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
    )


def wing(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and (ROOT / parts[1]).is_dir() else None


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        for target, _, _ in imports(name, path, known):
            while target not in known and "." in target:
                target = target.rpartition(".")[0]
            if target != name:
                edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), ignoring package front doors.

    A package ``__init__`` that only re-exports its children is not a cycle: importing
    ``lamina.models.cnn`` runs ``lamina/models/__init__.py`` first, but the child never needs the
    parent's names, so edges into a package's own ``__init__`` from inside it are dropped.
    """

    def keep(src: str, dst: str) -> bool:
        return not src.startswith(dst + ".")

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if not keep(v, w):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def upward(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports from a lower wing into a higher one (or across wings on the same step)."""
    bad = []
    for src, targets in edges.items():
        ws = wing(src)
        if ws is None or ws not in LEVEL:
            continue
        for dst in targets:
            wd = wing(dst)
            if wd is None or wd == ws:
                if wd is None and dst != "lamina":
                    bad.append(
                        (src, dst)
                    )  # a flat top-level module: only the front door may live there
                continue
            if wd not in LEVEL or LEVEL[wd] >= LEVEL[ws]:
                bad.append((src, dst))
    return bad


def private_taken() -> list[tuple[str, str, int]]:
    """``from lamina.x import _name`` where ``_name`` is not a module: a private name crossing modules."""
    mods = modules()
    known = set(mods)
    bad = []
    for name, path in mods.items():
        for target, imported, line in imports(name, path, known):
            if imported.startswith("_") and not imported.startswith("__") and target != name:
                bad.append((name, f"{target}.{imported}", line))
    return bad


def main() -> int:
    edges = graph()
    mods = modules()
    per_wing: dict[str, int] = defaultdict(int)
    for name in mods:
        per_wing[wing(name) or "(top level)"] += 1
    print("modules per wing:", dict(sorted(per_wing.items())))
    found = cycles(edges)
    print(f"cycles: {len(found)}")
    for c in found:
        print("  ", " <-> ".join(c))
    up = upward(edges)
    print(f"imports against the wing order: {len(up)}")
    for src, dst in up:
        print(f"   {src} -> {dst}")
    private = private_taken()
    print(f"private names taken across modules: {len(private)}")
    for src, target, line in private:
        print(f"   {src}:{line} takes {target}")
    return 1 if found or up or private else 0


if __name__ == "__main__":
    sys.exit(main())
