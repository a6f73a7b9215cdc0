"""Package attributes imported on first use (PEP 562).

A package whose modules load MXNet (`data`, `models`, `optim`) re-exports its names this way, so that
importing one of its light modules (its `choices`, which the config and the command lines read) or
the package itself does not load MXNet.
"""
import importlib
import sys


def lazy_exports(package, exports):
    """`__getattr__` and `__dir__` for the module called `package` (its ``__name__``).

    `exports` maps each re-exported name to the module that defines it, relative to `package`
    (``".stream"``) or absolute (``"gluon_wgan.models"``).
    """
    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name], package), name)

    def __dir__():
        # What the module holds now (its submodules once imported, __version__ ...) and what it can load.
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
