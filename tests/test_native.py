"""The fused layer-norm kernels (gluon_wgan/native) against the plain-operator path and numpy.

The plain path is built from MXNet operators whose gradients autograd computes, and the penalty's
finite-difference tests pass on it (tests/test_penalty.py runs them on both paths), so equality to
it to rounding checks every hand-written backward of the kernels.
"""
import contextlib
import os
import subprocess
import sys
import textwrap

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, nd

from gluon_wgan import native, transposes
from gluon_wgan.models.layers import ChannelLayerNorm

needs_kernels = pytest.mark.skipif(not native.available(), reason="fused kernels not built here")

SHAPE = (3, 4, 5, 5)


def _plain(shape, dtype, epsilon, with_deriv):
    """The penalty's plain-operator forward and transpose graphs for this shape."""
    key = (shape, np.dtype(dtype).str, mx.cpu())
    return (transposes._hybridized(transposes._LayerNormForward, shape[1], epsilon, *key),
            transposes._hybridized(transposes._LayerNormTranspose, shape[1], with_deriv, *key))


def _outputs_and_grads(fused, dtype, with_deriv, seed=0):
    """Forward outputs and the gradients of every input of a loss reading every output."""
    rng = np.random.RandomState(seed)
    n, c = SHAPE[:2]
    arrays = [rng.normal(size=SHAPE) * 2 + 0.5, 1 + 0.3 * rng.normal(size=c), 0.3 * rng.normal(size=c),
              rng.normal(size=SHAPE), rng.uniform(0.2, 1, size=SHAPE)]
    x, gamma, beta, g, deriv = inputs = [nd.array(a, dtype=dtype) for a in arrays]
    heads = [nd.array(rng.normal(size=s), dtype=dtype) for s in (SHAPE, SHAPE, (n, 1), SHAPE)]
    for a in inputs:
        a.attach_grad()
    extra = (deriv,) if with_deriv else ()
    with autograd.record():
        if fused:
            out, normed, inv_std = nd.gluon_wgan_layer_norm(x, gamma, beta, eps=1e-5)
            dx = nd.gluon_wgan_ln_transpose(g, gamma, normed, inv_std, *extra, with_deriv=with_deriv)
        else:
            forward, transpose = _plain(SHAPE, dtype, 1e-5, with_deriv)
            out, normed, inv_std = forward(x, gamma, beta)
            dx = transpose(g, gamma, normed, inv_std, *extra)
            normed = normed.reshape(SHAPE)
        outputs = [out, normed, inv_std, dx]
        loss = nd.add_n(*[(o * h).sum() for o, h in zip(outputs, heads)])
    loss.backward()
    grads = [a.grad for a in inputs[:4]] + ([deriv.grad] if with_deriv else [])
    return [a.asnumpy() for a in outputs + grads]


@needs_kernels
@pytest.mark.parametrize("with_deriv", [False, True])
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 2e-5)])
def test_fused_kernels_equal_the_plain_operators(dtype, rtol, with_deriv):
    names = ["out", "normed", "inv_std", "dx", "grad x", "grad gamma", "grad beta", "grad g",
             "grad deriv"]
    fused = _outputs_and_grads(True, dtype, with_deriv)
    plain = _outputs_and_grads(False, dtype, with_deriv)
    for name, a, b in zip(names, fused, plain):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max(), err_msg=name)


@needs_kernels
def test_fused_forward_equals_numpy_on_a_convolution_output():
    """float32 from a Convolution, in MKL-DNN's blocked layout: the kernel must read it converted."""
    rng = np.random.RandomState(3)
    x = nd.array(rng.normal(size=(4, 8, 16, 16)))
    w = nd.array(rng.normal(size=(32, 8, 4, 4)) * 0.1)
    gamma, beta = nd.array(rng.uniform(0.5, 1.5, 32)), nd.array(rng.normal(size=32))
    h = nd.Convolution(x, w, kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=32, no_bias=True)
    got = nd.gluon_wgan_layer_norm(h, gamma, beta, eps=1e-5)[0].asnumpy()
    rows = h.asnumpy().astype(np.float64).reshape(4, -1)
    normed = ((rows - rows.mean(1, keepdims=True)) / np.sqrt(rows.var(1, keepdims=True) + 1e-5))
    want = normed.reshape(h.shape) * gamma.asnumpy()[:, None, None] + beta.asnumpy()[:, None, None]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@needs_kernels
def test_layer_uses_the_kernel_on_cpu_only(monkeypatch):
    layer = ChannelLayerNorm(4)
    layer.initialize()
    assert layer.fused()
    with native.plain_operators():
        assert not layer.fused()
    assert layer.fused()
    monkeypatch.setattr(layer.gamma, "list_ctx", lambda: [mx.cpu(), mx.gpu(0)])
    assert not layer.fused()


@pytest.mark.parametrize("hybridize", [False, True])
@pytest.mark.parametrize("fused", [pytest.param(True, marks=needs_kernels), False])
def test_layer_gradients_accumulate_with_grad_req_add(fused, hybridize):
    """MXNet does not tell a library operator to add: the layer must hand it copies of gamma/beta."""
    def grads_after(passes):
        mx.random.seed(0)   # the same layer each time
        layer = ChannelLayerNorm(3)
        layer.initialize(mx.init.Normal(1.0))
        layer.collect_params().setattr("grad_req", "add")
        if hybridize:
            layer.hybridize()
        x = nd.array(np.random.RandomState(0).normal(size=(2, 3, 4, 4)))
        for _ in range(passes):
            with autograd.record():
                y = layer(x)
            y.backward(y)          # a head that is not constant, so gamma's gradient is not 0
        return [p.grad().asnumpy() for p in (layer.gamma, layer.beta)]

    with contextlib.ExitStack() as stack:
        if not fused:
            stack.enter_context(native.plain_operators())
        once, twice = grads_after(1), grads_after(2)
    for a, b in zip(once, twice):
        assert np.abs(a).max() > 1e-3
        np.testing.assert_allclose(b, 2 * a, rtol=1e-5, atol=1e-6)


@needs_kernels
def test_critic_parameter_gradients_equal_the_plain_operators():
    """Through ChannelLayerNorm.hybrid_forward in a hybridized critic, float64: every parameter."""
    from gluon_wgan.models import DCGANCritic

    def grads(fused):
        with contextlib.ExitStack() as stack:
            if not fused:
                stack.enter_context(native.plain_operators())
            mx.random.seed(1)
            critic = DCGANCritic(16, ndf=4, nc=2, norm="layer", use_bias=True)
            critic.initialize(mx.init.Normal(0.3))
            critic.cast("float64")
            critic.hybridize()
            x = nd.array(np.random.RandomState(2).normal(size=(3, 2, 16, 16)), dtype="float64")
            with autograd.record():
                score = critic(x)
            score.backward(nd.array([1.0, -2.0, 0.5], dtype="float64"))
            return {k[len(critic.prefix):]: p.grad().asnumpy() for k, p in critic.collect_params().items()}

    fused, plain = grads(True), grads(False)
    assert fused.keys() == plain.keys() and any("gamma" in k for k in fused)
    for name, g in plain.items():
        np.testing.assert_allclose(fused[name], g, rtol=1e-10, atol=1e-12 * np.abs(g).max(), err_msg=name)


@needs_kernels
def test_two_dimensional_input():
    """(N, C): each row normalized over its C entries, then scaled and shifted per entry."""
    rng = np.random.RandomState(4)
    x, gamma, beta = rng.normal(size=(5, 6)), rng.uniform(0.5, 1.5, 6), rng.normal(size=6)
    got = nd.gluon_wgan_layer_norm(*(nd.array(a, dtype="float64") for a in (x, gamma, beta)),
                                   eps=1e-5)[0].asnumpy()
    want = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5) * gamma + beta
    np.testing.assert_allclose(got, want, rtol=1e-12)


def _python(code, **env):
    return subprocess.run([sys.executable, "-W", "always::RuntimeWarning", "-c", textwrap.dedent(code)],
                          env=dict(os.environ, **env), capture_output=True, text=True, timeout=120)


LAYER_RUNS = """
    import gluon_wgan  # first: numpy's removed aliases back before MXNet loads (numpy_aliases.py)
    import mxnet as mx
    from gluon_wgan import native
    from gluon_wgan.models.layers import ChannelLayerNorm
    layer = ChannelLayerNorm(2)
    layer.initialize()
    print("available", native.available(), "fused", layer.fused())
    print("shape", layer(mx.nd.ones((1, 2, 3, 3))).shape)
"""


def test_disabled_by_environment_variable():
    result = _python(LAYER_RUNS, GLUON_WGAN_NATIVE="0")
    assert result.returncode == 0, result.stderr
    assert "available False fused False" in result.stdout and "shape (1, 2, 3, 3)" in result.stdout
    assert "RuntimeWarning" not in result.stderr            # the user asked for it: no warning


def test_failed_build_warns_once_and_falls_back(tmp_path):
    result = _python(LAYER_RUNS, GLUON_WGAN_CACHE=str(tmp_path), CXX="false", GLUON_WGAN_NATIVE="1")
    assert result.returncode == 0, result.stderr
    assert "available False fused False" in result.stdout and "shape (1, 2, 3, 3)" in result.stdout
    assert result.stderr.count("fused layer-norm kernels unavailable") == 1
    assert not list(tmp_path.iterdir())                     # no half-written library left behind
