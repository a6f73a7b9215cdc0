"""The package's dependency direction (docs/architecture.md): utils, cuda <- the library (models,
losses, optim, penalty, data, metrics, plots <- training) <- cli and tools <- scripts. Never upward:
the library imports neither cli nor tools, models and data never import each other, and config reads
only the components' lists of choices, which import nothing (so --help never loads MXNet)."""
import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gluon_wgan")

# What each component (a top-level module or package, or one module of it where they differ) may
# import besides itself. An entry names a component ("data") or one of its modules ("data.choices").
ALLOWED = {
    # The bottom: the standard library (context also loads the CUDA libraries before MXNet).
    "cuda": set(), "utils": set(), "utils.context": {"cuda"},
    "utils.cpu": set(),   # threads asks it for AMX before MXNet loads: the standard library only
    # The options: only the lists of choices, bounds and defaults where their components define them,
    # modules that import nothing (test_choices_import_nothing); nothing of the library or training.
    "config": {"data.choices", "models.choices", "optim.choices", "training.choices", "objectives",
               "utils.threads", "utils.cpu"},
    # The library.
    "objectives": set(),
    "compat": set(), "numpy_aliases": set(), "native": {"utils"}, "losses": set(),
    "optim": {"optim", "compat", "utils"},
    "models": {"native", "utils", "compat"},
    "transposes": {"models.layers", "models.precision", "native", "compat"},
    "op_transposes": {"transposes", "models.precision", "native", "compat"},
    "graph_transpose": {"op_transposes", "compat"},
    "penalty": {"models", "transposes", "graph_transpose", "native", "compat", "objectives"},
    "data": {"compat", "utils"},
    "metrics": {"utils"},
    # The FID Inception extractor, one concern per module (metrics/fid_inception.py says which).
    "metrics.fid_network": set(), "metrics.torch_reader": set(), "metrics.fid_weights": {"utils"},
    "metrics.fid_inception": set(),
    "plots": {"utils"},
    "training": {"config", "objectives", "compat", "native", "models", "losses", "optim", "penalty", "data",
                 "metrics", "plots", "utils"},
    # The loop's policies, each in its own module: none reaches the networks, the data or the metrics.
    "training.errors": set(),
    "training.resume": {"config", "utils"},
    "training.provenance": {"config", "native", "utils"},
    "training.periodic_eval": set(),
    # The command lines: training's, generated from config, and the tools' back ends.
    "cli": {"config", "data", "utils"},
    "tools": set(),
    "tools.doctor": {"cuda", "config", "models", "losses", "penalty", "native", "training", "utils"},
    "tools.launch": {"utils"},
    "tools.resize_compare": {"data"},
    "tools.resize_report": {"data", "utils"},
    "tools.runs": {"plots", "training.runlog", "utils"},
    "tools.toy": {"data.choices", "models.choices", "training.choices", "utils"},
}
CHOICES = ["data/choices.py", "models/choices.py", "optim/choices.py", "training/choices.py", "objectives.py"]


def _modules():
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, PACKAGE)[:-3].split(os.sep)
                if rel != ["__init__"]:
                    yield rel, path


def _imported(rel, path):
    """The gluon_wgan modules (dotted, without 'gluon_wgan.') that the module at `rel` imports."""
    tree = ast.parse(open(path).read())
    package = rel[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)]
            if node.module:
                yield ".".join(base + node.module.split("."))
            else:   # "from .. import native, plots"
                yield from (".".join(base + [alias.name]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "gluon_wgan":
            parts = node.module.split(".")[1:]
            yield from ([".".join(parts)] if parts else [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "gluon_wgan" and len(parts) > 1:
                    yield ".".join(parts[1:])


def _within(module, entry):
    return module == entry or module.startswith(entry + ".")


@pytest.mark.parametrize("rel,path", list(_modules()), ids=lambda v: "/".join(v) if isinstance(v, list) else "")
def test_imports_follow_the_layering(rel, path):
    key = ".".join(rel[:2]) if ".".join(rel[:2]) in ALLOWED else rel[0]
    assert key in ALLOWED, f"{key} is not in the layering table: add it with its allowed imports"
    for imported in _imported(rel, path):
        assert _within(imported, rel[0]) or any(_within(imported, entry) for entry in ALLOWED[key]), \
            f"gluon_wgan/{'/'.join(rel)}.py imports {imported}, outside its layer"


def test_the_library_imports_no_command_line():
    for rel, path in _modules():
        if rel[0] not in ("cli", "tools"):
            for imported in _imported(rel, path):
                assert not _within(imported, "cli") and not _within(imported, "tools"), (rel, imported)


@pytest.mark.parametrize("name", CHOICES)
def test_choices_import_nothing(name):
    """config reads them at import, and `train_wgan.py --help` must not load numpy or MXNet."""
    tree = ast.parse(open(os.path.join(PACKAGE, name)).read())
    assert not [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def test_the_torch_reader_imports_only_the_standard_library_and_numpy():
    """The security boundary reads in one sitting: nothing of the package, no MXNet, never torch."""
    tree = ast.parse(open(os.path.join(PACKAGE, "metrics", "torch_reader.py")).read())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {(node.module or "").split(".")[0] if not node.level else "." for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert imported == {"collections", "io", "os", "pickle", "struct", "zipfile", "numpy"}


def test_library_never_exits_or_prints():
    """Only scripts and cli.py talk to the terminal (cli through argparse)."""
    for rel, path in _modules():
        tree = ast.parse(open(path).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert not (node.func.attr == "exit" and getattr(node.func.value, "id", "") == "sys"), path
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "print":
                assert rel == ["cli"], f"print() in {path}"
