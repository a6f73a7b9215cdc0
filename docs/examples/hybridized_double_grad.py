"""A hybridized block cannot be differentiated twice in MXNet 1.9.1.

The same Dense + relu block (whose operators do have second-order gradients) is run imperatively
and then hybridized; autograd.grad(create_graph=True) then fails in the CachedOp's backward.
"""
import re

import mxnet as mx
from mxnet import autograd, gluon

nd = mx.nd


class Critic(gluon.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.hidden = gluon.nn.Dense(8, in_units=2)
            self.out = gluon.nn.Dense(1, in_units=8)

    def hybrid_forward(self, F, x):
        return self.out(F.relu(self.hidden(x)))


net = Critic()
net.initialize()
for hybridized in (False, True):
    if hybridized:
        net.hybridize()
    x = nd.random.normal(shape=(4, 2))
    x.attach_grad()
    try:
        with autograd.record():
            score = net(x)
            (g,) = autograd.grad(score, [x], head_grads=nd.ones_like(score), create_graph=True,
                                 retain_graph=True)
            penalty = ((g.norm(axis=1) - 1) ** 2).mean()
        penalty.backward()
        nd.waitall()
        print(f"hybridized={hybridized}: ok")
    except mx.base.MXNetError as err:
        found = re.search(r"CachedOp does not support higher order gradients", str(err))
        print(f"hybridized={hybridized}: FAILS: {found.group(0) if found else str(err)[:200]}")
