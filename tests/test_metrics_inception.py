"""FID and Inception Score: the formulas against closed forms, the pipeline on a random InceptionV3."""
import numpy as np
import pytest

from gluon_wgan.data import get_dataset
from gluon_wgan.metrics.inception import (InceptionV3Features, RunningStatistics, activation_statistics,
                                          frechet_distance, inception_score)

METHODS = ("sqrtm", "eigh")


def _random_spd(rng, d):
    a = rng.standard_normal((d, d))
    return a.dot(a.T) / d + 0.1 * np.eye(d)


@pytest.mark.parametrize("method", METHODS)
def test_frechet_distance_of_diagonal_gaussians(method):
    """||mu1 - mu2||^2 + sum(s1 + s2 - 2 sqrt(s1 s2)) for diagonal covariances."""
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    s1, s2 = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    np.testing.assert_allclose(frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2), method=method),
                               expected, rtol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_frechet_distance_of_commuting_covariances(method):
    """Q diag(a) Q^T and Q diag(b) Q^T share eigenvectors: (sigma1 sigma2)^(1/2) = Q diag(sqrt(ab)) Q^T."""
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    a, b = rng.uniform(0.1, 4.0, 8), rng.uniform(0.1, 4.0, 8)
    mu1, mu2 = rng.standard_normal(8), rng.standard_normal(8)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))
    got = frechet_distance(mu1, q.dot(np.diag(a)).dot(q.T), mu2, q.dot(np.diag(b)).dot(q.T), method=method)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_frechet_distance_of_non_commuting_2x2(method):
    """For 2 x 2 matrices, Tr M^(1/2) = sqrt(Tr M + 2 sqrt(det M)) (eigenvalues l1, l2 of M:
    (sqrt l1 + sqrt l2)^2 = l1 + l2 + 2 sqrt(l1 l2)); sigma1 and sigma2 below do not commute."""
    s1, s2 = np.array([[2.0, 0.7], [0.7, 1.0]]), np.array([[0.5, -0.2], [-0.2, 3.0]])
    assert not np.allclose(s1.dot(s2), s2.dot(s1))
    m = s1.dot(s2)
    tr_sqrt = np.sqrt(np.trace(m) + 2 * np.sqrt(np.linalg.det(m)))
    mu1, mu2 = np.array([0.3, -1.0]), np.array([1.0, 0.5])
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    np.testing.assert_allclose(frechet_distance(mu1, s1, mu2, s2, method=method), expected, rtol=1e-12)


def test_sqrtm_and_eigh_agree_on_full_rank_covariances():
    rng = np.random.default_rng(2)
    s1, s2 = _random_spd(rng, 32), _random_spd(rng, 32)
    mu1, mu2 = rng.standard_normal(32), rng.standard_normal(32)
    np.testing.assert_allclose(frechet_distance(mu1, s1, mu2, s2, method="eigh"),
                               frechet_distance(mu1, s1, mu2, s2, method="sqrtm"), rtol=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_fid_of_identical_statistics_is_zero(method):
    rng = np.random.default_rng(3)
    mu, sigma = rng.standard_normal(16), _random_spd(rng, 16)
    assert frechet_distance(mu, sigma, mu, sigma, method=method) == pytest.approx(0.0, abs=1e-10)


def test_eigh_is_exact_for_singular_covariances():
    """Fewer samples than dimensions (the usual case in tests and small evaluations): the oracle is the
    nuclear norm, Tr (X1^T X1 X2^T X2)^(1/2) = ||X1 X2^T||_* for centred activations X1, X2."""
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((8, 64)), 1.5 * rng.standard_normal((10, 64)) + 0.2
    (mu1, s1), (mu2, s2) = activation_statistics(a), activation_statistics(b)
    xa, xb = a - a.mean(0), b - b.mean(0)
    tr_sqrt = np.linalg.svd(xa.dot(xb.T), compute_uv=False).sum() / np.sqrt((len(a) - 1) * (len(b) - 1))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    np.testing.assert_allclose(frechet_distance(mu1, s1, mu2, s2, method="eigh"), expected, rtol=1e-10)
    assert frechet_distance(mu1, s1, mu1, s1, method="eigh") == pytest.approx(0.0, abs=1e-10 * np.trace(s1))


def _rank_deficient_statistics():
    """16 samples in 256 dimensions: both covariances have rank 15, their product is singular."""
    rng = np.random.default_rng(0)
    return (activation_statistics(rng.standard_normal((16, 256))),
            activation_statistics(1.5 * rng.standard_normal((16, 256)) + 0.2))


def test_sqrtm_agrees_with_eigh_on_singular_covariance_products():
    """What scipy's sqrtm returns for a singular product depends on the BLAS (a finite, real root off
    by 1.2 in FID on one machine, a complex one near the truth on another); after the check of its
    error estimate the result is within 1e-5 of the exact (eigh) value either way."""
    (mu1, s1), (mu2, s2) = _rank_deficient_statistics()
    exact = frechet_distance(mu1, s1, mu2, s2, method="eigh")
    np.testing.assert_allclose(frechet_distance(mu1, s1, mu2, s2, method="sqrtm"), exact, rtol=1e-5)


def test_sqrtm_retries_when_its_error_estimate_is_large(monkeypatch, caplog):
    """A finite root whose own error estimate is large is not trusted: the retry with eps on both
    diagonals replaces it (a stand-in sqrtm returns a wrong root first, as some BLAS builds do)."""
    from scipy import linalg

    from gluon_wgan.metrics import inception

    (mu1, s1), (mu2, s2) = _rank_deficient_statistics()
    exact = frechet_distance(mu1, s1, mu2, s2, method="eigh")
    calls, sqrtm = [], linalg.sqrtm

    def wrong_first(a, disp=True):
        calls.append(a)
        root, error = sqrtm(a, disp=False)
        return (2.0 * root.real, 7e31) if len(calls) == 1 else (root, error)

    monkeypatch.setattr(inception.linalg, "sqrtm", wrong_first)
    distance = frechet_distance(mu1, s1, mu2, s2, method="sqrtm")
    assert len(calls) == 2 and "sqrtm error estimate 7e+31" in caplog.text
    np.testing.assert_allclose(calls[1], (s1 + 1e-6 * np.eye(256)).dot(s2 + 1e-6 * np.eye(256)), rtol=1e-12)
    np.testing.assert_allclose(distance, exact, rtol=1e-5)


def test_sqrtm_refuses_a_large_imaginary_part_as_the_references_do():
    rng = np.random.default_rng(1)
    (mu1, s1), (mu2, s2) = (activation_statistics(rng.standard_normal((8, 64))),
                            activation_statistics(1.5 * rng.standard_normal((8, 64)) + 0.2))
    with pytest.raises(ValueError, match="imaginary component.*method 'eigh'"):
        frechet_distance(mu1, s1, mu2, s2, method="sqrtm")


def test_frechet_distance_rejects_bad_input():
    with pytest.raises(ValueError, match="means have shapes"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="covariances have shapes"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(2))
    with pytest.raises(ValueError, match="unknown FID method 'svd'"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(3), method="svd")


@pytest.mark.parametrize("k,splits", [(5, 10), (10, 1), (1000, 2)])
def test_inception_score_of_confident_predictions_over_k_classes_is_k(k, splits):
    """One-hot predictions using K classes equally within every split: p(y) is uniform over K, every
    KL(p(y|x) || p(y)) = log K, so IS = K with no spread (the reference's log(0) would give NaN)."""
    probs = np.tile(np.eye(1000)[:k], (splits, 1))
    mean, std = inception_score(probs, splits=splits)
    assert mean == pytest.approx(k, rel=1e-12) and std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_of_uniform_predictions_is_one():
    mean, std = inception_score(np.full((20, 1000), 1e-3), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_hand_worked():
    """Rows [1, 0] and [.5, .5]: p(y) = [.75, .25]; KLs ln(4/3) and (ln(2/3) + ln 2) / 2;
    IS = exp(mean) = exp(0.2157616...) = 1.2408064..."""
    mean, std = inception_score(np.array([[1.0, 0.0], [0.5, 0.5]]), splits=1)
    assert mean == pytest.approx(np.exp((np.log(4 / 3) + 0.5 * (np.log(2 / 3) + np.log(2))) / 2), rel=1e-12)
    assert mean == pytest.approx(1.2408064, rel=1e-7) and std == 0.0


def test_inception_score_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        inception_score(np.ones(10) / 10)
    with pytest.raises(ValueError, match="rows that sum to 1"):
        inception_score(np.ones((4, 3)), splits=2)
    with pytest.raises(ValueError, match="splits must be between 1 and the number of images"):
        inception_score(np.full((4, 2), 0.5), splits=5)


def test_running_statistics_equal_numpy_on_all_rows():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((23, 7)) * 3 + 100  # a large mean: the pairwise merge keeps precision
    stats = RunningStatistics()
    for part in np.split(x, [1, 5, 16]):
        stats.update(part)
    mu, sigma = stats.result()
    np.testing.assert_allclose(mu, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-12)


# The pipeline on a randomly initialised InceptionV3 (no pretrained weights here: no internet).

@pytest.fixture(scope="module")
def extractor():
    return InceptionV3Features(random_init=True, seed=0, batch_size=16)


@pytest.fixture(scope="module")
def real_images():
    dataset = get_dataset("shapes", image_size=16)
    return np.stack([dataset[i] for i in range(8)])


def test_extractor_outputs(extractor, real_images):
    features, probs = extractor(real_images[:3])
    assert features.shape == (3, 2048) and probs.shape == (3, 1000)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert extractor.identity == "random:seed=0"


def test_pipeline_same_images_give_zero_and_shifted_images_do_not(extractor, real_images):
    """Same images through the extractor twice (two separate calls) -> identical features -> FID 0.

    Tolerance: the statistics are then bit-identical, so the only error is float64 round-off: the pivoted
    Cholesky factor of the rank-7 covariance (8 images) and a 7 x 7 eigenproblem, ~1e-13 relative to
    Tr sigma. 1e-9 * Tr sigma leaves four orders of margin. Brightened images (+0.5, clipped) move the
    random features: their FID must exceed that tolerance by many orders of magnitude.
    """
    mu1, sigma1 = activation_statistics(extractor(real_images)[0])
    mu2, sigma2 = activation_statistics(extractor(real_images)[0])
    mu3, sigma3 = activation_statistics(extractor(np.clip(real_images + 0.5, -1, 1))[0])
    tol = 1e-9 * np.trace(sigma1)
    same = frechet_distance(mu1, sigma1, mu2, sigma2, method="eigh")
    shifted = frechet_distance(mu1, sigma1, mu3, sigma3, method="eigh")
    assert abs(same) <= tol
    assert shifted > 1e6 * tol and shifted > 0.1 * np.trace(sigma1)


def test_pretrained_weights_unavailable_is_a_clear_error(monkeypatch, tmp_path):
    """No internet here: gluoncv's download fails, and the error says what to do instead."""
    monkeypatch.setenv("MXNET_HOME", str(tmp_path))
    monkeypatch.setenv("MXNET_GLUON_REPO", "http://127.0.0.1:9/")  # refused at once, online or not
    with pytest.raises(ValueError, match="could not be fetched.*--inception-weights FILE"):
        InceptionV3Features(pretrained=True)


def test_weights_file_is_loaded_and_named_by_its_hash(extractor, real_images, tmp_path):
    path = str(tmp_path / "inceptionv3.params")
    extractor.net.inception.save_parameters(path)
    loaded = InceptionV3Features(weights=path, batch_size=16)
    assert loaded.identity.startswith("sha1:") and len(loaded.identity) == 45
    np.testing.assert_allclose(loaded(real_images[:2])[0], extractor(real_images[:2])[0], rtol=1e-5, atol=1e-6)


def test_weight_sources_are_checked(tmp_path):
    with pytest.raises(ValueError, match="exactly one InceptionV3 weight source"):
        InceptionV3Features()
    with pytest.raises(ValueError, match="exactly one"):
        InceptionV3Features(weights="x.params", random_init=True)
    with pytest.raises(ValueError, match="--inception-weights .* does not exist"):
        InceptionV3Features(weights=str(tmp_path / "missing.params"))
    bad = tmp_path / "bad.params"
    bad.write_bytes(b"not a params file")
    with pytest.raises(ValueError, match="is not gluoncv InceptionV3 weights") as refused:
        InceptionV3Features(weights=str(bad))
    assert "Traceback" not in str(refused.value) and "Invalid NDArray file format" in str(refused.value)
    with pytest.raises(ValueError, match="dims must be one of"):
        InceptionV3Features(random_init=True, dims=100)
