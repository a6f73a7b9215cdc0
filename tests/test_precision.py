"""bfloat16 compute (`models.precision`, --dtype bfloat16): the layers, the penalty's transposes in
bfloat16, training, resume, and the refusals.

The layer oracle is exact: with inputs, weights and output gradients that bfloat16 represents
exactly and are positive, each product is exact in float32 and the float32 sums add no
cancellation, so a bfloat16 layer may differ from its float32 self only by the one rounding of each
result to bfloat16, a relative 2^-8 (8 significand bits), per element.
"""
import json
import os
import subprocess
import sys
from dataclasses import replace

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, nd

from gluon_wgan import graph_transpose, penalty, transposes
from gluon_wgan.config import TrainConfig
from gluon_wgan.models import CIFARResNetCritic, DCGANCritic, DCGANGenerator, MLPCritic, precision
from gluon_wgan.models.precision import BFLOAT16, set_compute_dtype
from gluon_wgan.training.loop import train
from gluon_wgan.utils.cpu import bfloat16_problem

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDING = 2.0 ** -8            # bfloat16's unit roundoff
SUMS = 2.0 ** -14               # float32 sums of a few hundred exact products, all positive

needs_bfloat16 = pytest.mark.skipif(bool(bfloat16_problem()), reason="this CPU has no bfloat16 instructions")


def bfloat16_values(shape, seed):
    """Positive values in [0.5, 1.5) that bfloat16 represents exactly, as float32."""
    x = np.random.RandomState(seed).uniform(0.5, 1.5, size=shape).astype(np.float32)
    return nd.amp_cast(nd.amp_cast(nd.array(x), dtype=BFLOAT16), dtype="float32")


LAYERS = {
    "conv": (lambda: precision.Conv2D(16, 4, 2, 1, in_channels=8, use_bias=True), (4, 8, 8, 8)),
    "deconv": (lambda: precision.Conv2DTranspose(8, 4, 2, 1, in_channels=16, use_bias=False), (4, 16, 4, 4)),
    "deconv-4x4-from-1x1": (lambda: precision.Conv2DTranspose(32, 4, 1, 0, in_channels=16, use_bias=False),
                            (4, 16, 1, 1)),
    "deconv-bias-output-padding": (lambda: precision.Conv2DTranspose(3, 5, 2, 2, output_padding=1,
                                                                     in_channels=16, use_bias=True), (4, 16, 4, 4)),
    "dense": (lambda: precision.Dense(32, in_units=24), (4, 24)),
}


def layer_and_grads(name, dtype, hybridize):
    make, shape = LAYERS[name]
    layer = make()
    layer.initialize()
    for i, param in enumerate(layer.collect_params().values()):
        param.set_data(bfloat16_values(param.shape, seed=10 + i))
    set_compute_dtype(layer, dtype)
    if hybridize:
        layer.hybridize(static_alloc=True, static_shape=True)
    x = bfloat16_values(shape, seed=1)
    x.attach_grad()
    with autograd.record():
        y = layer(x)
    y.backward(bfloat16_values(y.shape, seed=2))
    grads = [x.grad] + [p.grad() for p in layer.collect_params().values()]
    return layer, y, [g.asnumpy() for g in grads]


@needs_bfloat16
@pytest.mark.parametrize("hybridize", [False, True], ids=["imperative", "hybridized"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_a_bfloat16_layer_is_its_float32_self_up_to_one_rounding(name, hybridize):
    _, want, want_grads = layer_and_grads(name, "float32", hybridize)
    layer, got, got_grads = layer_and_grads(name, "bfloat16", hybridize)
    assert got.dtype == np.float32 and all(np.dtype(p.dtype) == np.float32 for p in layer.collect_params().values())
    pairs = [("output", got.asnumpy(), want.asnumpy())] + list(zip(["data grad", "weight grad", "bias grad"],
                                                                   got_grads, want_grads))
    for what, a, b in pairs:
        np.testing.assert_allclose(a, b, rtol=ROUNDING + SUMS, atol=0, err_msg=what)
    # Not float32 in disguise: the rounding shows, forward and backward (but in a transposed
    # convolution's bias, which is added in float32).
    for what, a, b in pairs[:3]:
        assert np.max(np.abs(a / b - 1)) > 2.0 ** -12, what


@needs_bfloat16
@pytest.mark.parametrize("data_req,weight_req", [("add", "add"), ("null", "write"), ("write", "null")])
def test_the_transposed_convolution_honours_each_gradient_request(data_req, weight_req):
    """grad_req 'add' accumulates, 'null' leaves the gradient alone, for its data and its weight."""
    layer, _, once = layer_and_grads("deconv", "bfloat16", hybridize=True)
    layer.weight.grad_req = weight_req
    x = bfloat16_values(LAYERS["deconv"][1], seed=1)
    x.attach_grad(grad_req=data_req)
    if weight_req == "add":
        layer.weight.zero_grad()
    for _ in range(2):
        with autograd.record():
            y = layer(x)
        y.backward(bfloat16_values(y.shape, seed=2))
    times = 2 if data_req == "add" else 1
    if data_req != "null":
        np.testing.assert_array_equal(x.grad.asnumpy(), times * once[0])
    if weight_req != "null":
        np.testing.assert_array_equal(layer.weight.grad().asnumpy(), (2 if weight_req == "add" else 1) * once[1])


@needs_bfloat16
def test_set_compute_dtype_counts_layers_keeps_float32_parameters_and_checkpoints(tmp_path):
    generator = DCGANGenerator(32, nz=8, ngf=8)
    assert set_compute_dtype(generator, "bfloat16") == 4      # 4x4, 8x8, 16x16 and the 32x32 output
    generator.initialize()
    generator(nd.zeros((2, 8)))
    assert {np.dtype(p.dtype) for p in generator.collect_params().values()} == {np.dtype(np.float32)}
    plain = DCGANGenerator(32, nz=8, ngf=8)
    plain.initialize(mx.init.Uniform())
    # The same names: a bfloat16 network's parameters load into a float32 one, and back.
    for source, target in ((generator, plain), (plain, generator)):
        source.save_parameters(str(tmp_path / "g.params"))
        target.load_parameters(str(tmp_path / "g.params"))
        for a, b in zip(source.collect_params().values(), target.collect_params().values()):
            np.testing.assert_array_equal(a.data().asnumpy(), b.data().asnumpy())


@needs_bfloat16
def test_set_compute_dtype_refuses_what_it_cannot_compute():
    with pytest.raises(ValueError, match="compute dtype must be one of float32, bfloat16, got 'float16'"):
        set_compute_dtype(DCGANCritic(16, ndf=8), "float16")
    grouped = precision.Conv2DTranspose(8, 4, 2, 1, groups=2, in_channels=8, prefix="grouped_")
    with pytest.raises(ValueError, match="grouped: only NCHW, ungrouped, undilated transposed"):
        set_compute_dtype(grouped, "bfloat16")
    assert grouped.compute_dtype == "float32"


def test_set_compute_dtype_refuses_bfloat16_on_a_cpu_without_it(monkeypatch):
    monkeypatch.setattr(precision, "bfloat16_problem", lambda: "--dtype bfloat16 needs a CPU with bfloat16")
    with pytest.raises(ValueError, match="needs a CPU with bfloat16"):
        set_compute_dtype(DCGANCritic(16, ndf=8), "bfloat16")
    assert set_compute_dtype(DCGANCritic(16, ndf=8), "float32") == 3


# ------------------------------------------------------------------------ the penalty in bfloat16

CRITICS = {
    "dcgan-layer-norm": (lambda: DCGANCritic(16, ndf=16, norm="layer"), (8, 3, 16, 16)),
    "mlp": (lambda: MLPCritic((2,), hidden=64), (16, 2)),
    "cifar-resnet": (lambda: CIFARResNetCritic(dim=16), (4, 3, 32, 32)),
}


def penalty_grads(name, dtype, path):
    make, shape = CRITICS[name]
    mx.random.seed(0)
    critic = make()
    critic.initialize(mx.init.Normal(0.05))
    set_compute_dtype(critic, dtype)
    rng = np.random.RandomState(1)
    real, fake = (nd.array(rng.uniform(-1, 1, size=shape)) for _ in range(2))
    x = penalty.interpolate(real, fake, nd.array(rng.uniform(size=shape[0])))
    with autograd.record():
        grad = transposes.input_grad(critic, x) if path == "fused" else graph_transpose.input_gradient(critic, x)
        loss = ((grad.reshape((shape[0], -1)).norm(axis=1) - 1) ** 2).mean()
    loss.backward()
    return loss.asscalar(), [p.grad().asnumpy() for p in critic.collect_params().values()]


@needs_bfloat16
@pytest.mark.parametrize("name", ["dcgan-layer-norm", "mlp"])
def test_the_fused_and_the_graph_transposes_agree_in_bfloat16(name):
    """Two implementations of the bfloat16 penalty (the package critics' fused transposes, the
    general graph's rules reading the traced amp_casts) compute the same operators."""
    loss_f, grads_f = penalty_grads(name, "bfloat16", "fused")
    loss_g, grads_g = penalty_grads(name, "bfloat16", "graph")
    assert loss_g == pytest.approx(loss_f, rel=1e-6)
    for a, b in zip(grads_g, grads_f):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * np.abs(b).max())


@needs_bfloat16
@pytest.mark.parametrize("name", sorted(CRITICS))
def test_the_bfloat16_penalty_follows_the_float32_one(name):
    """bfloat16 rounding moves each parameter's gradient by a few percent; a gradient path lost in
    the casts would move it by 100%."""
    path = "graph" if name == "cifar-resnet" else "fused"
    loss32, grads32 = penalty_grads(name, "float32", path)
    loss16, grads16 = penalty_grads(name, "bfloat16", path)
    assert loss16 == pytest.approx(loss32, rel=1e-2)
    errors = []
    for a, b in zip(grads16, grads32):
        if not b.any():          # the last layer's bias: the input gradient does not depend on it
            assert not a.any()
            continue
        errors.append(np.linalg.norm(a - b) / np.linalg.norm(b))
    assert max(errors) < 0.15, errors
    assert min(errors) > 0, "bfloat16 computed nothing in bfloat16"


@needs_bfloat16
def test_the_penalty_follows_a_change_of_compute_dtype():
    """The general path traces a critic once; a later set_compute_dtype must reach it, both ways."""
    make, shape = CRITICS["mlp"]
    critic = make()
    critic.initialize(mx.init.Normal(0.05))
    x = nd.array(np.random.RandomState(1).uniform(-1, 1, size=shape))
    grads = []
    for dtype in ("float32", "bfloat16", "float32"):
        set_compute_dtype(critic, dtype)
        grads.append(graph_transpose.input_gradient(critic, x).asnumpy())
    assert not np.array_equal(grads[1], grads[0])
    np.testing.assert_array_equal(grads[2], grads[0])


# ------------------------------------------------------------------------ training and resume

@needs_bfloat16
@pytest.mark.parametrize("method", ["wgan", "wgan-gp"])
def test_a_bfloat16_run_resumes_exactly(tiny_cfg, tmp_path, method):
    """Train 4, resume to 8 == train 8, in bfloat16 as in float32 (test_train.py)."""
    options = dict(dtype="bfloat16", method=method)
    if method == "wgan-gp":
        options.update(critic_norm="layer", warmup_iters=0, burst_every=0)
    full = tiny_cfg(gen_iters=8, outdir=str(tmp_path / "full"), **options)
    train(full, progress=False)
    part = tiny_cfg(gen_iters=4, outdir=str(tmp_path / "part"), **options)
    train(part, progress=False)
    train(replace(part, gen_iters=8), progress=False)
    a, b = ([json.loads(line) for line in open(os.path.join(c.outdir, "metrics.jsonl"))] for c in (full, part))
    for key in ("loss_d", "loss_g"):
        assert [r[key] for r in b] == [r[key] for r in a], key
    for name in ("generator.params", "critic.params"):
        pa, pb = (mx.nd.load(os.path.join(c.outdir, "checkpoints", "latest", name)) for c in (full, part))
        for k in pa:
            np.testing.assert_array_equal(pb[k].asnumpy(), pa[k].asnumpy(), err_msg=k)


@needs_bfloat16
def test_a_bfloat16_run_starts_within_rounding_of_float32(tiny_cfg, tmp_path):
    runs = {}
    for dtype in ("float32", "bfloat16"):
        cfg = tiny_cfg(gen_iters=2, outdir=str(tmp_path / dtype), dtype=dtype, method="wgan-gp",
                       critic_norm="layer", warmup_iters=0, burst_every=0)
        train(cfg, progress=False)
        runs[dtype] = [json.loads(line) for line in open(os.path.join(cfg.outdir, "metrics.jsonl"))]
    first32, first16 = runs["float32"][0], runs["bfloat16"][0]
    assert first16["loss_d"] != first32["loss_d"]
    assert first16["loss_d"] == pytest.approx(first32["loss_d"], rel=0.05)


def train_cli(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train_wgan.py"), *args],
                          capture_output=True, text=True, cwd=ROOT)


@needs_bfloat16
def test_the_command_line_trains_in_bfloat16_and_records_it(tmp_path):
    out = tmp_path / "run"
    result = train_cli("--image-size", "16", "--ngf", "8", "--ndf", "8", "--nz", "8", "--batch-size", "8",
                       "--method", "wgan-gp", "--gen-iters", "2", "--d-iters", "2", "--dtype", "bfloat16",
                       "--threads", "1", "--outdir", str(out))
    assert result.returncode == 0, result.stderr
    header = result.stdout + result.stderr
    assert "convolutions and dense layers in bfloat16, parameters float32" in header
    assert json.load(open(out / "config.json"))["dtype"] == "bfloat16"


def test_bfloat16_on_a_gpu_is_refused_in_one_line(tmp_path):
    result = train_cli("--dtype", "bfloat16", "--ctx", "gpu(0)", "--outdir", str(tmp_path / "run"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(
        "--dtype bfloat16 runs on CPUs only (MXNet 1.9.1's bfloat16 operators are oneDNN's), got --ctx gpu(0); "
        "use --dtype float32 on a GPU")
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_bfloat16_on_a_cpu_without_it_is_refused(monkeypatch):
    import gluon_wgan.config as config
    monkeypatch.setattr(config, "bfloat16_problem", lambda: "--dtype bfloat16 needs a CPU with bfloat16")
    assert list(TrainConfig(dtype="bfloat16").problems()) == ["--dtype bfloat16 needs a CPU with bfloat16"]
    assert list(TrainConfig(dtype="float32").problems()) == []


@needs_bfloat16
def test_the_toy_trains_in_bfloat16(tmp_path):
    from gluon_wgan.training import toy
    runs = [toy.train_toy("8gaussians", 2, hidden=16, batch_size=16, eval_every=1, eval_samples=40, dtype=dtype)
            for dtype in ("float32", "bfloat16")]
    assert [layer.compute_dtype for layer in runs[1]["critic"].body if hasattr(layer, "compute_dtype")] == \
        ["bfloat16"] * 4
    w1 = [[w for _, w in run["w1_curve"]] for run in runs]
    assert w1[1] != w1[0] and np.allclose(w1[1], w1[0], rtol=0.05)
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "reproduce_toy.py"), "--gen-iters", "3",
                             "--hidden", "32", "--batch-size", "32", "--eval-samples", "50", "--dtype", "bfloat16",
                             "--no-progress", "--outdir", str(tmp_path / "toy")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.load(open(tmp_path / "toy" / "summary.json"))["dtype"] == "bfloat16"
