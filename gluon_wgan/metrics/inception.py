"""FID and Inception Score with gluoncv's InceptionV3: the formulas, the feature extractor, the statistics.

Fréchet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge
to a Local Nash Equilibrium", section 3, eq. 6): the Fréchet distance between Gaussians fitted to the
InceptionV3 pool features of real and generated images. Inception Score (Salimans et al. 2016,
"Improved Techniques for Training GANs", section 4): exp(E_x KL(p(y|x) || p(y))) of InceptionV3's
class probabilities. The reference implementations are bioinf-jku/TTUR (`fid.py`), mseitzer/pytorch-fid
and openai/improved-gan (`inception_score/model.py`).

Numbers need the real pretrained weights, and gluoncv's ImageNet InceptionV3 is not the TensorFlow
graph the papers used: values are comparable between runs of this package, not with published FIDs
(docs/metrics.md).
"""
import contextlib
import hashlib
import io
import logging
import os
import zipfile

import mxnet as mx
import numpy as np
from mxnet.gluon import HybridBlock
from scipy import linalg
from scipy.linalg import lapack
from scipy.special import rel_entr

log = logging.getLogger(__name__)

INPUT_SIZE = 299                       # gluoncv trains and evaluates its Inception models at 299 x 299
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # gluoncv's ImageNet normalisation of [0, 1] RGB inputs
IMAGENET_STD = (0.229, 0.224, 0.225)
# Feature taps as in pytorch-fid's --dims: the channels after the first max pool (64), the second max
# pool (192), Mixed_6e (768) and the final average pool (2048, the standard FID features). Values are
# the index of the last `Inception3.features` layer included.
FEATURE_TAPS = {64: 3, 192: 6, 768: 14, 2048: 18}
FID_METHODS = ("sqrtm", "eigh")
WEIGHTS_HELP = ("download inceptionv3-{hash}.params on a machine with internet access (see "
                "docs/metrics.md) and pass it with --inception-weights FILE")


def gluoncv_model_zoo():
    """``gluoncv.model_zoo``, imported without its side effect on Pillow.

    Importing gluoncv runs ``gluoncv/data/mhp.py``, which sets ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES =
    True`` for the whole process: every truncated JPEG would then decode, padded with grey, instead of
    being counted as a bad record (`gluon_wgan.data.transforms.decode`). The flag is put back.
    """
    from PIL import ImageFile
    before = ImageFile.LOAD_TRUNCATED_IMAGES
    import gluoncv.model_zoo
    ImageFile.LOAD_TRUNCATED_IMAGES = before
    return gluoncv.model_zoo


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6, method="sqrtm"):
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (Heusel et al. 2017, eq. 6).

    d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)).

    Parameters
    ----------
    mu1, mu2 : array_like, shape (D,)
        Means of the activations.
    sigma1, sigma2 : array_like, shape (D, D)
        Covariances of the activations (symmetric positive semi-definite).
    eps : float, default 1e-6
        'sqrtm' only: added to both diagonals when the product is singular, as in TTUR and pytorch-fid.
    method : {'sqrtm', 'eigh'}, default 'sqrtm'
        'sqrtm' follows the reference implementations: ``scipy.linalg.sqrtm(sigma1 @ sigma2)``; when the
        result is not finite *or its own error estimate says it is wrong*, retry with `eps` on the
        diagonals; drop an imaginary part below 1e-3 on the diagonal. (The references check finiteness
        only: with fewer samples than dimensions sqrtm can return finite garbage, docs/metrics.md.)
        'eigh' uses Tr (sigma1 sigma2)^(1/2) = sum sqrt(eigvalsh(B^T sigma2 B)) with sigma1 = B B^T
        (pivoted Cholesky), exact for symmetric PSD matrices, singular ones included, and faster
        (docs/examples/fid_methods.py); both agree to 1e-9 relative on full-rank covariances
        (tests/test_metrics_inception.py).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        For mismatched shapes, an unknown method, or a square root with a large imaginary part.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or mu1.ndim != 1:
        raise ValueError(f"means have shapes {mu1.shape} and {mu2.shape}; expected two equal (D,)")
    if sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"covariances have shapes {sigma1.shape} and {sigma2.shape}; "
                         f"expected ({mu1.size}, {mu1.size})")
    if method not in FID_METHODS:
        raise ValueError(f"unknown FID method {method!r}; choose from {', '.join(FID_METHODS)}")
    diff = mu1 - mu2
    if method == "eigh":
        tr_covmean = _trace_sqrt_product(sigma1, sigma2)
    else:
        tr_covmean = _trace_sqrtm_product(sigma1, sigma2, eps)
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def _trace_sqrtm_product(sigma1, sigma2, eps):
    """Tr sqrtm(sigma1 sigma2) as TTUR / pytorch-fid compute it, plus a check of sqrtm's error estimate."""
    covmean, error = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    scale = max(np.linalg.norm(sigma1.dot(sigma2)), np.finfo(np.float64).tiny)
    if not np.isfinite(covmean).all() or not error < 1e-6 * scale:
        log.warning("FID: singular covariance product (sqrtm error estimate %.3g); adding %g to the "
                    "diagonals as TTUR and pytorch-fid do", error, eps)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean, error = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset), disp=False)
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FID: the matrix square root has an imaginary component of "
                             f"{np.max(np.abs(covmean.imag)):.3g}; use more samples or method 'eigh'")
        covmean = covmean.real
    return float(np.trace(covmean))


def _trace_sqrt_product(sigma1, sigma2):
    """Tr (sigma1 sigma2)^(1/2) for symmetric PSD matrices, exactly, via a factor sigma1 = B B^T.

    The eigenvalues of B B^T sigma2 are those of B^T sigma2 B (AB and BA share their nonzero
    eigenvalues), a symmetric PSD r x r matrix, r = rank(sigma1). B comes from LAPACK's pivoted
    Cholesky (dpstrf), which stops at the numerical rank: with N < D samples, r = N - 1 and the whole
    computation is cheap.
    """
    factor, piv, rank, info = lapack.dpstrf((sigma1 + sigma1.T) / 2, lower=1)
    if info < 0:
        raise ValueError(f"FID: LAPACK dpstrf rejected argument {-info}")
    b = np.empty((len(sigma1), rank))
    b[piv - 1] = np.tril(factor)[:, :rank]    # sigma1 = P L L^T P^T, so B = P L
    inner = b.T.dot(sigma2).dot(b)
    return float(np.sqrt(_drop_roundoff(linalg.eigvalsh((inner + inner.T) / 2))).sum())


def _drop_roundoff(w):
    """Eigenvalues below D * machine epsilon * the largest (numpy's matrix_rank tolerance) set to 0:
    they are round-off of a zero, and their square roots (~1e-8 each) would add up."""
    tol = len(w) * np.finfo(np.float64).eps * max(np.abs(w).max(), np.finfo(np.float64).tiny)
    return np.where(w > tol, w, 0.0)


def inception_score(probs, splits=10):
    """Inception Score exp(E_x KL(p(y|x) || p(y))), mean and standard deviation over `splits` parts
    (Salimans et al. 2016, section 4; split as openai/improved-gan does).

    Parameters
    ----------
    probs : array_like, shape (N, K)
        Class probabilities p(y|x), one row per image (rows sum to 1).
    splits : int, default 10
        Number of consecutive parts; p(y) is estimated within each part.

    Returns
    -------
    (float, float)
        Mean and standard deviation of the per-part scores. Between 1 (every image gets the same
        prediction) and K (confident predictions spread evenly over K classes).

    Raises
    ------
    ValueError
        For a non-2-D array, negative entries, rows not summing to 1, or `splits` outside [1, N].
    """
    probs = np.asarray(probs, np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probs must have shape (N, K), got {probs.shape}")
    if (probs < 0).any() or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("probs must be probabilities: non-negative rows that sum to 1")
    n = probs.shape[0]
    if not 1 <= int(splits) <= n:
        raise ValueError(f"splits must be between 1 and the number of images ({n}), got {splits}")
    scores = []
    for i in range(splits):
        part = probs[i * n // splits:(i + 1) * n // splits]
        # rel_entr is p log(p / q) with 0 log 0 = 0: one-hot rows are fine (the reference gives NaN).
        kl = rel_entr(part, part.mean(axis=0, keepdims=True)).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


class RunningStatistics:
    """Mean and covariance of activations fed in batches, in float64 without keeping the activations.

    Batches are merged with Chan et al.'s pairwise update, so the result equals
    ``x.mean(0), np.cov(x, rowvar=False)`` (ddof = 1, as TTUR and pytorch-fid) of all rows.
    """

    def __init__(self):
        self.n, self.mean, self.m2 = 0, None, None

    def update(self, x):
        """Add the rows of `x`, shape (B, D)."""
        x = np.asarray(x, np.float64)
        if x.ndim != 2 or not len(x):
            raise ValueError(f"activations must have shape (B, D) with B >= 1, got {x.shape}")
        mean_b = x.mean(axis=0)
        centred = x - mean_b
        m2_b = centred.T.dot(centred)
        if self.n == 0:
            self.n, self.mean, self.m2 = len(x), mean_b, m2_b
            return
        n_a, n_b = self.n, len(x)
        delta = mean_b - self.mean
        self.n = n_a + n_b
        self.mean = self.mean + delta * (n_b / self.n)
        self.m2 = self.m2 + m2_b + np.outer(delta, delta) * (n_a * n_b / self.n)

    def result(self):
        """(mu, sigma): shapes (D,) and (D, D); needs at least two rows."""
        if self.n < 2:
            raise ValueError(f"a covariance needs at least 2 images, got {self.n}")
        return self.mean.copy(), self.m2 / (self.n - 1)


def activation_statistics(activations):
    """(mu, sigma) of activations with shape (N, D): mean and covariance (ddof = 1), float64."""
    stats = RunningStatistics()
    stats.update(activations)
    return stats.result()


class _FeatureNet(HybridBlock):
    """[-1, 1] images (N, 3, H, W) -> (features (N, dims), softmax probabilities (N, 1000))."""

    def __init__(self, inception, dims, **kwargs):
        super().__init__(**kwargs)
        self.inception = inception
        self.tap = FEATURE_TAPS[dims]
        self.mean = self.params.get_constant("mean", np.array(IMAGENET_MEAN).reshape(1, 3, 1, 1))
        self.std = self.params.get_constant("std", np.array(IMAGENET_STD).reshape(1, 3, 1, 1))

    def hybrid_forward(self, F, x, mean, std):
        # Bilinear with half-pixel centres (align_corners=False), as pytorch-fid's F.interpolate.
        x = F.contrib.BilinearResize2D(x, height=INPUT_SIZE, width=INPUT_SIZE, align_corners=False)
        x = F.broadcast_div(F.broadcast_sub((x + 1) / 2, mean), std)
        features = None
        for i in range(len(self.inception.features)):
            x = self.inception.features[i](x)
            if i == self.tap:
                features = F.flatten(F.mean(x, axis=(2, 3)))   # average pool to 1 x 1, as pytorch-fid
        return features, F.softmax(self.inception.output(x))


class InceptionV3Features:
    """gluoncv's InceptionV3 as a feature extractor for FID and IS, with its weights chosen explicitly.

    Exactly one weight source: `weights` (a gluon ``.params`` file of ``get_model('inceptionv3')``),
    `pretrained=True` (gluoncv's ImageNet weights: found in ``$MXNET_HOME/models`` or downloaded), or
    `random_init=True` (testing only: He-normal weights from `seed`; the numbers mean nothing).

    Parameters
    ----------
    weights : str, optional
        Path of the weights file (--inception-weights).
    pretrained : bool, default False
    random_init : bool, default False
    seed : int, default 0
        Seed of the random weights (numpy; MXNet's global random state is left alone).
    ctx : mx.Context, default mx.cpu()
    batch_size : int, default 50
        Images per forward pass.
    dims : {64, 192, 768, 2048}, default 2048
        Which features FID uses (pytorch-fid's --dims); 2048, the final average pool, is the standard.

    Attributes
    ----------
    identity : str
        Names the weights (file SHA-1, gluoncv hash, or random seed), for caching statistics.
    comparable_with_papers : bool
        Always False: this is not the TensorFlow graph of published FIDs and Inception Scores; for those,
        `gluon_wgan.metrics.fid_inception.FIDInceptionFeatures` (docs/metrics.md).

    Raises
    ------
    ValueError
        No weight source or more than one; a missing or unloadable weights file; pretrained weights
        that cannot be fetched (the message points to --inception-weights); an unknown `dims`.
    """

    name = "gluoncv"
    comparable_with_papers = False

    def __init__(self, weights=None, pretrained=False, random_init=False, seed=0, ctx=None, batch_size=50,
                 dims=2048):
        get_model = gluoncv_model_zoo().get_model  # lazy: gluoncv takes a second to import

        sources = [name for name, given in (("--inception-weights", weights is not None),
                                            ("pretrained", pretrained), ("random", random_init)) if given]
        if len(sources) != 1:
            raise ValueError("choose exactly one InceptionV3 weight source: --inception-weights FILE, "
                             f"pretrained weights, or random weights (testing only); got {sources or 'none'}")
        if dims not in FEATURE_TAPS:
            raise ValueError(f"dims must be one of {', '.join(map(str, FEATURE_TAPS))}, got {dims!r}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.ctx = ctx or mx.cpu()
        self.batch_size, self.dims = int(batch_size), int(dims)
        if pretrained:
            net, self.identity = _pretrained(self.ctx)
        else:
            net = get_model("inceptionv3", pretrained=False)
            if weights is not None:
                self.identity = _load_weights(net, weights, self.ctx)
            else:
                _random_init(net, seed, self.ctx)
                self.identity = f"random:seed={seed}"
        self.net = _FeatureNet(net, self.dims)
        for constant in (self.net.mean, self.net.std):   # InceptionV3's own parameters are already set
            constant.initialize(ctx=self.ctx)
        self.net.hybridize()

    def __call__(self, images):
        """Features and class probabilities of `images`.

        Parameters
        ----------
        images : numpy.ndarray or mx.nd.NDArray, shape (N, 3, H, W)
            RGB in [-1, 1] (the generator's tanh range); resized to 299 x 299 bilinearly.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            Features (N, dims) and softmax probabilities (N, 1000), float32.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (N, 3, H, W), got {tuple(images.shape)}")
        features, probs = [], []
        for start in range(0, images.shape[0], self.batch_size):
            batch = images[start:start + self.batch_size]
            batch = batch.as_in_context(self.ctx) if isinstance(batch, mx.nd.NDArray) else \
                mx.nd.array(batch, ctx=self.ctx)
            f, p = self.net(batch.astype("float32"))
            features.append(f.asnumpy())   # host sync per batch: the caller accumulates on the host
            probs.append(p.asnumpy())
        return np.concatenate(features), np.concatenate(probs)


def _pretrained(ctx):
    """gluoncv's pretrained InceptionV3 and its identity, or a ValueError saying what to do instead."""
    get_model = gluoncv_model_zoo().get_model
    from gluoncv.model_zoo.model_store import short_hash

    tag = short_hash("inceptionv3")
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output):   # gluoncv prints its download progress
            net = get_model("inceptionv3", pretrained=True, ctx=ctx)
    except (OSError, RuntimeError, ValueError, UserWarning, zipfile.BadZipFile) as err:
        # requests' errors are OSErrors; gluoncv raises RuntimeError on HTTP errors and ValueError or
        # UserWarning on a hash mismatch.
        raise ValueError(f"gluoncv's pretrained InceptionV3 weights could not be fetched "
                         f"({type(err).__name__}); {WEIGHTS_HELP.format(hash=tag)}") from None
    finally:
        if output.getvalue():
            log.debug("%s", output.getvalue().strip())
    return net, f"gluoncv:inceptionv3-{tag}"


def _load_weights(net, path, ctx):
    """Load a .params file into `net`; return its identity for caches: gluoncv's name for gluoncv's own
    file (so the statistics cached with ``pretrained=True`` are reused), else ``sha1:<SHA-1>``."""
    if not os.path.isfile(path):
        raise ValueError(f"--inception-weights {path!r} does not exist")
    sha1 = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha1.update(chunk)
    try:
        net.load_parameters(path, ctx=ctx)
    except (AssertionError, mx.base.MXNetError, OSError, ValueError) as err:
        # Gluon 1.x asserts on missing or mismatched parameter names.
        # An MXNetError's text is a C++ traceback; its last line says what was wrong.
        lines = str(err).strip().splitlines()
        reason = lines[-1 if isinstance(err, mx.base.MXNetError) else 0] if lines else type(err).__name__
        raise ValueError(f"--inception-weights {path!r} is not gluoncv InceptionV3 weights ({reason[:200]})") \
            from None
    gluoncv_model_zoo()
    from gluoncv.model_zoo.model_store import _model_sha1   # the hash gluoncv checks its download against

    if sha1.hexdigest() == _model_sha1["inceptionv3"]:
        return f"gluoncv:inceptionv3-{sha1.hexdigest()[:8]}"
    return "sha1:" + sha1.hexdigest()


def _random_init(net, seed, ctx):
    """He-normal convolutions and dense layer, identity BatchNorm, from numpy's generator `seed`.

    He initialisation keeps activations O(1) through the ReLUs, so random features still separate
    images; numpy keeps MXNet's global seed (which the training loop sets) untouched.
    """
    net.initialize(mx.init.Zero(), ctx=ctx)
    net(mx.nd.zeros((1, 3, INPUT_SIZE, INPUT_SIZE), ctx=ctx))   # resolve deferred shapes
    rng = np.random.default_rng(seed)
    for name, param in sorted(net.collect_params().items()):
        shape = param.shape
        if name.endswith("weight"):
            fan_in = int(np.prod(shape[1:]))
            value = rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        elif name.endswith(("gamma", "running_var")):
            value = np.ones(shape, np.float32)
        else:   # beta, bias, running_mean
            value = np.zeros(shape, np.float32)
        param.set_data(mx.nd.array(value, ctx=ctx))
