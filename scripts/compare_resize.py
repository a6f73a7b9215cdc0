#!/usr/bin/env python
"""Compare Pillow, OpenCV and mx.image.imresize resizing on an image, a folder or an LSUN lmdb database.

Example: python scripts/compare_resize.py photo.jpg --size 64 --outdir resize_report
"""
import argparse
import sys

from gluon_wgan.utils.oneline import OneLineParser
from gluon_wgan.utils.threads import add_threads_flag, use_threads


def build_parser():
    parser = OneLineParser(
        prog="compare_resize.py",
        description="Resize images with Pillow, OpenCV (cv2.resize) and mx.image.imresize using the "
                    "nearest, bilinear, bicubic, area (Pillow: BOX) and lanczos filters, as training "
                    "does (shorter side to --size, centre crop), and measure how far the backends differ "
                    "for each filter: max and mean absolute difference, L1, share of pixels off by more "
                    "than 10, PSNR. Writes report.md, report.csv, heatmap.png and crops.png.",
        epilog="Filters are named, never numbered: the integer 3 is BICUBIC to Pillow but INTER_AREA "
               "to OpenCV and mx.image.imresize. See docs/resize.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("input", help="an image file, a folder of images (searched recursively), or an "
                                      "lmdb database folder such as bedroom_train_lmdb")
    parser.add_argument("--size", type=int, default=64, help="output height = width in pixels")
    parser.add_argument("--limit", type=int, default=None, help="compare at most this many images")
    parser.add_argument("--outdir", default="resize_report", help="folder for the report and figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_threads_flag(parser, "one: images are resized one at a time")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    use_threads(args.threads, small=True)   # before MXNet loads (mx.image.imresize), which reads it once
    from tqdm import tqdm  # after parsing: --help and bad flags stay quick

    from gluon_wgan.tools.resize_report import run

    try:
        progress = None if args.no_progress else (lambda it, total: tqdm(it, total=total, unit="image"))
        report = run(args.input, size=args.size, limit=args.limit, outdir=args.outdir, progress=progress)
    except ValueError as err:
        parser.error(str(err))
    by_key = {(s["backend_a"], s["backend_b"], s["interpolation"]): s for s in report.summary}
    for name in ("bilinear", "bicubic"):
        s = by_key["pillow", "opencv", name]
        print(f"Pillow vs OpenCV {name}: max_abs median {s['max_abs_median']:g}, "
              f"mean_abs median {s['mean_abs_median']:.3f}")
    skipped = f", {len(report.skipped)} unreadable skipped" if report.skipped else ""
    skipped += f", {len(report.converted)} converted to RGB first (listed in the report)" if report.converted else ""
    print(f"{report.images} image(s) compared{skipped}; wrote {report.paths['md']}, {report.paths['csv']}, "
          f"{report.paths['heatmap']}, {report.paths['crops']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
