"""`autograd.grad(create_graph=True)` through a Dense + relu MLP: right value, silently wrong gradients.

The gradient penalty P = mean_i (||d D(x_i)/dx_i|| - 1)^2 of a 3-layer MLP critic is computed with
autograd.grad(create_graph=True), then P.backward(). Its parameter gradients are compared with
central finite differences in float64. MXNet 1.9.1 gets the value of P and the gradient of the first
layer's weight right, and returns exactly zero for the later layers' weights. `--widths 2 16 1` (one
hidden layer): the output weight's gradient is still 0.
"""
import argparse

import mxnet as mx
import numpy as np
from mxnet import autograd

nd = mx.nd


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[2, 16, 16, 1])
    args = parser.parse_args()
    mx.random.seed(0)
    np.random.seed(0)
    widths = args.widths
    weights = [nd.array(np.random.normal(0, 0.5, (o, i)), dtype="float64") for i, o in zip(widths, widths[1:])]
    x = nd.array(np.random.normal(size=(8, widths[0])), dtype="float64")

    def critic(h):
        for k, w in enumerate(weights):
            h = nd.FullyConnected(h, w, no_bias=True, num_hidden=w.shape[0])
            if k < len(weights) - 1:
                h = nd.relu(h)
        return h

    def penalty():
        xg = x.copy()
        xg.attach_grad()
        with autograd.record():
            score = critic(xg)
            (g,) = autograd.grad(score, [xg], head_grads=nd.ones_like(score), create_graph=True,
                                 retain_graph=True)
            norm = nd.sqrt(nd.sum(g * g, axis=1))
            return nd.mean((norm - 1) ** 2)

    for w in weights:
        w.attach_grad()
    p = penalty()
    p.backward()
    print(f"penalty = {p.asscalar():.6f}")
    for k, w in enumerate(weights):
        fd = np.zeros(w.shape)
        for idx in np.ndindex(*w.shape):
            saved = w[idx].asscalar()
            w[idx] = saved + 1e-6
            plus = penalty().asscalar()
            w[idx] = saved - 1e-6
            minus = penalty().asscalar()
            w[idx] = saved
            fd[idx] = (plus - minus) / 2e-6
        print(f"layer {k} weight {w.shape}: max|autograd| = {np.abs(w.grad.asnumpy()).max():.4f}, "
              f"max|finite difference| = {np.abs(fd).max():.4f}, "
              f"max|difference| = {np.abs(w.grad.asnumpy() - fd).max():.2e}")


if __name__ == "__main__":
    main()
