#!/usr/bin/env python
"""The WGAN-GP paper's toy experiments on CPU: `python scripts/reproduce_toy.py --dataset 8gaussians`.

See --help and docs/toy.md.
"""
import sys

from gluon_wgan.tools.toy import parse_args
from gluon_wgan.utils.threads import use_threads


def main(argv=None):
    parser, args, gen_iters = parse_args(argv)   # loads neither numpy nor MXNet
    try:
        use_threads(args.threads, small=True)   # before anything loads MXNet, which reads OMP_NUM_THREADS once
    except ValueError as err:
        parser.error(str(err))
    from tqdm import tqdm  # after parsing: --help and bad flags stay quick

    from gluon_wgan.training import toy

    def progress(iterable, total, desc):
        return tqdm(iterable, total=total, desc=desc, unit="gen_iter", disable=args.no_progress,
                    dynamic_ncols=True)

    common = dict(gp_weight=args.gp_weight, seed=args.seed, critic_iters=args.critic_iters,
                  batch_size=args.batch_size, hidden=args.hidden, progress=progress)
    try:
        if args.figure == "train":
            s = toy.run_train(args.dataset, args.outdir, gen_iters=gen_iters, method=args.method,
                              eval_every=args.eval_every, eval_samples=args.eval_samples, dtype=args.dtype,
                              **common)
            print(f"{s['dataset']} {s['method']}: {s['gen_iters']} generator iterations in {s['seconds']:.0f} s; "
                  f"exact W1 {s['w1_curve'][0][1]:.4f} -> {s['w1']:.4f} (real vs real floor "
                  f"{s['w1_floor']:.4f}); wrote {args.outdir}")
        elif args.figure == "1a":
            s = toy.run_figure_1a(args.outdir, gen_iters=gen_iters, **common)
            print(f"Figure 1(a): {len(s['seconds_by_run'])} critics in {s['seconds']:.0f} s; wrote {args.outdir}")
        else:
            s = toy.run_figure_1b(args.outdir, gen_iters=gen_iters, depth=args.depth, **common)
            print(f"Figure 1(b): {len(s['seconds_by_run'])} runs in {s['seconds']:.0f} s; wrote {args.outdir}")
    except ValueError as err:
        parser.error(str(err))
    return 0


if __name__ == "__main__":
    sys.exit(main())
