"""Which operators can `autograd.grad(..., create_graph=True)` go through in MXNet 1.9.1?

For each operator y = op(x), take g = d sum(y) / dx with create_graph=True, then backpropagate
sum(g * g). Operators whose backward has no gradient of its own raise
"Operator _backward_X is non-differentiable" (apache/mxnet issue 10002).
"""
import re

import mxnet as mx
from mxnet import autograd, gluon

nd = mx.nd
x4 = nd.random.normal(shape=(2, 3, 8, 8))
x2 = nd.random.normal(shape=(2, 5))
w_conv = nd.random.normal(shape=(4, 3, 3, 3))
w_fc = nd.random.normal(shape=(4, 5))
bn_gamma, bn_beta, bn_mean, bn_var = nd.ones(3), nd.zeros(3), nd.zeros(3), nd.ones(3)
activation = gluon.nn.Activation("relu")
leaky = gluon.nn.LeakyReLU(0.2)

CASES = [
    ("FullyConnected", x2, lambda x: nd.FullyConnected(x, w_fc, no_bias=True, num_hidden=4)),
    ("relu", x2, nd.relu),
    ("tanh", x2, nd.tanh),
    ("sigmoid", x2, nd.sigmoid),
    ("Convolution", x4, lambda x: nd.Convolution(x, w_conv, kernel=(3, 3), num_filter=4, no_bias=True)),
    ("Deconvolution", x4, lambda x: nd.Deconvolution(x, w_conv.transpose((1, 0, 2, 3)), kernel=(3, 3),
                                                     num_filter=4, no_bias=True)),
    ("LeakyReLU", x2, lambda x: nd.LeakyReLU(x, slope=0.2)),
    ("gluon.nn.LeakyReLU", x2, leaky),
    ("gluon.nn.Activation('relu')", x2, activation),
    ("BatchNorm", x4, lambda x: nd.BatchNorm(x, bn_gamma, bn_beta, bn_mean, bn_var)),
    ("Pooling", x4, lambda x: nd.Pooling(x, kernel=(2, 2), stride=(2, 2), pool_type="avg")),
    ("reshape", x4, lambda x: nd.reshape(x, shape=(2, -1)) * x.reshape((2, -1))),
]

for name, x_value, op in CASES:
    x = x_value.copy()
    x.attach_grad()
    try:
        with autograd.record():
            y = op(x)
            (g,) = autograd.grad(y, [x], head_grads=nd.ones_like(y), create_graph=True,
                                 retain_graph=True)
            second = (g * g).sum()
        second.backward()
        nd.waitall()
        print(f"{name:30s} ok")
    except mx.base.MXNetError as err:
        found = re.search(r"Operator \S+ is non-differentiable", str(err))
        print(f"{name:30s} FAILS: {found.group(0) if found else str(err)[:80]}")
