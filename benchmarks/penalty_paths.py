"""The penalty's two paths on the package's critics: the fused per-layer transposes against the
general symbol-graph one (`graph_transpose`), a WGAN-GP critic iteration each, alternating in one
process so that both see the same machine.

    python benchmarks/penalty_paths.py --repeats 7        # about 2 minutes on 2 idle cores

Prints seconds per critic iteration (median) and general / fused for each critic.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gluon_wgan.utils.threads import use_physical_cores  # noqa: E402

use_physical_cores()

import numpy as np  # noqa: E402
from mxnet import autograd, gluon, nd  # noqa: E402

from gluon_wgan import graph_transpose, losses, penalty  # noqa: E402
from gluon_wgan.models import CIFARCritic, DCGANCritic, DCGANInit  # noqa: E402

CRITICS = {
    "dcgan64-layer (WGAN-GP's LSUN critic)": (lambda: DCGANCritic(64, ndf=64, norm="layer"), (3, 64, 64)),
    "cifar32-none (WGAN-GP's Fig. 3 critic)": (lambda: CIFARCritic(32, dim=128, norm="none", use_bias=True),
                                               (3, 32, 32)),
}


def critic_iteration(critic, trainer, real, fake, general):
    """One WGAN-GP critic update with the input gradient of the chosen path; waits for the result."""
    with autograd.record():
        loss = losses.wasserstein_d(critic(real), critic(fake))
        x_hat = penalty.interpolate(real, fake)
        grad = graph_transpose.input_gradient(critic, x_hat) if general else penalty.input_gradient(critic, x_hat)
        loss = loss + 10.0 * nd.mean(nd.square(penalty.per_sample_norms(grad) - 1))
    loss.backward()
    trainer.step(1)
    nd.waitall()


def measure(make, shape, batch, repeats):
    critic = make()
    critic.initialize(DCGANInit())
    critic.hybridize(static_alloc=True, static_shape=True)
    trainer = gluon.Trainer(critic.collect_params(), "adam", {"learning_rate": 1e-4, "beta1": 0.0, "beta2": 0.9})
    real, fake = (nd.random.normal(shape=(batch,) + shape) for _ in range(2))
    times = {False: [], True: []}
    for general in (False, True):
        critic_iteration(critic, trainer, real, fake, general)      # warm-up, first-call costs
    for _ in range(repeats):
        for general in (False, True):
            start = time.perf_counter()
            critic_iteration(critic, trainer, real, fake, general)
            times[general].append(time.perf_counter() - start)
    return np.median(times[False]), np.median(times[True])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, batch {args.batch}, median of {args.repeats}")
    print("| critic | fused s | general s | general / fused |")
    print("| --- | ---: | ---: | ---: |")
    for name, (make, shape) in CRITICS.items():
        fused, general = measure(make, shape, args.batch, args.repeats)
        print(f"| {name} | {fused:.3f} | {general:.3f} | {general / fused:.2f} |", flush=True)


if __name__ == "__main__":
    main()
