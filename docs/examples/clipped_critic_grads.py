#!/usr/bin/env python
"""How small a clipped critic's gradients are at initialisation: the |g| docs/optimizers.md quotes.

DCGAN critic and generator at 64 x 64 (ndf = ngf = 64, BatchNorm, DCGANInit, seed 0), the critic's
trainable parameters clipped to [-0.01, 0.01]; one batch of 64 uniform-noise images in [-1, 1] as the
real batch and 64 generator samples (z ~ N(0, 1)) as the fake one; the Wasserstein critic loss
mean D(fake) - mean D(real), one backward. Prints percentiles of |g| over every critic weight.
Example: OMP_NUM_THREADS=1 python docs/examples/clipped_critic_grads.py
"""
import argparse

import mxnet as mx
import numpy as np
from mxnet import autograd

from gluon_wgan.losses import wasserstein_d
from gluon_wgan.models import DCGANInit, get_model
from gluon_wgan.training.constraints import clip_, trainable


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clip", type=float, default=0.01)
    args = parser.parse_args()
    mx.random.seed(args.seed)
    critic, generator = get_model("dcgan_critic", image_size=64), get_model("dcgan_generator", image_size=64)
    critic.initialize(DCGANInit())
    generator.initialize(DCGANInit())
    clip_(critic.collect_params(), args.clip)
    real = mx.nd.random.uniform(-1, 1, (64, 3, 64, 64))
    with autograd.predict_mode():
        fake = generator(mx.nd.random.normal(0, 1, (64, 100, 1, 1)))
    with autograd.record():
        loss = wasserstein_d(critic(real).reshape(-1), critic(fake).reshape(-1))
    loss.backward()
    g = np.abs(np.concatenate([p.grad().asnumpy().ravel() for p in trainable(critic.collect_params())]))
    p10, p50, p90 = np.percentile(g, [10, 50, 90])
    print(f"{g.size:,} critic weights: |g| median {p50:.2e}, 10th percentile {p10:.2e}, 90th {p90:.2e}")


if __name__ == "__main__":
    main()
