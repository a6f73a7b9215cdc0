"""The FID Inception network as a feature extractor: FID and IS comparable with the papers' numbers.

Four modules, one concern each, make up the extractor:

- `gluon_wgan.metrics.fid_network`: the TensorFlow Inception graph of 2015-12-05 in Gluon;
- `gluon_wgan.metrics.torch_reader`: the restricted reader of the downloaded ``.pth`` (the security
  boundary: it runs nothing from the file);
- `gluon_wgan.metrics.fid_weights`: the downloaded weights checked against the network and converted
  once into a checksummed ``.npz`` cache;
- this module: `FIDInceptionFeatures`, the network with those weights, batch by batch.

The names callers imported from here before the split stay importable from here (a test that patches
one patches it where it is defined: `fid_weights.read_torch_state_dict`, not this module's).
"""
import mxnet as mx
import numpy as np

from .fid_network import BN_EPS, FEATURE_TAPS, INPUT_SIZE, NUM_CLASSES, FIDInceptionV3, gluon_name, parameter_shapes
from .fid_weights import (CACHE_FORMAT, PUBLISHED_SHA256_PREFIX, WEIGHTS_FILE, WEIGHTS_URL, convert,
                          default_cache_dir, load_weights, sha256_of)
from .torch_reader import read_torch_state_dict

__all__ = ["FIDInceptionFeatures", "FIDInceptionV3", "parameter_shapes", "gluon_name", "read_torch_state_dict",
           "load_weights", "convert", "default_cache_dir", "sha256_of", "WEIGHTS_FILE", "WEIGHTS_URL",
           "PUBLISHED_SHA256_PREFIX", "CACHE_FORMAT", "INPUT_SIZE", "NUM_CLASSES", "FEATURE_TAPS", "BN_EPS"]


class FIDInceptionFeatures:
    """The FID Inception network as a feature extractor: FID and IS comparable with the papers' numbers.

    Same interface as `gluon_wgan.metrics.inception.InceptionV3Features` (``__call__``, ``identity``,
    ``dims``, ``batch_size``, ``ctx``), so `gluon_wgan.training.evaluate` takes either.

    Parameters
    ----------
    weights : str
        ``pt_inception-2015-12-05-6726825d.pth`` (the user downloads it: docs/metrics.md).
    cache_dir : str, optional
        Where the converted weights are kept; default `default_cache_dir()`.
    ctx : mx.Context, default mx.cpu()
    batch_size : int, default 50
    dims : {64, 192, 768, 2048}, default 2048

    Attributes
    ----------
    identity : str
        ``pt_inception-2015-12-05-6726825d`` for the published file, else ``fid-inception:sha256:<hex>``.
    comparable_with_papers : bool
        True for the published file at 2048 dims: the numbers may stand next to papers' (docs/metrics.md).

    Raises
    ------
    ValueError
        As `load_weights`; a `batch_size` below 1 or an unknown `dims`.
    """

    name = "fid-inception"

    def __init__(self, weights, cache_dir=None, ctx=None, batch_size=50, dims=2048):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.net = FIDInceptionV3(dims=dims)
        arrays, self.identity = load_weights(weights, cache_dir)
        self.comparable_with_papers = self.identity == WEIGHTS_FILE[:-len(".pth")] and dims == 2048
        self.ctx = ctx or mx.cpu()
        self.batch_size, self.dims = int(batch_size), int(dims)
        for name, param in self.net.collect_params().items():
            param.initialize(mx.init.Constant(0), ctx=self.ctx)
            param.set_data(mx.nd.array(arrays[name], ctx=self.ctx))
        self.net.hybridize(static_alloc=True)

    def outputs(self, images):
        """Features (N, dims), logits (N, 1008) and logits without bias (N, 1008), float32 numpy arrays.

        `images`: numpy array or NDArray (N, 3, H, W), RGB in [-1, 1].
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (N, 3, H, W), got {tuple(images.shape)}")
        parts = []
        for start in range(0, images.shape[0], self.batch_size):
            batch = images[start:start + self.batch_size]
            batch = batch.as_in_context(self.ctx) if isinstance(batch, mx.nd.NDArray) else \
                mx.nd.array(batch, ctx=self.ctx)
            parts.append([out.asnumpy() for out in self.net(batch.astype("float32"))])  # host sync per batch
        return tuple(np.concatenate(column) for column in zip(*parts))

    def __call__(self, images):
        """Features (N, dims) and class probabilities (N, 1008) of `images` (N, 3, H, W) in [-1, 1].

        The probabilities are the softmax of the logits *without* the bias, as openai/improved-gan's
        Inception Score (and the WGAN-GP paper's copy of it) computes them; in float64.
        """
        features, _, unbiased = self.outputs(images)
        z = unbiased.astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        probs = np.exp(z)
        return features, probs / probs.sum(axis=1, keepdims=True)
