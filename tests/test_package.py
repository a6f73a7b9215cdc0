"""The top-level package: cheap to import, re-exports the main entry points."""
import subprocess
import sys

import gluon_wgan


def test_import_does_not_load_mxnet():
    code = "import sys, gluon_wgan; print('mxnet' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_reexports_are_the_real_objects():
    from gluon_wgan.config import TrainConfig
    from gluon_wgan.models import get_model
    from gluon_wgan.penalty import gradient_penalty
    from gluon_wgan.training.loop import train
    assert gluon_wgan.TrainConfig is TrainConfig
    assert gluon_wgan.get_model is get_model
    assert gluon_wgan.gradient_penalty is gradient_penalty
    assert gluon_wgan.train is train


def test_dir_lists_what_the_package_holds_and_can_load():
    """The lazy packages' dir() (REPL completion) keeps their own names beside the lazy ones."""
    import gluon_wgan
    import gluon_wgan.config  # noqa: F401  (a submodule, once imported, is an attribute)
    import gluon_wgan.models
    names = dir(gluon_wgan)
    assert {"__version__", "config", "train", "gradient_penalty"} <= set(names) and names == sorted(names)
    assert {"CIFARCritic", "get_model", "choices"} <= set(dir(gluon_wgan.models))
