"""The command line of the WGAN-GP paper's toy runs (scripts/reproduce_toy.py): its flags, its presets
(`TOY_PRESETS`, rows of those flags) and their checks. The runs themselves are `gluon_wgan.training.toy`.

Imports neither numpy nor MXNet, so that --help and bad flags answer at once, and the script can set
the thread count before MXNet loads.
"""
import argparse

from ..data.choices import TOY_DATASETS
from ..models.choices import COMPUTE_DTYPES
from ..training.choices import TOY_GP_WEIGHT, TOY_METHODS, toy_problems
from ..utils.cpu import bfloat16_problem
from ..utils.files import check_writable_dir
from ..utils.oneline import OneLineParser
from ..utils.threads import add_threads_flag

# The WGAN-GP paper's toy runs, for scripts/reproduce_toy.py --preset (flags of that script; precedence
# defaults < preset < explicit flags). The released toy code (gan_toy.py) trains 100,000 generator
# iterations with lambda = 0.1; the paper's text says lambda = 10 for every experiment.
TOY_PRESETS = {
    # Section 4.1, Figure 2 of the released code's outputs: WGAN-GP on each toy distribution.
    "toy-8gaussians": dict(figure="train", dataset="8gaussians", gen_iters=100000),
    "toy-25gaussians": dict(figure="train", dataset="25gaussians", gen_iters=100000),
    "toy-swissroll": dict(figure="train", dataset="swissroll", gen_iters=100000),
    # The same with the paper's stated lambda = 10.
    "toy-8gaussians-lambda10": dict(figure="train", dataset="8gaussians", gen_iters=100000, gp_weight=10.0),
    # The comparison the released code also runs: weight clipping at 0.01 (WGAN) on the same models.
    "toy-8gaussians-clip": dict(figure="train", dataset="8gaussians", gen_iters=100000, method="wgan"),
    # Figure 1(a): value surfaces of critics trained to optimality, clipping vs penalty.
    "toy-fig1a": dict(figure="1a"),
    # Figure 1(b): 12-layer critics on the Swiss roll, per-layer gradient norms and weight histograms.
    "toy-fig1b": dict(figure="1b"),
}

DEFAULT_GEN_ITERS = {"train": 500, "1a": 100, "1b": 200}


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each default, except None (whose meaning the help text gives)."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def build_parser():
    parser = OneLineParser(
        prog="reproduce_toy.py",
        description="Toy experiments of the WGAN-GP paper (Gulrajani et al. 2017, section 4.1, Figure 1) "
                    "with the released toy code's settings: MLP generator and critic with 3 hidden layers "
                    "of 512 ReLU units, 2-D noise, batch 256, 5 critic updates per generator update, "
                    "Adam(1e-4, 0.5, 0.9) for wgan-gp, RMSProp(5e-5) and clipping at 0.01 for wgan. "
                    "--figure train (default): train on --dataset, write samples.png (real, generated, "
                    "critic contours), w1.png and summary.json (dataset, gen_iters, w1, w1_curve = "
                    "[[gen_iter, exact W1 between 1000 generated and 1000 real points], ...], w1_floor, "
                    "seconds). --figure 1a: critics trained against a generator fixed at real data + N(0, I) "
                    "noise, clipping (top row) vs penalty (bottom row), on all three datasets "
                    "(figure_1a.png). --figure 1b: 12-layer ReLU MLPs on the Swiss roll, per-layer critic "
                    "gradient norms for clipping at 0.1, 0.01, 0.001 vs penalty, and critic weight "
                    "histograms (figure_1b.png).",
        epilog="Default lengths (--gen-iters): train 500 (2 minutes on an idle 2-core CPU for 8gaussians), "
               "1a 100 rounds of 5 critic updates per critic (6 critics), 1b 200 per network (4 runs). The "
               "released code trains for 100000 generator iterations. See docs/toy.md.",
        formatter_class=DefaultsFormatter)
    parser.add_argument("--preset", choices=sorted(TOY_PRESETS), default=None,
                        help="a paper run: a row of TOY_PRESETS in gluon_wgan/tools/toy.py, whose options "
                             "explicit flags override")
    parser.add_argument("--figure", choices=("train", "1a", "1b"), default="train",
                        help="train: one training run on --dataset; 1a: Figure 1(a) value surfaces on all "
                             "datasets; 1b: Figure 1(b) on the Swiss roll (--dataset is ignored by 1a and 1b)")
    parser.add_argument("--dataset", choices=TOY_DATASETS, default="8gaussians", help="toy distribution")
    parser.add_argument("--gen-iters", type=int, default=None,
                        help="generator iterations (1a: rounds of --critic-iters critic updates); "
                             "default: " + ", ".join(f"{k} {v}" for k, v in DEFAULT_GEN_ITERS.items()))
    parser.add_argument("--method", choices=TOY_METHODS, default="wgan-gp",
                        help="train: gradient penalty, or weight clipping (WGAN) for comparison")
    parser.add_argument("--gp-weight", type=float, default=TOY_GP_WEIGHT,
                        help=f"penalty weight lambda; {TOY_GP_WEIGHT:g} as in the released toy code (gan_toy.py), "
                             "the paper uses 10")
    parser.add_argument("--critic-iters", type=int, default=5, help="critic updates per generator update")
    parser.add_argument("--batch-size", type=int, default=256, help="batch size")
    parser.add_argument("--hidden", type=int, default=512, help="units per hidden layer")
    parser.add_argument("--depth", type=int, default=12, help="1b: Dense layers of each network")
    parser.add_argument("--eval-every", type=int, default=None,
                        help="train: generator iterations between W1 evaluations (default: gen_iters // 20)")
    parser.add_argument("--eval-samples", type=int, default=1000,
                        help="train: generated and real points in each exact W1 evaluation")
    parser.add_argument("--outdir", default="toy_run", help="folder for the figures and summary.json")
    parser.add_argument("--seed", type=int, default=0, help="seeds numpy and MXNet")
    parser.add_argument("--dtype", choices=COMPUTE_DTYPES, default="float32",
                        help="train: what the dense layers compute in (and the penalty's transposes of them); "
                             "bfloat16 on CPUs that compute it natively, parameters and the rest float32 "
                             "(docs/performance.md)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_threads_flag(parser, "one: the toy networks are as fast on one as on two")
    return parser


def parse_args(argv=None):
    """(parser, args, gen_iters) for `argv`: defaults < --preset < explicit flags. Invalid input: one
    line on stderr, exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.preset:   # defaults < preset < explicit flags: the preset's values become the defaults
        parser.set_defaults(**TOY_PRESETS[args.preset])
        args = parser.parse_args(argv)
    gen_iters = DEFAULT_GEN_ITERS[args.figure] if args.gen_iters is None else args.gen_iters
    for problem in toy_problems(gen_iters, args.gp_weight, args.critic_iters, args.batch_size, args.hidden,
                                args.eval_every, args.eval_samples, args.depth):
        parser.error(problem)
    if args.dtype == "bfloat16" and args.figure != "train":
        parser.error(f"--dtype bfloat16 is for --figure train, got --figure {args.figure}")
    cpu_problem = bfloat16_problem() if args.dtype == "bfloat16" else ""
    if cpu_problem:
        parser.error(cpu_problem)
    try:
        check_writable_dir(args.outdir, keep=False)   # the run makes it, once it starts
    except ValueError as err:
        parser.error(str(err))
    return parser, args, gen_iters
