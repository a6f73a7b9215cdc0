import gluon_wgan  # noqa: F401  (first: numpy's aliases back before MXNet loads, gluon_wgan/numpy_aliases.py)
import mxnet as mx
import numpy as np
import pytest
from mxnet import nd

from gluon_wgan.config import resolve
from gluon_wgan.models import CIFARCritic, DCGANCritic, MLPCritic


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


# The penalty's oracles (tests/test_penalty.py, tests/test_penalty_contract.py) build their critics
# and batches alike; each module keeps its own table of critic specs and its own tolerances. Test
# modules import these helpers (``from conftest import make_critic``), never each other.

def make_critic(spec, dtype="float64", seed=0, ctx=None):
    """The critic that `spec` describes (MLP if it has ``in_shape``, the CIFAR-10 critic if ``dim``,
    else DCGAN) with random parameters scaled so that ||grad D|| is of order 1 (the interesting
    regime for the penalty), normalization gains and shifts away from 1 and 0."""
    if "in_shape" in spec:
        critic = MLPCritic(**spec)
    elif "dim" in spec:
        critic = CIFARCritic(**{k: v for k, v in spec.items() if k != "nc"})   # always 3 channels
    else:
        critic = DCGANCritic(**spec)
    critic.initialize(mx.init.Zero(), ctx=ctx)
    critic.cast(dtype)
    rng = np.random.RandomState(seed)
    for name, param in sorted(critic.collect_params().items()):
        if name.endswith("weight"):
            value = rng.normal(0, 1.4 / np.sqrt(np.prod(param.shape[1:])), param.shape)
        elif name.endswith("gamma"):
            value = 1 + 0.3 * rng.normal(size=param.shape)
        else:
            value = 0.3 * rng.normal(size=param.shape)
        param.set_data(nd.array(value, dtype=dtype))
    return critic


def input_shape(spec, n):
    """The shape of a batch of `n` inputs of the critic `spec` describes."""
    if "in_shape" in spec:
        return (n,) + tuple(spec["in_shape"])
    return (n, spec["nc"], spec["image_size"], spec["image_size"])


def batch(spec, n, dtype="float64", seed=1, ctx=None):
    """(real, fake, alpha): two standard-normal batches of `n` inputs and one U[0, 1) alpha per sample."""
    rng = np.random.RandomState(seed)
    shape = input_shape(spec, n)
    real, fake = (nd.array(rng.normal(size=shape), dtype=dtype, ctx=ctx) for _ in range(2))
    alpha = nd.array(rng.uniform(size=n), dtype=dtype, ctx=ctx)
    return real, fake, alpha
