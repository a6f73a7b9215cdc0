#!/usr/bin/env python
"""The WGAN paper's Fig. 3 (or with --inception-score the WGAN-GP paper's) from run folders, and a
progress GIF of one run's sample grids.

Example: python scripts/plot_runs.py runs/wgan runs/wgan-mlp --gif   (fig3.png, and runs/*/progress.gif)
"""
import argparse
import sys

from gluon_wgan.utils.oneline import OneLineParser

ALL = "<each RUN_DIR>"   # --gif without a value


def build_parser():
    parser = OneLineParser(
        prog="plot_runs.py",
        description="Plot the critic's Wasserstein estimate (w_estimate = -loss_d) against generator "
                    "iterations for each RUN_DIR, median-filtered, with each run's latest sample grid "
                    "beside it (WGAN paper, Fig. 3), from metrics.jsonl, config.json and samples/ alone; or, "
                    "with --inception-score, the Inception Score against generator iterations and against "
                    "wall-clock seconds (WGAN-GP paper, Fig. 3); optionally a GIF of one run's sample grids "
                    "in gen_iter order.",
        formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=28, width=100))
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders (each with metrics.jsonl)")
    parser.add_argument("--out", default=None, metavar="FILE.png",
                        help="the figure: .png, .pdf or .svg, never a file of a run folder (default: fig3.png, "
                             "with --inception-score fig3_inception.png)")
    parser.add_argument("--inception-score", action="store_true",
                        help="plot the Inception Scores that --eval-every logged, against generator iterations "
                             "and training seconds (WGAN-GP paper, Fig. 3), instead of the critic's estimate")
    parser.add_argument("--window", type=int, default=None,
                        help="median filter width in generator iterations, centred; 1 draws the raw values "
                             "(default: about 1/40 of the longest run, odd, at most 101 as in the WGAN paper)")
    parser.add_argument("--labels", nargs="+", default=None, metavar="LABEL",
                        help="one legend label per RUN_DIR, in order, given after them (default: the preset or "
                             "method in each run's config.json, else the folder name)")
    parser.add_argument("--gif", nargs="?", const=ALL, default=None, metavar="RUN_DIR",
                        help="also write a GIF of the sample grids of RUN_DIR, or, with no value, of each run")
    parser.add_argument("--gif-out", default=None, metavar="FILE.gif",
                        help="where a single --gif writes (default: progress.gif in that run folder)")
    parser.add_argument("--frame-ms", type=int, default=250, help="GIF frame duration in milliseconds (default: %(default)s)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.inception_score and args.window is not None:
        parser.error("--window applies to the critic's estimate, not to --inception-score")
    if args.window is not None and args.window < 1:
        parser.error(f"--window must be at least 1, got {args.window}")
    if args.labels is not None and len(args.labels) != len(args.run_dirs):
        parser.error(f"--labels: {len(args.labels)} label(s) for {len(args.run_dirs)} run folder(s)")
    if args.gif_out is not None and args.gif is None:
        parser.error("--gif-out needs --gif RUN_DIR")
    gifs = [] if args.gif is None else list(args.run_dirs) if args.gif == ALL else [args.gif]
    if args.gif_out is not None and len(gifs) > 1:
        parser.error(f"--gif-out names one file, for {len(gifs)} GIFs: give --gif RUN_DIR")
    out = args.out or ("fig3_inception.png" if args.inception_score else "fig3.png")
    # After parsing, so that --help and bad flags stay quick.
    import os

    from gluon_wgan.tools.runs import (FIGURE_FORMATS, check_output, default_window, frame_ms_problems, load_run,
                                       load_scores, plot_inception_scores, plot_w_estimates, sample_grids,
                                       save_progress_gif)

    for problem in frame_ms_problems(args.frame_ms):   # before any work
        parser.error(problem)

    labels = args.labels or [None] * len(args.run_dirs)
    try:
        check_output(out, FIGURE_FORMATS)   # before any work
        for run_dir in gifs:
            check_output(args.gif_out or os.path.join(run_dir, "progress.gif"), ("gif",))
        load = load_scores if args.inception_score else load_run
        runs = [load(run_dir, label) for run_dir, label in zip(args.run_dirs, labels)]
        for run_dir in gifs:   # before writing anything
            if not sample_grids(run_dir):
                raise ValueError(f"{run_dir}: no sample grids in samples/ for a GIF")
        if args.inception_score:
            plot_inception_scores(runs, out)
            print(f"wrote {out} ({len(runs)} run(s), {sum(len(r.is_mean) for r in runs)} scores)")
        else:
            window = args.window or default_window(runs)
            plot_w_estimates(runs, out, window=window)
            print(f"wrote {out} ({len(runs)} run(s), median filter of {window})")
        for run_dir in gifs:
            gif_out = args.gif_out or os.path.join(run_dir, "progress.gif")
            frames = save_progress_gif(run_dir, gif_out, duration_ms=args.frame_ms)
            print(f"wrote {gif_out} ({frames} frame(s))")
    except (ValueError, OSError) as err:
        parser.error(str(err))
    return 0


if __name__ == "__main__":
    sys.exit(main())
