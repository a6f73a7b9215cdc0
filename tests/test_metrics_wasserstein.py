"""Exact W1 on equal-size point sets: closed forms, invariances, and refused inputs."""
import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from gluon_wgan.metrics import grad_norm_summary, wasserstein1


@pytest.mark.parametrize("n", [1, 7, 200])
def test_one_dimensional_equals_sorted_matching(n):
    rng = np.random.RandomState(n)
    a, b = rng.normal(size=n), rng.exponential(size=n) + 0.3
    expected = wasserstein_distance(a, b)
    np.testing.assert_allclose(wasserstein1(a, b), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(wasserstein1(a[:, None], b[:, None]), np.mean(np.abs(np.sort(a) - np.sort(b))),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("d", [2, 5])
def test_translated_set_costs_exactly_the_shift(d):
    # W1 >= ||mean(a) - mean(b)|| = ||v|| by the triangle inequality, and the identity attains it.
    rng = np.random.RandomState(d)
    a = rng.normal(size=(300, d))
    v = rng.normal(size=d)
    np.testing.assert_allclose(wasserstein1(a, a + v), np.linalg.norm(v), rtol=1e-12)


def test_identical_and_permuted_sets_are_zero():
    a = np.random.RandomState(0).normal(size=(100, 2))
    assert wasserstein1(a, a) == 0.0
    assert wasserstein1(a, a[::-1]) == 0.0


def test_permutation_invariance_and_symmetry():
    rng = np.random.RandomState(1)
    a, b = rng.normal(size=(150, 2)), rng.uniform(size=(150, 2))
    w = wasserstein1(a, b)
    np.testing.assert_allclose(wasserstein1(a[rng.permutation(150)], b[rng.permutation(150)]), w, rtol=1e-12)
    np.testing.assert_allclose(wasserstein1(b, a), w, rtol=1e-12)


def test_hand_worked_example_needs_the_optimal_plan():
    # Matching in the given order costs (sqrt(2) + sqrt(2)) / 2; the optimal plan crosses: 1.
    a = np.array([[0.0, 0.0], [1.0, 0.0]])
    b = np.array([[1.0, 1.0], [0.0, 1.0]])
    w1, plan = wasserstein1(a, b, return_plan=True)
    assert w1 == 1.0
    np.testing.assert_array_equal(plan, [1, 0])


@pytest.mark.parametrize("a,b,match", [
    (np.zeros((3, 2)), np.zeros((4, 2)), "same number of points"),
    (np.zeros((3, 2)), np.zeros((3, 3)), "same number of points"),
    (np.zeros((3, 2, 2)), np.zeros((3, 2, 2)), r"\(n, d\)"),
    (np.zeros((0, 2)), np.zeros((0, 2)), "non-empty"),
    (np.array([[0.0, np.nan]]), np.zeros((1, 2)), "NaN"),
])
def test_bad_input(a, b, match):
    with pytest.raises(ValueError, match=match):
        wasserstein1(a, b)


def test_grad_norm_summary_values():
    s = grad_norm_summary([0.5, 1.0, 1.5, 3.0])
    assert s == pytest.approx(dict(grad_norm_mean=1.5, grad_norm_std=np.std([0.5, 1, 1.5, 3]), grad_norm_min=0.5,
                                   grad_norm_median=1.25, grad_norm_max=3.0, grad_norm_frac_above_1=0.5))
    assert set(grad_norm_summary([1.0], prefix="")) == {"mean", "std", "min", "median", "max", "frac_above_1"}
    with pytest.raises(ValueError):
        grad_norm_summary([])
    with pytest.raises(ValueError):
        grad_norm_summary([1.0, np.inf])
