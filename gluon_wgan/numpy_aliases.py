"""numpy's removed type aliases, restored before MXNet loads: the one place that does it.

MXNet 1.9.1 (and gluoncv, mxboard) use ``np.bool`` and ``np.int``, ``np.float``: aliases of Python's
types that numpy 1.20 deprecated and 1.24 removed. numpy 1.23.5, the last with them, has no wheel
for Python 3.12 or newer, where requirements.txt installs numpy 1.26.4; there ``import mxnet`` fails
with ``AttributeError: module 'numpy' has no attribute 'bool'`` unless the aliases are put back
first. (MXNet also imports ``distutils``, which left the standard library in Python 3.12:
requirements.txt installs setuptools there, which provides it.)

`restore_before_mxnet()` runs when ``gluon_wgan`` is imported (its ``__init__``), so every script,
test and module of the package passes through it before any ``import mxnet``. It imports neither
numpy nor MXNet itself (``train_wgan.py --help`` stays quick): it registers an import hook that, on
the first ``import mxnet`` (not a mere look-up of where it is), adds the missing aliases to numpy and
steps aside. Each alias is the
builtin type it named before numpy removed it, so code that used it computes what it did on numpy
1.23; names numpy still has are left alone. Code that imports MXNet without importing gluon_wgan
first gets no aliases.
"""
import importlib.abc
import sys

# The aliases numpy 1.24 removed, each the builtin it stood for (numpy 1.20 release notes).
REMOVED = {"bool": bool, "int": int, "float": float, "complex": complex, "object": object, "str": str}


def restore(np):
    """Add to the numpy module `np` each alias in REMOVED that it lacks; returns the names added."""
    added = [name for name in REMOVED if name not in vars(np)]
    for name in added:
        setattr(np, name, REMOVED[name])
    return added


class _BeforeMXNet(importlib.abc.MetaPathFinder):
    """Finds ``mxnet`` as the other finders do, with a loader that restores the aliases first.

    Only loading restores them: ``importlib.util.find_spec("mxnet")`` (cuda/ locates the wheel that
    way) imports nothing.
    """

    def find_spec(self, name, path=None, target=None):
        if name != "mxnet":
            return None
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(name, path, target)
                if spec is not None and spec.loader is not None:
                    spec.loader = _RestoringLoader(spec.loader)
                    return spec
        return None


class _RestoringLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        _remove_hook()
        import numpy
        restore(numpy)
        module.__loader__ = module.__spec__.loader = self.loader
        self.loader.exec_module(module)


def _remove_hook():
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _BeforeMXNet)]


def restore_before_mxnet():
    """Make the first ``import mxnet`` find numpy's removed aliases; nothing to do once MXNet is loaded."""
    if "mxnet" in sys.modules:
        return
    if not any(isinstance(finder, _BeforeMXNet) for finder in sys.meta_path):
        sys.meta_path.insert(0, _BeforeMXNet())
