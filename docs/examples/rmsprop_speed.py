#!/usr/bin/env python
"""Milliseconds per RMSprop update of the DCGAN-64 critic's weights, three ways (docs/optimizers.md).

PyTorch's RMSprop as MXNet's fused `adam_update` with beta1 = 0 (what `TorchRMSProp` calls), MXNet's own
`rmsprop_update`, and the same formula as nine in-place `mx.nd` operations; one call per parameter of
`get_model('dcgan_critic', image_size=64)`, `--steps` timed steps after 20 untimed ones, ending with
`mx.nd.waitall()`. Example: OMP_NUM_THREADS=1 python docs/examples/rmsprop_speed.py --steps 200
"""
import argparse
import time

import mxnet as mx

from gluon_wgan.models import DCGANInit, get_model

nd = mx.nd
LR, ALPHA, EPS = 5e-5, 0.99, 1e-8


def fused(w, g, m, n):
    nd.adam_update(w, g, m, n, out=w, lr=LR, beta1=0.0, beta2=ALPHA, epsilon=EPS, lazy_update=False)


def mxnet_rmsprop(w, g, m, n):
    nd.rmsprop_update(w, g, n, out=w, lr=LR, gamma1=ALPHA, epsilon=EPS)


def nine_ops(w, g, m, n):
    n *= ALPHA                              # 1
    nd.square(g, out=m)                     # 2
    m *= 1 - ALPHA                          # 3
    n += m                                  # 4
    nd.sqrt(n, out=m)                       # 5
    m += EPS                                # 6
    nd.broadcast_div(g, m, out=m)           # 7
    m *= LR                                 # 8
    w -= m                                  # 9


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    critic = get_model("dcgan_critic", image_size=64)
    critic.initialize(DCGANInit())
    critic(nd.zeros((1, 3, 64, 64)))
    shapes = [p.shape for p in critic.collect_params().values() if p.grad_req != "null"]
    arrays = [[nd.random.normal(0, 0.01, s) for _ in range(2)] + [nd.zeros(s), nd.zeros(s)] for s in shapes]
    print(f"{sum(a[0].size for a in arrays):,} weights in {len(arrays)} parameters, {args.steps} steps")
    for name, update in (("fused adam_update", fused), ("MXNet's rmsprop_update", mxnet_rmsprop),
                         ("nine in-place mx.nd ops", nine_ops)):
        for steps in (20, args.steps):               # untimed warm-up, then the timed steps
            nd.waitall()
            start = time.perf_counter()
            for _ in range(steps):
                for w, g, m, n in arrays:
                    update(w, g, m, n)
            nd.waitall()
        print(f"{name}: {(time.perf_counter() - start) / args.steps * 1e3:.1f} ms per step")


if __name__ == "__main__":
    main()
