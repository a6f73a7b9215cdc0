"""The package's dependency direction: config/files/context <- models, losses, optim, data, metrics,
plots <- penalty, resize_report, training <- cli <- scripts. Never upward, and models and data never
import each other (see STYLE.md, 6.1)."""
import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gluon_wgan")

ALLOWED = {
    "config": set(), "files": set(), "context": {"cuda"}, "cuda": set(), "losses": set(), "optim": {"compat"},
    "metrics": {"metrics", "files"},
    "models": {"models", "native"}, "native": set(),
    "data": {"data", "files", "compat"},
    "plots": {"files"},
    "penalty": {"models", "transposes", "compat"},
    "transposes": {"models", "native", "compat"},
    "compat": set(),
    "resize_report": {"data", "plots", "files"},
    "training": {"training", "compat", "config", "context", "files", "models", "losses", "optim", "data", "metrics",
                 "plots", "penalty", "distributed", "signals", "native"},
    "oneline": set(), "signals": set(), "threads": set(),
    "cli": {"config", "context", "files", "data", "models", "oneline", "threads"},
    "runs": {"plots", "files"},
    "distributed": {"compat", "files", "signals", "threads"},
    "doctor": {"cuda", "context", "config", "models", "losses", "penalty", "native", "training", "oneline",
               "threads"},
}


def _modules():
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, PACKAGE)[:-3].split(os.sep)
                if rel != ["__init__"]:
                    yield rel, path


def _imported_components(rel, path):
    """Top-level gluon_wgan components that the module at `rel` imports."""
    tree = ast.parse(open(path).read())
    package = rel[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
                target = base + (node.module.split(".") if node.module else [])
                if not target:  # "from .. import plots"
                    yield from (alias.name.split(".")[0] for alias in node.names)
                else:
                    yield target[0]
            elif node.module and node.module.split(".")[0] == "gluon_wgan":
                parts = node.module.split(".")
                yield from ([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "gluon_wgan" and len(parts) > 1:
                    yield parts[1]


@pytest.mark.parametrize("rel,path", list(_modules()), ids=lambda v: "/".join(v) if isinstance(v, list) else "")
def test_imports_follow_the_layering(rel, path):
    component = rel[0]
    assert component in ALLOWED, f"{component} is not in the layering table: add it with its allowed imports"
    for imported in _imported_components(rel, path):
        assert imported == component or imported in ALLOWED[component], \
            f"gluon_wgan/{'/'.join(rel)}.py imports {imported}, outside its layer"


def test_library_never_exits_or_prints():
    """Only scripts and cli.py talk to the terminal (cli through argparse)."""
    for rel, path in _modules():
        tree = ast.parse(open(path).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert not (node.func.attr == "exit" and getattr(node.func.value, "id", "") == "sys"), path
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "print":
                assert rel == ["cli"], f"print() in {path}"
