#!/usr/bin/env python
"""How long the exact W1 of 1000 x 1000 toy points takes: clumped generated points against spread ones.

1000 points of the 8 Gaussians (numpy RandomState(0)) against (a) 1000 points clumped at the origin,
N(0, 0.01^2) per coordinate, like an untrained generator's, and (b) a second sample of the 8 Gaussians.
Example: OMP_NUM_THREADS=1 python docs/examples/w1_speed.py
"""
import time

import numpy as np

from gluon_wgan.data.toy import eight_gaussians
from gluon_wgan.metrics.wasserstein import wasserstein1

rng = np.random.RandomState(0)
real = eight_gaussians(1000, rng)
for name, fake in (("clumped, N(0, 0.01^2)", rng.normal(0, 0.01, (1000, 2))),
                   ("a second 8 Gaussians sample", eight_gaussians(1000, rng))):
    start = time.perf_counter()
    w1 = wasserstein1(real, fake)
    print(f"{name}: W1 {w1:.3f} in {time.perf_counter() - start:.2f} s")
