import functools
import hashlib
import importlib.util
import json
import os

import gluon_wgan  # noqa: F401  (first: numpy's aliases back before MXNet loads, gluon_wgan/numpy_aliases.py)
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, nd
from PIL import Image

from gluon_wgan.config import resolve
from gluon_wgan.models import CIFARCritic, DCGANCritic, DCGANInit, MLPCritic


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
    else DCGAN), with the random parameters of `randomize`."""
    if "in_shape" in spec:
        critic = MLPCritic(**spec)
    elif "dim" in spec:
        critic = CIFARCritic(**{k: v for k, v in spec.items() if k != "nc"})   # always 3 channels
    else:
        critic = DCGANCritic(**spec)
    return randomize(critic, dtype, seed, ctx)


def randomize(critic, dtype="float64", seed=0, ctx=None):
    """`critic` initialized on `ctx` in `dtype` with random parameters scaled so that ||grad D|| is
    of order 1 (the interesting regime for the penalty), normalization gains and shifts away from 1
    and 0."""
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


def central_difference(data, idx, f, step):
    """(f(x + step e_idx) - f(x - step e_idx)) / (2 step), perturbing the NDArray `data` in place at
    `idx` and putting the entry back: the oracle of the gradient tests."""
    saved = data[idx].asscalar()
    data[idx] = saved + step
    plus = f()
    data[idx] = saved - step
    minus = f()
    data[idx] = saved
    return (plus - minus) / (2 * step)


def assert_generator_gradient(g, image_size, weights_of, step, nz=3):
    """Initialize `g` in float64, hybridize it, and check the gradient of sum(G(z) * r) (BatchNorm
    on batch statistics) at the three largest-gradient entries of each of `weights_of(g)` against
    `central_difference` with `step`."""
    g.initialize(DCGANInit())
    g.cast("float64")
    g.hybridize()
    rng = np.random.RandomState(0)
    z = nd.array(rng.normal(size=(4, nz)), dtype="float64")
    r = nd.array(rng.normal(size=(4, 3, image_size, image_size)), dtype="float64")

    def objective():
        with autograd.train_mode():
            return (g(z) * r).sum().asscalar()
    with autograd.record():
        loss = (g(z) * r).sum()
    loss.backward()
    for weight in weights_of(g):
        grad = weight.grad().asnumpy()
        for flat in np.argsort(-np.abs(grad).ravel())[:3]:
            idx = np.unravel_index(flat, grad.shape)
            np.testing.assert_allclose(grad[idx], central_difference(weight.data(), idx, objective, step), rtol=1e-5,
                                       err_msg=weight.name)


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


# Tiny runs of scripts/train_wgan.py in this process, for the run-folder tests
# (tests/test_faults_run_folder.py, tests/test_faults_boundaries.py).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "train_wgan.py")
TINY = ["--image-size", "16", "--ngf", "8", "--ndf", "8", "--nz", "8", "--batch-size", "8", "--warmup-iters", "0",
        "--d-iters", "2", "--burst-every", "0", "--log-every", "1", "--sample-every", "2", "--checkpoint-every", "2",
        "--quiet"]


@functools.lru_cache(maxsize=None)
def _train_main():
    spec = importlib.util.spec_from_file_location("train_wgan_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def train(capsys, outdir, *extra, gen_iters=2):
    """(exit code, stderr) of `train_wgan.py` run in this process, as the shell would see them; a
    --resume takes the run's own options, as a user would."""
    capsys.readouterr()
    options = ["--quiet"] if "--resume" in extra else TINY
    try:
        code = _train_main()([*options, "--outdir", str(outdir), "--gen-iters", str(gen_iters), *extra])
    except SystemExit as stop:   # argparse's errors
        code = stop.code
    return code, capsys.readouterr().err


def one_line_error(err):
    """The one line of `err`, checked to be train_wgan.py's error line and no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train_wgan.py: error: "), err
    assert "Traceback" not in err
    return lines[0]


def snapshot(folder):
    """{relative path: sha256} of every file under `folder` but the lock file."""
    found = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(parent, name)
            if name != ".lock":
                found[os.path.relpath(path, folder)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return found


@pytest.fixture
def run(tmp_path, capsys):
    """A run folder that trained 2 generator iterations and checkpointed there."""
    outdir = tmp_path / "run"
    code, err = train(capsys, outdir)
    assert code == 0, err
    return outdir


# Run folders as training/loop.py lays them out, for tests/test_runs.py and tests/test_plot_runs.py.
def make_run(folder, w_values, sample_iters=(), config=None, extra_lines=()):
    """A run folder: metrics.jsonl with the given w_estimates, config.json, one grey grid per sample_iter."""
    os.makedirs(os.path.join(folder, "samples"), exist_ok=True)
    with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
        for i, w in enumerate(w_values, 1):   # gen_iter 1..N
            f.write(json.dumps(dict(gen_iter=i, critic_iters=5, loss_d=-w, loss_g=0.1, w_estimate=w,
                                    seconds=float(i))) + "\n")
        for line in extra_lines:
            f.write(line + "\n")
    if config is not None:
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(config, f)
    Image.new("RGB", (20, 20), (0, 0, 255)).save(os.path.join(folder, "samples", "real.png"))
    for gen_iter in sample_iters:
        shade = (gen_iter * 37) % 256
        Image.new("RGB", (20, 20), (shade, shade, shade)).save(
            os.path.join(folder, "samples", f"{gen_iter:07d}.png"))
    return str(folder)
