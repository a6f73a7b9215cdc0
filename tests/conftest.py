import gluon_wgan  # noqa: F401  (first: numpy's aliases back before MXNet loads, gluon_wgan/numpy_aliases.py)
import mxnet as mx
import pytest

from gluon_wgan.config import resolve


@pytest.fixture
def ctx():
    return mx.cpu()


@pytest.fixture
def run_dir(tmp_path):
    return str(tmp_path / "run")


@pytest.fixture
def tiny_cfg(run_dir):
    """A WGAN run small enough for a test: 16x16 images, 8-filter networks, short bursts."""
    def make(**overrides):
        options = dict(image_size=16, ngf=8, ndf=8, nz=8, batch_size=8, gen_iters=6, d_iters=2,
                       warmup_iters=2, burst_d_iters=3, burst_every=4, sample_every=3,
                       checkpoint_every=3, log_every=2, outdir=run_dir, seed=3)
        options.update(overrides)
        return resolve(options)
    return make
