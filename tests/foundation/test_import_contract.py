"""The import contract, read from the source: every import statement of every module of the
project's packages, lazy imports inside functions included (and importlib.import_module of a
literal name).

- the player (``synth``) never imports the producers (train, export, ...) nor TensorFlow, Keras,
  tf2onnx or onnx: ``pip install vae-synth`` plays without them;
- ``export`` writes bundles through ``synth.preset`` (the one definition of the format), and
  nothing in ``synth`` imports ``export``;
- every subcommand module (``*/cli.py``) imports nothing heavy at module level, directly or
  through the project modules it imports there (``vae-synth --help`` stays instant);
- no import cycles among the project's modules, lazy imports counted.

The packages and their folders are read from pyproject.toml, so a new package is scanned as
soon as it is listed there; what it may not import is one entry below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the tomli backport pyproject.toml installs there
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
# Packages that make presets; the player must work without every one of them.
PRODUCERS = ("vae_synth.train", "vae_synth.export", "vae_synth.evaluate")
HEAVY = ("tensorflow", "keras", "tf2onnx", "onnx")
FORBIDDEN = {
    "vae_synth.synth": PRODUCERS + HEAVY,
    "vae_synth.presets": PRODUCERS + HEAVY,
}
REQUIRED = {
    "vae_synth.export.bundle": ("vae_synth.synth.preset",),
}
# what a subcommand module may not load at module level (only inside its run_NAME)
HEAVY_AT_MODULE_LEVEL = HEAVY + ("onnxruntime", "jax", "scipy", "sklearn", "librosa")


def project_modules(repo: Path = REPO) -> dict[str, Path]:
    """{installed module name: source file} of every package pyproject.toml lists."""
    config = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = config["package-dir"]
    modules = {}
    for package in config["packages"]:
        folder = repo / folders.get(package, package.replace(".", "/"))
        for source in sorted(folder.glob("*.py")):
            name = package if source.stem == "__init__" else f"{package}.{source.stem}"
            modules[name] = source
    return modules


def imports_of(name: str, source: str, is_package: bool = False) -> list[tuple[str, int, bool]]:
    """[(imported module or ``module.attribute``, line, at module level)] of module ``name``.

    ``from a import b`` yields both ``a`` and ``a.b`` (b may be a module); relative imports are
    resolved against ``name``."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno, top) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((module, node.lineno, top))
            found.extend((f"{module}.{alias.name}", node.lineno, top) for alias in node.names)
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id == "__import__"))):
            found.append((node.args[0].value, node.lineno, top))
        inner = top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(source), True)
    return found


def _within(module: str, prefixes) -> str | None:
    for prefix in prefixes:
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    return None


def violations(modules: dict[str, Path]) -> list[str]:
    """Every break of FORBIDDEN, REQUIRED and the module-level rule, as readable lines."""
    problems = []
    table = {name: imports_of(name, path.read_text(), path.stem == "__init__")
             for name, path in modules.items()}
    for name, found in table.items():
        rel = modules[name].relative_to(REPO) if REPO in modules[name].parents else modules[name]
        for package, banned in FORBIDDEN.items():
            if _within(name, [package]):
                for module, line, _ in found:
                    hit = _within(module, banned)
                    if hit:
                        problems.append(f"{rel}:{line}: {name} imports {module} "
                                        f"({package} may not import {hit})")
    for name, needed in REQUIRED.items():
        imported = {module for module, _, _ in table.get(name, [])}
        for module in needed:
            if module not in imported:
                problems.append(f"{name} does not import {module}")
    for name in table:
        if name.rsplit(".", 1)[-1] != "cli":
            continue
        seen, todo = set(), [name]
        while todo:  # the module-level closure through project modules
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            for module, line, top in table.get(current, []):
                if not top:
                    continue
                hit = _within(module, HEAVY_AT_MODULE_LEVEL)
                if hit:
                    problems.append(f"{name} loads {hit} at module level (through {current}, "
                                    f"line {line}): import it inside run_*")
                if module in table:
                    todo.append(module)
    return problems


def cycles(modules: dict[str, Path]) -> list[list[str]]:
    """Strongly connected groups (more than one module) of the project's import graph."""
    graph = {name: sorted({m for m, _, _ in imports_of(name, path.read_text(),
                                                        path.stem == "__init__")
                           if m in modules and m != name})
             for name, path in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in graph:
        if v not in index:
            connect(v)
    return groups


def test_every_listed_package_is_scanned():
    modules = project_modules()
    for package in (*FORBIDDEN, *PRODUCERS):
        assert package in modules, f"{package} is in the contract but not in pyproject.toml"
    assert len([m for m in modules if m.startswith("vae_synth.synth.")]) >= 10


def test_the_contract_holds():
    problems = violations(project_modules())
    assert not problems, "import contract broken:\n" + "\n".join(problems)


def test_no_import_cycles():
    found = cycles(project_modules())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(g) for g in found)


# ------------------------------------------------------------- the checker sees what it must


def _fake_project(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    modules = {}
    for name, text in files.items():
        path = tmp_path / (name.replace(".", "_") + ".py")
        path.write_text(text)
        modules[name] = path
    return modules


LAZY = """
import numpy as np

def run(path):
    import tensorflow as tf
    from vae_synth.export.bundle import export_run
    return tf, export_run
"""


def test_lazy_imports_inside_functions_count(tmp_path):
    found = imports_of("vae_synth.synth.sneaky", LAZY)
    assert ("tensorflow", 5, False) in found and ("vae_synth.export.bundle", 6, False) in found
    problems = violations(_fake_project(tmp_path, {"vae_synth.synth.sneaky": LAZY}))
    assert any("imports tensorflow" in p for p in problems)
    assert any("imports vae_synth.export.bundle" in p for p in problems)
    # onnxruntime is the player's: not mistaken for onnx
    assert not violations(_fake_project(tmp_path, {
        "vae_synth.synth.fine": "def f():\n    import onnxruntime\n",
        "vae_synth.export.bundle": "from vae_synth.synth.preset import load_preset\n"}))


def test_relative_dynamic_and_module_level_imports(tmp_path):
    found = {m for m, _, _ in imports_of("vae_synth.synth.a", "from . import preset\n"
                                         "from ..train import run\n"
                                         "import importlib\nimportlib.import_module('keras')\n")}
    assert {"vae_synth.synth.preset", "vae_synth.train.run", "keras"} <= found
    heavy_cli = _fake_project(tmp_path, {
        "vae_synth.export.cli": "from vae_synth.export import helper\n",
        "vae_synth.export.helper": "import onnx\n",
        "vae_synth.export.bundle": "from vae_synth.synth.preset import Preset\n"})
    assert any("loads onnx at module level (through vae_synth.export.helper" in p
               for p in violations(heavy_cli))


def test_a_cycle_through_a_lazy_import_is_found(tmp_path):
    modules = _fake_project(tmp_path, {
        "vae_synth.synth.live": "def play():\n    from vae_synth.synth.cli import load\n",
        "vae_synth.synth.cli": "def run():\n    from vae_synth.synth.live import play\n",
        "vae_synth.synth.other": "import vae_synth.synth.live\n"})
    assert cycles(modules) == [["vae_synth.synth.cli", "vae_synth.synth.live"]]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_forbidden_packages_name_real_modules_or_libraries(package):
    # a typo in the contract would silently forbid nothing
    modules = project_modules()
    for banned in FORBIDDEN[package]:
        assert banned in HEAVY or banned in modules, banned
