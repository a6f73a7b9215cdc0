"""The WGAN-GP paper's 2-D toy distributions (Gulrajani et al. 2017, section 4 and Figure 1).

Each follows the paper's released code (igul222/improved_wgan_training, gan_toy.py, `inf_train_gen`):

- ``8gaussians``: 8 modes on a circle of radius 2 (angles k * 45 degrees), std 0.02, all divided by
  1.414 (the released code's "stdev"), so the modes sit at radius 2 / 1.414 ~ 1.414.
- ``25gaussians``: modes on the 5 x 5 grid {-4, -2, 0, 2, 4}^2 (spacing 2 over -2..2, times 2),
  std 0.05, divided by 2.828. The released code draws a fixed, exactly balanced set of 100,000
  points and cycles through it; here every point picks its mode independently (the same
  distribution, without the cycle).
- ``swissroll``: scikit-learn's ``make_swiss_roll(noise=0.25)``, columns x and z, divided by 7.5.
  It is re-implemented here (scikit-learn is not a dependency) with the same draws in the same
  order, so a ``RandomState`` gives the same points as scikit-learn's function.

Every sampler takes a ``numpy.random.RandomState`` (or an int seed) and is deterministic given it.
"""
import numpy as np

from .choices import TOY_DATASETS

# Released code: `dataset /= 1.414`, `/= 2.828`, `/= 7.5` ("stdev plus a little").
EIGHT_SCALE, TWENTY_FIVE_SCALE, SWISS_ROLL_SCALE = 1.414, 2.828, 7.5


def _rng(rng):
    """`rng` itself, or a RandomState seeded with it when it is an int (or None)."""
    return rng if isinstance(rng, np.random.RandomState) else np.random.RandomState(rng)


def _check_n(n):
    if int(n) != n or n < 1:
        raise ValueError(f"the number of samples must be a positive integer, got {n!r}")
    return int(n)


def eight_gaussian_centers():
    """The 8 modes before the final division: radius 2, angles 0, 45, ..., 315 degrees; (8, 2)."""
    angles = np.arange(8) * (np.pi / 4)
    return 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def twenty_five_gaussian_centers():
    """The 25 modes before the final division: the grid {-4, -2, 0, 2, 4}^2; (25, 2)."""
    grid = 2.0 * np.arange(-2, 3)
    return np.stack(np.meshgrid(grid, grid, indexing="ij"), axis=-1).reshape(-1, 2)


def _mixture(centers, std, scale, n, rng):
    rng = _rng(rng)
    n = _check_n(n)
    modes = rng.randint(len(centers), size=n)
    points = centers[modes] + std * rng.standard_normal((n, 2))
    return (points / scale).astype(np.float32)


def eight_gaussians(n, rng=None):
    """`n` points of the 8-Gaussian mixture (std 0.02, divided by 1.414), float32 (n, 2)."""
    return _mixture(eight_gaussian_centers(), 0.02, EIGHT_SCALE, n, rng)


def twenty_five_gaussians(n, rng=None):
    """`n` points of the 25-Gaussian mixture (std 0.05, divided by 2.828), float32 (n, 2)."""
    return _mixture(twenty_five_gaussian_centers(), 0.05, TWENTY_FIVE_SCALE, n, rng)


def make_swiss_roll(n, noise=0.0, rng=None):
    """scikit-learn's `make_swiss_roll`: (n, 3) float64 points and their positions t along the roll.

    t = 1.5 pi (1 + 2 u), u ~ U[0, 1); x = t cos t, y = 21 U[0, 1), z = t sin t; then Gaussian noise
    of std `noise` on every coordinate, drawn as scikit-learn draws it (one (3, n) array).
    """
    rng = _rng(rng)
    n = _check_n(n)
    t = 1.5 * np.pi * (1 + 2 * rng.uniform(size=n))
    y = 21 * rng.uniform(size=n)
    points = np.stack([t * np.cos(t), y, t * np.sin(t)])
    points += noise * rng.standard_normal(size=(3, n))
    return points.T, t


def swiss_roll(n, rng=None):
    """`n` points of the 2-D Swiss roll (noise 0.25, columns x and z, divided by 7.5), float32 (n, 2)."""
    points, _ = make_swiss_roll(n, noise=0.25, rng=rng)
    return (points[:, [0, 2]] / SWISS_ROLL_SCALE).astype(np.float32)


_SAMPLERS = {"8gaussians": eight_gaussians, "25gaussians": twenty_five_gaussians, "swissroll": swiss_roll}


def sample_toy(name, n, rng=None):
    """`n` points of the toy distribution `name`, float32 (n, 2).

    Parameters
    ----------
    name : {'8gaussians', '25gaussians', 'swissroll'}
    n : int
        Number of points, >= 1.
    rng : numpy.random.RandomState or int, optional
        The source of randomness (an int is a seed); the points are a function of it.

    Raises
    ------
    ValueError
        Unknown `name` (listing the valid ones) or a bad `n`.
    """
    if name not in _SAMPLERS:
        raise ValueError(f"unknown --dataset {name!r}; choose from {', '.join(TOY_DATASETS)}")
    return _SAMPLERS[name](n, rng)


def toy_batches(name, batch_size, rng=None):
    """An endless iterator of float32 (batch_size, 2) batches of `name`, drawn from one RandomState."""
    sample_toy(name, batch_size, np.random.RandomState(0))   # fail now, not at the first next()
    rng = _rng(rng)

    def batches():
        while True:
            yield sample_toy(name, batch_size, rng)
    return batches()
