"""Exact 1-Wasserstein distance between two equal-size point sets (the WGAN-GP toy experiments).

For two empirical distributions with n points each and weight 1/n per point, an optimal transport
plan can be taken to be a permutation (Birkhoff-von Neumann: the transport polytope of two uniform
n-point measures is the polytope of doubly stochastic matrices, whose vertices are permutations).
So W1 = min over permutations s of (1/n) sum_i ||a_i - b_s(i)||_2, an assignment problem that
`scipy.optimize.linear_sum_assignment` solves exactly (Villani 2009, *Optimal Transport*, ch. 6;
Peyre & Cuturi 2019, *Computational Optimal Transport*, section 2.2).
"""
import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist


def _points(x, name):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]                       # n scalars are n points on the line
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (n, d) array of points, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def wasserstein1(a, b, return_plan=False):
    """Exact W1 between the uniform empirical measures on point sets `a` and `b`, Euclidean cost.

    Parameters
    ----------
    a, b : array_like, shape (n, d) or (n,)
        The same number n of points in the same dimension d (a 1-D array is n points on the line).
    return_plan : bool, default False
        Also return the optimal assignment: `b[plan[i]]` is matched with `a[i]`.

    Returns
    -------
    float, or (float, ndarray of int of shape (n,)) when `return_plan`
        mean_i ||a_i - b_plan(i)||_2 for the optimal permutation. O(n^3) time, O(n^2) memory
        (benchmarks/README.md has a timing).

    Raises
    ------
    ValueError
        Shapes that are not (n, d), sets of different sizes or dimensions, or non-finite values.
    """
    a, b = _points(a, "a"), _points(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same number of points in the same dimension, "
                         f"got shapes {a.shape} and {b.shape}")
    cost = cdist(a, b)                       # Euclidean distances, (n, n)
    rows, cols = linear_sum_assignment(cost)
    w1 = float(cost[rows, cols].mean())
    return (w1, cols) if return_plan else w1
