#!/usr/bin/env python
"""Randomly initialised weights for gluoncv's InceptionV3, as a ``.params`` file: a stand-in for
``--inception-weights`` where no real weights can be had. TESTING ONLY: scores computed with them
mean nothing, but the pipeline (evaluation, metrics.jsonl, plots) runs as with real weights.

Example: python docs/examples/random_inception.py runs/random_inceptionv3.params
"""
import argparse

from gluon_wgan.metrics.inception import InceptionV3Features


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", metavar="OUT.params")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    features = InceptionV3Features(random_init=True, seed=args.seed)
    features.net.inception.save_parameters(args.out)
    print(f"wrote random InceptionV3 weights (seed {args.seed}) to {args.out}")


if __name__ == "__main__":
    main()
