"""What makes MKL-DNN's Deconvolution backward fail in MXNet 1.9.1, and the route around it.

The gradient penalty's input gradient runs each convolution's transpose, a Deconvolution with the
convolution's weight. Each case below records a Deconvolution and calls backward(); each runs in
its own process because a failure can also be a segmentation fault:

  leaf            the weight is a leaf with attach_grad(), used by the Deconvolution only
  shared          the weight also feeds a Convolution (the penalty's situation)
  identity_only   no Convolution, but the weight reaches the Deconvolution through nd.identity
  twice           two Deconvolutions read one leaf (autograd sums their weight gradients)
  autograd_grad   a lone leaf, but its gradient asked for with autograd.grad (a new array)
  symbolic        identity_only's graph run by the symbolic executor, which allocates every array first
  function        shared, with gluon_wgan.transposes.ConvTranspose as the transpose

The cases that fail are exactly those where the Deconvolution's weight gradient goes to an array
that imperative autograd creates during backward(): it creates them with delayed allocation, and
the MKL-DNN Deconvolution backward re-labels the weight gradient's memory layout (its in/out channel
swap) before that array has storage. A weight gradient written into an attached `.grad` (leaf) or
into the executor's arrays works. ConvTranspose computes its weight gradient into a leaf of its
own and hands it back to autograd. The function case is checked against float64 (which has no
MKL-DNN kernels).
"""
import subprocess
import sys

import mxnet as mx
import numpy as np
from mxnet import autograd

nd = mx.nd
CONV = dict(kernel=(4, 4), stride=(2, 2), pad=(1, 1))


def deconv(g, w):
    return nd.Deconvolution(g, w, num_filter=3, no_bias=True, **CONV)


def weight_grad(case, dtype="float32"):
    rng = np.random.RandomState(0)
    x = nd.array(rng.normal(size=(4, 3, 16, 16)), dtype=dtype)
    g = nd.array(rng.normal(size=(4, 8, 8, 8)), dtype=dtype)
    w = nd.array(rng.normal(0, 0.1, size=(8, 3, 4, 4)), dtype=dtype)
    if case == "symbolic":
        out = mx.sym.Deconvolution(mx.sym.var("g"), mx.sym.identity(mx.sym.var("w")), num_filter=3,
                                   no_bias=True, **CONV)
        ex = mx.sym.sum(out * out).simple_bind(mx.cpu(), g=g.shape, w=w.shape)
        ex.forward(is_train=True, g=g, w=w)
        ex.backward(nd.ones((1,)))
        return ex.grad_dict["w"].asnumpy()
    w.attach_grad()
    with autograd.record():
        if case in ("shared", "function"):
            y = nd.relu(nd.Convolution(x, w, num_filter=8, no_bias=True, **CONV))
            if case == "shared":
                dx = deconv(y, w)
            else:
                from gluon_wgan.transposes import ConvTranspose
                dx = ConvTranspose(dict(num_filter=8, no_bias=True, **CONV), x.shape)(y, w)
        elif case == "twice":
            dx = deconv(g, w) + deconv(g, w)
        else:
            dx = deconv(g, nd.identity(w) if case == "identity_only" else w)
        loss = (dx * dx).sum()
    if case == "autograd_grad":
        return autograd.grad(loss, [w])[0].asnumpy()
    loss.backward()
    return w.grad.asnumpy()


if __name__ == "__main__":
    if len(sys.argv) == 2:
        weight_grad(sys.argv[1])
        sys.exit(0)
    print(f"MKL-DNN enabled: {mx.runtime.Features().is_enabled('MKLDNN')}")
    for case in ("leaf", "shared", "identity_only", "twice", "autograd_grad", "symbolic", "function"):
        run = subprocess.run([sys.executable, __file__, case], capture_output=True, text=True)
        error = [line for line in run.stderr.splitlines() if "Error" in line][-1:] or ["crashed"]
        print(f"{case:14s} {'ok' if run.returncode == 0 else 'FAILS: ' + error[0][:70]}")
    exact = weight_grad("shared", "float64")
    rel = np.abs(weight_grad("function") - exact).max() / np.abs(exact).max()
    print(f"function, float32 with MKL-DNN vs float64: max relative difference {rel:.1e}")
