#!/usr/bin/env python
"""Which source pixels feed one output pixel when shrinking by 4: the table of docs/resize.md.

A float32 image of 64 x 4 pixels, 0 except one column at 1, shrunk to 16 x 1 by each library and
filter (Pillow mode "F", cv2 and mx.image.imresize on float32). Over the 64 positions of that column,
the value of output pixel 8 is the filter's weight on that source column: the footprint is where it is
not 0, printed as offsets from 4 * 8 = 32, with how many weights are at least 1/510 in magnitude (the
smallest that can move an 8-bit result by one step, for a 0-to-255 edge). Example:
python docs/examples/resize_footprints.py
"""
import cv2
import mxnet as mx
import numpy as np
from PIL import Image

W, H, FACTOR, OUT = 64, 4, 4, 8
SIZE = (W // FACTOR, H // FACTOR)
PILLOW = {"BILINEAR": Image.Resampling.BILINEAR, "BICUBIC": Image.Resampling.BICUBIC,
          "LANCZOS": Image.Resampling.LANCZOS, "BOX": Image.Resampling.BOX, "NEAREST": Image.Resampling.NEAREST}
OPENCV = {"INTER_LINEAR": cv2.INTER_LINEAR, "INTER_CUBIC": cv2.INTER_CUBIC, "INTER_LANCZOS4": cv2.INTER_LANCZOS4,
          "INTER_AREA": cv2.INTER_AREA, "INTER_NEAREST": cv2.INTER_NEAREST}


def impulse(j):
    img = np.zeros((H, W), np.float32)
    img[:, j] = 1.0
    return img


def pillow(filt):
    return lambda j: np.asarray(Image.fromarray(impulse(j), mode="F").resize(SIZE, filt))[0, OUT]


def opencv(code):
    return lambda j: cv2.resize(impulse(j), SIZE, interpolation=code)[0, OUT]


def mxnet(code):
    return lambda j: mx.image.imresize(mx.nd.array(impulse(j)[:, :, None]), *SIZE, interp=code).asnumpy()[0, OUT, 0]


def footprint(run):
    weights = {j - FACTOR * OUT: float(run(j)) for j in range(W)}
    offsets = [k for k, w in weights.items() if w != 0]
    visible = sum(abs(w) >= 1 / 510 for w in weights.values())
    smallest = min(abs(weights[k]) for k in offsets)
    return (f"{len(offsets):2d} non-zero weights, offsets {offsets[0]:3d}..{offsets[-1]:2d}, "
            f"{visible:2d} of them >= 1/510 (smallest {smallest:.4f})")


print(f"Pillow {Image.__version__}, OpenCV {cv2.__version__}, MXNet {mx.__version__}; "
      f"{W} -> {W // FACTOR} columns, output pixel {OUT}")
for name, filt in PILLOW.items():
    print(f"Pillow {name:16s} {footprint(pillow(filt))}")
for name, code in OPENCV.items():
    print(f"cv2 {name:19s} {footprint(opencv(code))}")
for name, code in OPENCV.items():
    print(f"mx.image.imresize {code} ({name:14s}) {footprint(mxnet(code))}")
