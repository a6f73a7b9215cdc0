"""With MKL-DNN, one weight read by both a Convolution and a Deconvolution breaks backward().

The gradient penalty's explicit input gradient runs each convolution's transpose (a Deconvolution)
on the convolution's weight. Each case runs in its own process because the failure can be a
segmentation fault:
  shared     Deconvolution reads the weight itself
  times_one  Deconvolution reads weight * 1 (still one autograd leaf)
  copy       Deconvolution reads a copy made outside autograd, marked as its own leaf;
             its gradient is added to the weight's afterwards (what gluon_wgan.penalty does)
The copy case is checked against the same computation in float64 (MKL-DNN is float32 only).
"""
import subprocess
import sys

import mxnet as mx
import numpy as np
from mxnet import autograd

nd = mx.nd


def weight_grad(case, dtype):
    rng = np.random.RandomState(0)
    x = nd.array(rng.normal(size=(4, 3, 16, 16)), dtype=dtype)
    w = nd.array(rng.normal(0, 0.1, size=(8, 3, 4, 4)), dtype=dtype)
    w.attach_grad()
    if case == "copy":
        with autograd.pause():
            w_t = w.copy()
        w_t.attach_grad()
    with autograd.record():
        y = nd.Convolution(x, w, kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=8, no_bias=True)
        w_t_used = {"shared": w, "times_one": w * 1}.get(case, w_t if case == "copy" else None)
        dx = nd.Deconvolution(nd.relu(y), w_t_used, kernel=(4, 4), stride=(2, 2), pad=(1, 1),
                              num_filter=3, no_bias=True)
        loss = (dx * dx).sum()
    loss.backward()
    grad = w.grad.copy()
    if case == "copy":
        grad += w_t.grad
    return grad.asnumpy().astype(np.float64)


if __name__ == "__main__":
    if len(sys.argv) == 2:
        print(np.abs(weight_grad(sys.argv[1], "float32")).sum())
        sys.exit(0)
    print(f"MKL-DNN enabled: {mx.runtime.Features().is_enabled('MKLDNN')}")
    for case in ("shared", "times_one", "copy"):
        run = subprocess.run([sys.executable, __file__, case], capture_output=True, text=True)
        first = (run.stderr.strip().splitlines() or [""])[0][:100]
        print(f"{case:10s} returncode {run.returncode:4d}  {'ok' if run.returncode == 0 else first}")
    exact = weight_grad("shared", "float64")    # float64 has no MKL-DNN kernels, so this one runs
    rel = np.abs(weight_grad("copy", "float32") - exact).max() / np.abs(exact).max()
    print(f"copy, float32 vs float64 weight gradient: max relative difference {rel:.1e}")
