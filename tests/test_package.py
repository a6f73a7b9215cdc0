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
