#!/usr/bin/env python
"""A CIFAR-10-sized stand-in, for machines without CIFAR-10: 32x32 patches of real photographs.

Random square crops (a sixteenth to a quarter of the shorter side, flipped at random) of the given
photographs, shrunk to 32x32 with Pillow's bicubic filter and written as PNGs into OUT_DIR, for
``train_wgan.py --dataset folder --dataroot OUT_DIR``. Default photographs: matplotlib's
grace_hopper.jpg and, when scikit-learn is installed, its china.jpg and flower.jpg.

Example: python docs/examples/photo_patches.py runs/patches32 --n 10000
"""
import argparse
import os

import numpy as np
from PIL import Image, ImageOps


def default_photographs():
    import matplotlib.cbook
    paths = [matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)]
    try:
        import sklearn.datasets
        folder = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
        paths += [os.path.join(folder, name) for name in ("china.jpg", "flower.jpg")]
    except ImportError:
        pass
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", metavar="OUT_DIR")
    parser.add_argument("--images", nargs="+", default=None, metavar="FILE", help="photographs (default: see above)")
    parser.add_argument("--n", type=int, default=10000, help="patches to write (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    photos = [Image.open(path).convert("RGB") for path in args.images or default_photographs()]
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out_dir, exist_ok=True)
    for i in range(args.n):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.integers(min(photo.size) // 16, min(photo.size) // 4 + 1))
        left, top = (int(rng.integers(0, extent - side + 1)) for extent in photo.size)
        patch = photo.crop((left, top, left + side, top + side)).resize((32, 32), Image.BICUBIC)
        if rng.random() < 0.5:
            patch = ImageOps.mirror(patch)
        patch.save(os.path.join(args.out_dir, f"{i:05d}.png"))
    print(f"wrote {args.n} 32x32 patches of {len(photos)} photograph(s) to {args.out_dir}")


if __name__ == "__main__":
    main()
