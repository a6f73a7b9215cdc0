#!/usr/bin/env python
"""Can this machine train on a GPU? `python scripts/check_gpu.py [--gpu N] [--smoke]` (see --help).

The same command as `python -m gluon_wgan.tools.doctor`: checks, in order, that MXNet is a CUDA wheel, the
NVIDIA driver loads and is new enough, every CUDA library loads, the GPU exists, MXNet has kernels
for it, and a small convolution + gradient penalty step on it equals the CPU's. The first failure is
one line on stderr naming the fix, exit code 2. With --smoke, a few WGAN and WGAN-GP iterations on
the GPU and on the CPU follow, compared and timed: a report to paste into an issue. docs/gpu.md
explains each check.
"""
import sys

from gluon_wgan.tools.doctor import main

if __name__ == "__main__":
    sys.exit(main(prog="check_gpu.py"))
