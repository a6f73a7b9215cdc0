"""Evaluation metrics on plain numpy arrays: exact W1 on point sets, gradient-norm summaries.

`wasserstein1` lives in `wasserstein.py`; the gradient-norm summaries are a few lines and are kept
here. FID and IS are imported from `gluon_wgan.metrics.inception` itself: it needs MXNet, and
`import gluon_wgan.metrics` stays numpy/scipy only.
"""
import numpy as np

from .wasserstein import wasserstein1

__all__ = ["wasserstein1", "grad_norm_summary", "GRAD_NORM_KEYS"]

GRAD_NORM_KEYS = ("mean", "std", "min", "median", "max", "frac_above_1")


def grad_norm_summary(norms, prefix="grad_norm_"):
    """Summary of per-sample critic gradient norms ||grad_x D(x_hat_i)||, as a flat dict of floats.

    The WGAN-GP penalty pushes these towards 1 (Gulrajani et al. 2017, eq. 3); their mean and spread
    show how well the 1-Lipschitz constraint holds at the interpolates.

    Parameters
    ----------
    norms : array_like, shape (N,)
        Non-negative norms (e.g. `gradient_penalty(..., return_norms=True)[1].asnumpy()`).
    prefix : str, default 'grad_norm_'
        Prepended to each key of `GRAD_NORM_KEYS` (mean, std, min, median, max, frac_above_1).

    Raises
    ------
    ValueError
        An empty, non-1-D, or non-finite `norms`.
    """
    norms = np.asarray(norms, dtype=np.float64)
    if norms.ndim != 1 or norms.size == 0:
        raise ValueError(f"norms must be a non-empty (N,) array, got shape {norms.shape}")
    if not np.all(np.isfinite(norms)):
        raise ValueError("norms contains NaN or infinite values")
    values = (norms.mean(), norms.std(), norms.min(), np.median(norms), norms.max(), np.mean(norms > 1))
    return {prefix + key: float(v) for key, v in zip(GRAD_NORM_KEYS, values)}
