#!/usr/bin/env python
"""FID's two matrix square roots on random 2048-dimensional features: what docs/metrics.md quotes.

1. Fewer samples than dimensions: `scipy.linalg.sqrtm` as TTUR and pytorch-fid call it (they check only
   that the result is finite), its own error estimate, and the "FID" it gives; then the package's 'eigh'.
2. Full rank: the time of `frechet_distance(method='sqrtm')` and `method='eigh'`, and how far they agree.
3. The time of 'eigh' from 8 samples.

Features are uniform on [0, 1) from numpy's RandomState(seed). Example:
OMP_NUM_THREADS=1 python docs/examples/fid_methods.py --seed 0
"""
import argparse
import time

import numpy as np
from scipy import linalg

from gluon_wgan.metrics.inception import activation_statistics, frechet_distance


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def reference_fid(mu1, s1, mu2, s2):
    """pytorch-fid's calculate_frechet_distance without its eps retry (taken only on a non-finite result)."""
    covmean, error = linalg.sqrtm(s1.dot(s2), disp=False)
    finite = bool(np.isfinite(covmean).all())
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    diff = mu1 - mu2
    return diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean), error, finite


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dims", type=int, default=2048)
    parser.add_argument("--few", type=int, default=16, help="samples per set in part 1")
    parser.add_argument("--full", type=int, default=4096, help="samples per set in part 2")
    args = parser.parse_args()
    rng = np.random.RandomState(args.seed)
    d = args.dims

    a, b = rng.rand(args.few, d), rng.rand(args.few, d)
    (mu1, s1), (mu2, s2) = activation_statistics(a), activation_statistics(b)
    fid, error, finite = reference_fid(mu1, s1, mu2, s2)
    print(f"{args.few} samples, {d} dims: sqrtm error estimate {error:.3g}, result finite: {finite}, "
          f"'FID' as the references compute it {fid:.3g}")
    print(f"  eigh: FID {frechet_distance(mu1, s1, mu2, s2, method='eigh'):.6g}")

    a, b = rng.rand(args.full, d), rng.rand(args.full, d)
    (mu1, s1), (mu2, s2) = activation_statistics(a), activation_statistics(b)
    f_sqrtm, t_sqrtm = timed(frechet_distance, mu1, s1, mu2, s2, method="sqrtm")
    f_eigh, t_eigh = timed(frechet_distance, mu1, s1, mu2, s2, method="eigh")
    print(f"{args.full} samples (full rank), {d} dims: sqrtm {t_sqrtm:.1f} s, eigh {t_eigh:.1f} s; "
          f"FID {f_sqrtm:.10g} vs {f_eigh:.10g}, relative difference {abs(f_sqrtm - f_eigh) / abs(f_eigh):.1e}")

    a, b = rng.rand(8, d), rng.rand(8, d)
    (mu1, s1), (mu2, s2) = activation_statistics(a), activation_statistics(b)
    _, t_eigh8 = timed(frechet_distance, mu1, s1, mu2, s2, method="eigh")
    print(f"8 samples, {d} dims: eigh {t_eigh8:.2f} s")


if __name__ == "__main__":
    main()
