"""The FID Inception weights: the published file, converted once into a checksummed ``.npz`` cache.

The user downloads ``pt_inception-2015-12-05-6726825d.pth`` (docs/metrics.md). `load_weights` reads
it through `gluon_wgan.metrics.torch_reader` (which runs nothing from the file), checks the tensors
against `gluon_wgan.metrics.fid_network` (`convert`), and writes them as a ``.npz`` of this package
whose SHA-256 is recorded in a manifest next to it, so later runs never parse the ``.pth`` again.
The identity it returns (the published name, else the file's SHA-256) keys the caches of statistics.
"""
import hashlib
import io
import json
import logging
import os

import numpy as np

from ..utils.cache import cache_path
from ..utils.files import atomic_write
from .fid_network import gluon_name, parameter_shapes
from .torch_reader import read_torch_state_dict

log = logging.getLogger(__name__)

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILE
# torch.hub names a file <name>-<first 8 hex digits of its SHA-256>.pth and checks that prefix.
PUBLISHED_SHA256_PREFIX = "6726825d"
CACHE_FORMAT = 1       # bump when the converted file's layout changes


def default_cache_dir():
    """``fid_inception/`` in the package's cache folder (`gluon_wgan.utils.cache.cache_path`)."""
    return cache_path("fid_inception")


def sha256_of(path):
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert(state_dict):
    """pytorch-fid's tensors -> {Gluon parameter name: float32 array}, checked against the network.

    Raises
    ------
    ValueError
        Naming the missing, unexpected or misshapen parameters (at most five of each).
    """
    shapes = parameter_shapes()
    arrays = {gluon_name(k): v for k, v in state_dict.items() if not k.endswith(".num_batches_tracked")}
    missing = sorted(set(shapes) - set(arrays))
    extra = sorted(set(arrays) - set(shapes))
    wrong = sorted(k for k in set(shapes) & set(arrays) if tuple(arrays[k].shape) != shapes[k])
    if missing or extra or wrong:
        parts = [f"{label} {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
                 for label, names in (("missing", missing), ("unexpected", extra), ("misshapen", wrong)) if names]
        raise ValueError("not the FID Inception weights: " + "; ".join(parts))
    return {k: np.asarray(arrays[k], np.float32) for k in shapes}


def load_weights(path, cache_dir=None):
    """The FID Inception weights of `path`, converted once and then read from `cache_dir`.

    The first call reads the ``.pth`` (`read_torch_state_dict`), checks it against the network
    (`convert`), and writes ``fid_inception-<SHA-256 of the .pth, 16 digits>.npz`` plus a ``.json``
    manifest with both files' SHA-256. Later calls hash the ``.pth`` to find the entry, check the
    ``.npz`` against its recorded SHA-256, and never parse the ``.pth``.

    Parameters
    ----------
    path : str
        ``pt_inception-2015-12-05-6726825d.pth`` as downloaded (or any file of that layout).
    cache_dir : str, optional
        Where converted files live; default `default_cache_dir()`.

    Returns
    -------
    (dict, str)
        {Gluon parameter name: float32 array}, and the weights' identity for caches of statistics:
        ``pt_inception-2015-12-05-6726825d`` for the published file, else ``fid-inception:sha256:<hex>``.

    Raises
    ------
    ValueError
        A missing or unreadable file, refused contents, a layout that is not the network's, or a cached
        ``.npz`` whose SHA-256 differs from its manifest (one line: delete both files to convert again).
    """
    if not os.path.isfile(path):
        raise ValueError(f"--inception-weights {path!r} does not exist (download {WEIGHTS_URL} yourself: "
                         "see docs/metrics.md)")
    source_sha = sha256_of(path)
    published = source_sha.startswith(PUBLISHED_SHA256_PREFIX)
    identity = WEIGHTS_FILE[:-len(".pth")] if published else f"fid-inception:sha256:{source_sha}"
    if not published:
        log.warning("%s is not the published FID Inception file (SHA-256 %s... does not start with %s): its "
                    "numbers are not comparable with papers'", path, source_sha[:12], PUBLISHED_SHA256_PREFIX)
    cache_dir = cache_dir or default_cache_dir()
    npz = os.path.join(cache_dir, f"fid_inception-{source_sha[:16]}.npz")
    manifest = npz[:-len(".npz")] + ".json"
    if os.path.isfile(npz) and os.path.isfile(manifest):
        return _read_converted(npz, manifest, source_sha), identity
    try:
        arrays = convert(read_torch_state_dict(path))
    except ValueError as err:
        message = str(err)
        raise ValueError(message if message.startswith(path) else f"{path}: {message}") from None
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    try:
        atomic_write(npz, data)       # the manifest last: without it the .npz is converted again
        atomic_write(manifest, json.dumps(dict(
            format=CACHE_FORMAT, source=os.path.basename(path), source_sha256=source_sha,
            sha256=hashlib.sha256(data).hexdigest()), indent=2, sort_keys=True).encode() + b"\n")
        log.info("converted %s to %s", path, npz)
    except OSError as err:    # a read-only or full cache costs a conversion per run, not the evaluation
        log.warning("cannot cache the converted weights in %s (%s); they will be converted again next time",
                    cache_dir, err)
    return arrays, identity


def _read_converted(npz, manifest, source_sha):
    """The arrays of a converted file, after checking it against its manifest."""
    try:
        with open(manifest) as f:
            meta = json.load(f)
        recorded = meta["sha256"], meta["source_sha256"], meta["format"]
    except (OSError, ValueError, KeyError, TypeError) as err:     # damaged or edited by hand
        raise ValueError(f"{manifest} is damaged ({type(err).__name__}); delete it and {npz} to convert "
                         "the weights again") from None
    actual = sha256_of(npz)
    if recorded != (actual, source_sha, CACHE_FORMAT):
        raise ValueError(f"{npz} has SHA-256 {actual[:16]}..., not the {str(recorded[0])[:16]}... recorded in "
                         f"{manifest} when it was converted (or another source or format); delete both to "
                         "convert the weights again")
    shapes = parameter_shapes()
    with np.load(npz, allow_pickle=False) as stored:
        if set(stored.files) != set(shapes):
            raise ValueError(f"{npz} does not hold the FID Inception parameters; delete it to convert again")
        return {k: stored[k] for k in shapes}
