"""MXNet 1.9.1's LeakyReLU on float64 arrays: a float32 forward, and a backward that disagrees.

For x < 0 the forward returns float32(float32(slope) * float32(x)): float32 precision (~1e-7
relative), which is noise that swamps float64 finite differences (a step of 1e-6 turns it into
errors of order 1e-2 on a derivative). The backward returns float32(slope) * g in float64: exact
for a slope of float32(0.2) = 0.20000000298, which is not the slope the forward rounds to.
gluon_wgan.penalty multiplies by a mask of float32(slope) instead, in the array's own dtype.
"""
import mxnet as mx
import numpy as np
from mxnet import autograd

x = np.random.RandomState(0).normal(size=100000)
neg = x < 0
head = np.random.RandomState(1).normal(size=x.size)
xs = mx.nd.array(x, dtype="float64")
xs.attach_grad()
with autograd.record():
    y = mx.nd.LeakyReLU(xs, act_type="leaky", slope=0.2)
y.backward(mx.nd.array(head, dtype="float64"))
forward, backward = y.asnumpy()[neg], xs.grad.asnumpy()[neg]
print(f"output dtype: {y.dtype.__name__}")
in_float32 = (np.float32(0.2) * x[neg].astype(np.float32)).astype(np.float64)
print(f"forward : max relative error vs 0.2 * x {np.max(np.abs(forward / (0.2 * x[neg]) - 1)):.1e}; "
      f"equal to the float32 product in {np.mean(forward == in_float32) * 100:.0f}% of entries")
exact = 0.2 * head[neg]
with_float32_slope = float(np.float32(0.2)) * head[neg]
print(f"backward: max relative error vs 0.2 * g {np.max(np.abs(backward / exact - 1)):.1e}; "
      f"equal to float32(0.2) * g in {np.mean(backward == with_float32_slope) * 100:.0f}% of entries")
