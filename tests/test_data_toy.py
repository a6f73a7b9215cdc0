"""The toy distributions match the released code's constants (gan_toy.py): modes, radius, std, scale."""
import numpy as np
import pytest

from gluon_wgan.data.toy import (TOY_DATASETS, eight_gaussian_centers, make_swiss_roll, sample_toy,
                                 toy_batches, twenty_five_gaussian_centers)


def _modes(points, centers):
    """Index of the nearest centre of each point."""
    return np.argmin(((points[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)


def test_eight_gaussians_modes_radius_and_std():
    points = sample_toy("8gaussians", 40000, 0).astype(np.float64)
    centers = eight_gaussian_centers() / 1.414
    np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 2 / 1.414)
    modes = _modes(points, centers)
    counts = np.bincount(modes, minlength=8)
    np.testing.assert_allclose(counts / len(points), 1 / 8, atol=0.01)
    offsets = points - centers[modes]
    np.testing.assert_allclose(offsets.mean(axis=0), 0, atol=3e-4)
    np.testing.assert_allclose(offsets.std(axis=0), 0.02 / 1.414, rtol=0.02)
    np.testing.assert_allclose(np.linalg.norm(points, axis=1).mean(), 2 / 1.414, rtol=1e-3)


def test_eight_gaussian_centers_are_the_released_ones():
    s = 1 / np.sqrt(2)
    released = 2 * np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s), (-s, -s)])
    ours = eight_gaussian_centers()
    assert sorted(map(tuple, np.round(ours, 12))) == sorted(map(tuple, np.round(released, 12)))


def test_twenty_five_gaussians_grid_and_std():
    points = sample_toy("25gaussians", 50000, 1).astype(np.float64)
    centers = twenty_five_gaussian_centers() / 2.828
    assert sorted(set(np.round(twenty_five_gaussian_centers()[:, 0], 9))) == [-4, -2, 0, 2, 4]
    modes = _modes(points, centers)
    np.testing.assert_allclose(np.bincount(modes, minlength=25) / len(points), 1 / 25, atol=0.005)
    np.testing.assert_allclose((points - centers[modes]).std(axis=0), 0.05 / 2.828, rtol=0.02)


def test_swiss_roll_without_noise_lies_on_the_spiral():
    points, t = make_swiss_roll(1000, noise=0.0, rng=3)
    np.testing.assert_allclose(points[:, 0], t * np.cos(t), atol=1e-12)
    np.testing.assert_allclose(points[:, 2], t * np.sin(t), atol=1e-12)
    assert t.min() >= 1.5 * np.pi and t.max() < 4.5 * np.pi
    assert 0 <= points[:, 1].min() and points[:, 1].max() < 21


def test_swiss_roll_is_columns_x_z_with_noise_over_7_5():
    rng_a, rng_b = np.random.RandomState(5), np.random.RandomState(5)
    points = sample_toy("swissroll", 2000, rng_a).astype(np.float64)
    raw, t = make_swiss_roll(2000, noise=0.25, rng=rng_b)
    np.testing.assert_allclose(points, raw[:, [0, 2]] / 7.5, rtol=1e-6, atol=1e-6)
    residual = raw[:, [0, 2]] - np.stack([t * np.cos(t), t * np.sin(t)], axis=1)
    np.testing.assert_allclose(residual.std(axis=0), 0.25, rtol=0.05)


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_deterministic_given_seed_and_float32(name):
    a, b, c = sample_toy(name, 64, 7), sample_toy(name, 64, np.random.RandomState(7)), sample_toy(name, 64, 8)
    assert a.dtype == np.float32 and a.shape == (64, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    batches = toy_batches(name, 16, 7)
    first, second = next(batches), next(batches)
    assert first.shape == (16, 2) and not np.array_equal(first, second)


def test_bad_input():
    with pytest.raises(ValueError, match="8gaussians, 25gaussians, swissroll"):
        sample_toy("moons", 10)
    with pytest.raises(ValueError, match="positive integer"):
        sample_toy("8gaussians", 0)
    with pytest.raises(ValueError, match="unknown --dataset"):
        toy_batches("moons", 10)
