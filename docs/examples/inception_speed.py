#!/usr/bin/env python
"""Seconds per image of the FID Inception network on this machine (random weights: speed only).

Builds `gluon_wgan.metrics.fid_network.FIDInceptionV3` (2048 features, hybridized with static memory,
as `FIDInceptionFeatures` runs it), feeds `--images` random 64 x 64 images in batches of `--batch-size`
after one untimed batch, and prints the time per image. Example:
OMP_NUM_THREADS=1 python docs/examples/inception_speed.py --images 100
"""
import argparse
import time

import mxnet as mx

from gluon_wgan.metrics.fid_network import FIDInceptionV3
from gluon_wgan.models import DCGANInit


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args()
    mx.random.seed(0)
    net = FIDInceptionV3()
    net.initialize(DCGANInit())                               # any weights do for timing
    net.hybridize(static_alloc=True)
    batch = mx.nd.random.uniform(-1, 1, (args.batch_size, 3, args.image_size, args.image_size))
    net(batch)[0].asnumpy()                                   # build the graph, allocate
    batches = max(1, args.images // args.batch_size)
    start = time.perf_counter()
    for _ in range(batches):
        net(batch)[0].asnumpy()
    seconds = time.perf_counter() - start
    n = batches * args.batch_size
    print(f"{n} images of {args.image_size} x {args.image_size} in batches of {args.batch_size}: "
          f"{seconds:.1f} s, {seconds / n:.3f} s per image")


if __name__ == "__main__":
    main()
