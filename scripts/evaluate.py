#!/usr/bin/env python
"""FID and Inception Score of a run's latest generator: `python scripts/evaluate.py RUN_DIR` (see --help).

Writes RUN_DIR/eval.json and prints one line. Bad input (missing run folder, no checkpoint, weights
that cannot be had) is one line on stderr and exit code 2.
"""
import argparse
import logging
import sys

from gluon_wgan.training.choices import INCEPTIONS, sample_count_problems
from gluon_wgan.utils.oneline import OneLineParser
from gluon_wgan.utils.threads import add_threads_flag, use_threads


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except None and False (those helps say what happens instead)."""

    def _get_help_string(self, action):
        return action.help if action.default is None or action.default is False else super()._get_help_string(action)


def build_parser():
    parser = OneLineParser(
        prog="evaluate.py",
        description="Compute the FID (Heusel et al. 2017) and Inception Score (Salimans et al. 2016) of "
                    "the generator in RUN_DIR/checkpoints/latest with an Inception network (--inception), against "
                    "real images of the run's own dataset (same --dataset, --dataroot, --image-size and "
                    "resize options, read from RUN_DIR/config.json). Real-image statistics are cached "
                    "in --cache-dir. Writes RUN_DIR/eval.json.",
        epilog="Numbers comparable with papers: --inception fid-inception --inception-weights "
               "pt_inception-2015-12-05-6726825d.pth (the TensorFlow FID Inception graph; download the file "
               "yourself, it is converted once and cached). The default, gluoncv's ImageNet InceptionV3 "
               "(pretrained weights read from $MXNET_HOME/models or downloaded; offline, pass "
               "--inception-weights), gives numbers that compare runs of this package only, NOT papers'. "
               "See docs/metrics.md.",
        formatter_class=_Formatter)
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a training run folder (its --outdir)")
    parser.add_argument("--n-samples", type=int, default=50000, metavar="N",
                        help="generated images (the papers use 50000)")
    parser.add_argument("--n-real", type=int, default=None, metavar="N",
                        help="real images for the statistics, capped at the dataset size "
                             "(default: --n-samples)")
    parser.add_argument("--inception", choices=INCEPTIONS, default="gluoncv",
                        help="network: 'fid-inception', the TensorFlow FID Inception graph of published FIDs "
                             "and Inception Scores (needs --inception-weights); 'gluoncv', gluoncv's "
                             "ImageNet InceptionV3, NOT comparable with papers' numbers")
    parser.add_argument("--inception-weights", metavar="FILE", default=None,
                        help="fid-inception: pt_inception-2015-12-05-6726825d.pth as downloaded (see "
                             "docs/metrics.md); gluoncv: its .params file (inceptionv3-a5050dbc.params), "
                             "needed where the pretrained weights cannot be downloaded")
    parser.add_argument("--random-inception", action="store_true",
                        help="TESTING ONLY: randomly initialised InceptionV3; the numbers are meaningless")
    parser.add_argument("--ctx", default="cpu", metavar="CTX", help="device: cpu or gpu(0) (the first device is used)")
    parser.add_argument("--cache-dir", default=None, metavar="DIR",
                        help="folder of cached real-image statistics (default: inception/ in "
                             "$GLUON_WGAN_CACHE, else $XDG_CACHE_HOME/gluon_wgan, else ~/.cache/gluon_wgan)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write cached statistics")
    parser.add_argument("--batch-size", type=int, default=64, metavar="N",
                        help="images per generator and InceptionV3 forward pass")
    parser.add_argument("--seed", type=int, default=0, metavar="N",
                        help="seed of the noise and of the real-image subset")
    parser.add_argument("--splits", type=int, default=10, metavar="N",
                        help="Inception Score splits (the papers: 10 of the 50000 samples)")
    parser.add_argument("--fid-method", choices=("sqrtm", "eigh"), default="sqrtm",
                        help="matrix square root of the references (scipy.linalg.sqrtm), or the exact "
                             "and faster eigenvalue form")
    parser.add_argument("--dims", type=int, choices=(64, 192, 768, 2048), default=2048,
                        help="InceptionV3 features for FID, as pytorch-fid's --dims; 2048 is the standard")
    parser.add_argument("--quiet", action="store_true", help="no log messages")
    add_threads_flag(parser, "one per physical core")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        use_threads(args.threads)   # before anything loads MXNet, which reads OMP_NUM_THREADS once
    except ValueError as err:
        parser.error(str(err))
    if args.random_inception and args.inception_weights:
        parser.error("--random-inception and --inception-weights exclude each other")
    for flag, value in (("--n-samples", args.n_samples), ("--n-real", args.n_real)):
        for problem in sample_count_problems(flag, value) if value is not None else []:
            parser.error(problem)
    for name in ("batch_size", "splits"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    from gluon_wgan.utils.context import parse_ctx  # after parsing: --help and bad flags stay quick
    from gluon_wgan.training.evaluate import (checkpoint_gen_iter, default_cache_dir, evaluate_run, load_generator,
                                              make_extractor)

    try:
        ctx = parse_ctx(args.ctx)[0]
        load_generator(args.run_dir, ctx)  # refuse a bad RUN_DIR before loading InceptionV3
        checkpoint_gen_iter(args.run_dir)  # and its state.json, whose gen_iter goes into eval.json
        extractor = make_extractor(args.inception, args.inception_weights, random_init=args.random_inception,
                                   ctx=ctx, batch_size=args.batch_size, dims=args.dims, seed=args.seed)
        result = evaluate_run(args.run_dir, extractor, n_samples=args.n_samples, n_real=args.n_real,
                              cache_dir=None if args.no_cache else (args.cache_dir or default_cache_dir()),
                              batch_size=args.batch_size, seed=args.seed, splits=args.splits,
                              fid_method=args.fid_method, random_inception=args.random_inception)
    except ValueError as err:
        parser.error(str(err))
    note = " (RANDOM InceptionV3 weights: meaningless, testing only)" if args.random_inception else \
        "" if result["comparable_with_papers"] else \
        f" (not comparable with papers' numbers: {result['inception']}, weights {result['inception_weights']})"
    print(f"gen_iter {result['gen_iter']}: FID {result['fid']:.4g}, IS {result['is_mean']:.4g} "
          f"+- {result['is_std']:.3g} over {result['n']} samples{note}; wrote {args.run_dir}/eval.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
