"""The layers of the project (the import direction):

- fme.core (errors, options, outputs, digest) imports nothing of the project;
- db imports fme.core; study imports db and fme.core, never generation, eval or torch;
- generation imports fme.core; eval imports generation and fme.core;
- fme.api (the Python front door), fme.commands, fme.bench, fme.cli and fme.__main__ are
  the roof: no library module
  (generation, eval, study, db, app, fme.core) imports them;
- no import circle among the project's modules.

The graph is read from the sources with `ast`: every import at any depth (module level or
inside a function) is an edge, to the project module it names (`from pkg import name` where
`pkg.name` is a module is an edge to that module). FME_LAYERS_ROOT=DIR checks another
checkout (e.g. an older one) instead of this one.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(os.environ.get("FME_LAYERS_ROOT") or Path(__file__).resolve().parents[2])
PACKAGES = ("fme", "generation", "eval", "study", "db")
ROOF = ("fme.api", "fme.commands", "fme.bench", "fme.cli", "fme.__main__")
LIBRARY = ("generation", "eval", "study", "db", "app", "fme.core")
# what each layer may import of the project (besides itself)
ALLOWED = {
    "fme.core": (),
    "db": ("fme.core",),
    "study": ("db", "fme.core"),
    "generation": ("fme.core",),
    "eval": ("generation", "fme.core"),
    "app": ("study", "db", "fme.core"),
}

# Known exceptions to the layers, each with its reason: to be removed, not added to.
# study.design probes the method folders' videos and writes the catch clips with the video
# I/O of generation.data.video (PyAV and PIL, no torch), imported inside the functions.
EXCEPTIONS = {("study.design", "generation.data.video")}


def _under(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _layer(name: str) -> str | None:
    for layer in sorted(ALLOWED, key=len, reverse=True):
        if _under(name, layer):
            return layer
    return None


@cache
def modules() -> dict[str, Path]:
    """The project's modules (dotted name -> file) under ROOT."""
    found = {"app": ROOT / "app.py"} if (ROOT / "app.py").exists() else {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """Every import at any depth of a module: (absolute module, names taken from it)
    (`import a.b`: ("a.b", []))."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            out.append((module, [alias.name for alias in node.names]))
    return out


def _resolve(dotted: str, known: dict[str, Path]) -> str | None:
    """The project module a dotted name names: the longest prefix that is a module."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in known:
            return candidate
    return None


@cache
def graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (an import of a.b.c names a.b.c, not a;
    `from a import b` names a.b where that is a module, else a)."""
    known = modules()
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        targets: set[str | None] = set()
        for module, names in _imports(name, path):
            if not names:
                targets.add(_resolve(module, known))
            for alias in names:
                sub = f"{module}.{alias}"
                targets.add(sub if sub in known else _resolve(module, known))
        edges[name] = {t for t in targets if t is not None and t != name}
    return edges


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def test_the_graph_finds_a_circle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert sorted(c for c in strongly_connected(edges) if len(c) > 1) == [["a", "b", "c"]]


def test_no_import_circle():
    circles = [c for c in strongly_connected(graph()) if len(c) > 1]
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


def _roof(name: str) -> bool:
    """A command or a benchmark: under ROOF, or named like one wherever it is."""
    last = name.rsplit(".", 1)[-1]
    return (
        _under(name, ROOF)
        or last in ("cli", "bench", "__main__")
        or last.endswith("_cli")
        or last.startswith("bench_")
    )


def test_no_library_module_imports_the_commands_or_the_benches():
    bad = sorted(
        f"{name} imports {target}"
        for name, targets in graph().items()
        if _under(name, LIBRARY) and not _roof(name)
        for target in targets
        if _roof(target)
    )
    assert not bad, "\n".join(bad)


def test_fme_core_imports_nothing_of_the_project():
    bad = sorted(
        f"{name} imports {target}"
        for name, targets in graph().items()
        if _under(name, "fme.core")
        for target in targets
        if not _under(target, "fme.core")
    )
    assert not bad, "\n".join(bad)


def test_each_layer_imports_only_the_layers_below_it():
    bad = sorted(
        f"{name} imports {target}"
        for name, targets in graph().items()
        if (layer := _layer(name)) is not None
        for target in targets
        if not _under(target, layer)
        and not (
            _under(target, ALLOWED[layer])
            # the packages above fme.core: a bare `fme` is the version, nothing else
            or target == "fme"
        )
        # study's pages are app pages: they may use what the app uses
        and not (_under(name, "study.pages") and _under(target, ALLOWED["app"]))
        and (name, target) not in EXCEPTIONS
    )
    assert not bad, "\n".join(bad)


def test_study_and_db_never_import_generation_eval_or_torch():
    bad = sorted(
        f"{name} imports {imported}"
        for name, path in modules().items()
        if _under(name, ("study", "db"))
        for imported, _ in _imports(name, path)
        if imported.split(".")[0] in ("generation", "eval", "torch")
        and (name, imported) not in EXCEPTIONS
    )
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    "module",
    [
        "fme.core.errors",
        "fme.core.options",
        "fme.core.outputs",
        "fme.core.digest",
        "db.models",
        "db.engine",
        "db.migrate",
        "db.votes",
        "db.ratings",
        "study.report",  # the statistics, tables and figures: no models, no torch
        "study.specs",
    ],
)
def test_module_imports_no_generation_and_no_torch(module):
    code = (
        f"import sys, {module}; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('generation', 'torch', 'eval'));"
        "print(','.join(bad))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    ).stdout.strip()
    assert out == "", f"{module} pulls in {out}"


def test_fme_help_imports_no_torch():
    code = (
        "import sys; from fme.cli import build_parser; build_parser(); "
        "print('torch' in sys.modules)"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    ).stdout.strip()
    assert out == "False"


def test_old_error_import_path_is_the_same_family():
    from fme.core import errors
    from generation import errors as old

    assert old.FMEError is errors.FMEError and old.DataError is errors.DataError
