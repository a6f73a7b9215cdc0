"""gluon_wgan.numpy_aliases: numpy's removed aliases are back when MXNet loads, and only then."""
import subprocess
import sys
import types

from gluon_wgan.numpy_aliases import REMOVED, restore


def test_restore_adds_only_the_missing_aliases():
    fake = types.ModuleType("numpy")
    fake.int = "numpy's own"
    assert restore(fake) == [name for name in REMOVED if name != "int"]
    assert fake.bool is bool and fake.float is float and fake.int == "numpy's own"


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_loading_mxnet_restores_them_and_looking_it_up_does_not():
    """As on numpy >= 1.24 (Python 3.12+): the aliases are gone until `import mxnet` loads it."""
    result = _run(
        "import importlib.util, sys, gluon_wgan\n"
        "assert importlib.util.find_spec('mxnet') is not None and 'numpy' not in sys.modules\n"
        "import numpy\n"
        "for name in ('bool', 'int', 'float', 'complex', 'object', 'str'):\n"
        "    numpy.__dict__.pop(name, None)\n"     # numpy 1.23 still has some of them
        "import mxnet\n"
        "print(numpy.bool is bool, numpy.int is int, numpy.float is float)\n"
        "print(any(type(f).__name__ == '_BeforeMXNet' for f in sys.meta_path))\n")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "True", "True", "False"]
