"""FID and Inception Score of a generator against a dataset: the pipeline behind scripts/evaluate.py.

Three pieces with plain arguments:

- `real_statistics(extractor, dataset, ...)`: InceptionV3 statistics of real images, cached on disk per
  (dataset, root, image size, resize backend and filter, number of images, weights, feature dims).
- `evaluate_generator(generator, real_stats, extractor, ...)`: FID and IS of generated samples; what
  the training loop calls every --eval-every generator iterations.
- `evaluate_run(run_dir, extractor, ...)`: the generator of a run folder's latest checkpoint, evaluated,
  and ``<run_dir>/eval.json`` written.

Formulas and the extractor live in `gluon_wgan.metrics.inception`; docs/metrics.md says what the
numbers mean and why they need the real pretrained weights.
"""
import hashlib
import io
import json
import logging
import os
import tempfile
import time
import zipfile

import mxnet as mx
import numpy as np

from ..config import bfloat16_problems, from_dict
from ..data import BadRecord, get_dataset
from ..utils.cache import cache_path
from ..utils.files import atomic_write, atomic_write_json, check_writable_dir
from ..metrics.fid_inception import FIDInceptionFeatures
from ..metrics.fid_weights import WEIGHTS_FILE as FID_WEIGHTS_FILE
from ..metrics.inception import InceptionV3Features, RunningStatistics, frechet_distance, inception_score
from ..models.precision import set_compute_dtype
from . import checkpoint
from .build import build_generator
from .choices import INCEPTIONS, sample_count_problems

log = logging.getLogger(__name__)
CACHE_VERSION = 1      # bump when the way real statistics are computed changes
N_SAMPLES = 50000      # Heusel et al. 2017 and Salimans et al. 2016 both use 50,000 samples


def default_cache_dir():
    """``inception/`` in the package's cache folder (`gluon_wgan.utils.cache.cache_path`)."""
    return cache_path("inception")


def make_extractor(inception="gluoncv", weights=None, random_init=False, ctx=None, batch_size=50, dims=2048,
                   seed=0):
    """The Inception network that FID and IS are computed with, by name (--inception).

    Parameters
    ----------
    inception : {'gluoncv', 'fid-inception'}, default 'gluoncv'
        'fid-inception': the TensorFlow FID Inception graph behind published FIDs and Inception Scores
        (`gluon_wgan.metrics.fid_inception`), from `weights`, the ``pt_inception-2015-12-05-6726825d.pth``
        that the user downloads (converted once and cached). 'gluoncv': gluoncv's ImageNet InceptionV3,
        whose numbers compare runs of this package only, from `weights` (a ``.params`` file), its
        pretrained weights (when `weights` is None), or random weights (`random_init`, testing only).
    weights : str, optional
    random_init : bool, default False
    ctx, batch_size, dims
        As the extractors take them.
    seed : int, default 0
        Seed of the random weights.

    Raises
    ------
    ValueError
        An unknown `inception`; 'fid-inception' without `weights` or with `random_init`; a PyTorch file
        given to 'gluoncv'; and what the extractors raise (missing, refused or mismatched weights).
    """
    if inception == "fid-inception":
        if random_init:
            raise ValueError("--random-inception is for --inception gluoncv only; --inception fid-inception "
                             "needs its weights file")
        if not weights:
            raise ValueError(f"--inception fid-inception needs --inception-weights {FID_WEIGHTS_FILE}, which you "
                             "download yourself (see docs/metrics.md)")
        return FIDInceptionFeatures(weights, ctx=ctx, batch_size=batch_size, dims=dims)
    if inception != "gluoncv":
        raise ValueError(f"--inception must be one of {', '.join(INCEPTIONS)}, got {inception!r}")
    if weights and weights.endswith((".pth", ".pt")):
        raise ValueError(f"--inception-weights {weights!r} is a PyTorch file; for the FID Inception network "
                         "add --inception fid-inception")
    return InceptionV3Features(weights=weights, pretrained=not (weights or random_init), random_init=random_init,
                               seed=seed, ctx=ctx, batch_size=batch_size, dims=dims)


def real_statistics(extractor, dataset, root=None, image_size=64, resize_backend="pillow",
                    interpolation="bicubic", lsun_category="bedroom", n_images=N_SAMPLES, cache_dir=None,
                    seed=0, splits=10):
    """InceptionV3 statistics of `n_images` real images, read from or written to `cache_dir`.

    The images are those training sees (same dataset, size, resize backend and filter, values in
    [-1, 1]), a seeded random subset when the dataset is larger; unreadable records are skipped.

    Parameters
    ----------
    extractor : gluon_wgan.metrics.inception.InceptionV3Features
    dataset, root, image_size, resize_backend, interpolation, lsun_category
        As `gluon_wgan.data.get_dataset` (the run's --dataset, --dataroot, ... options).
    n_images : int, default 50000
        Capped at the dataset's size.
    cache_dir : str, optional
        Folder of cached statistics; None computes without caching.
    seed : int, default 0
        Seed of the subset.
    splits : int, default 10
        Inception Score splits of the real images (a reference value for the generated ones).

    Returns
    -------
    dict
        ``mu`` (D,), ``sigma`` (D, D), ``n``, ``is_mean``, ``is_std``, ``key`` (what the cache entry
        depends on), ``path`` (cache file or None) and ``cached`` (True when read from the cache).

    Raises
    ------
    ValueError
        Bad dataset options (from `get_dataset`), `n_images` < 2, or no readable image.
    """
    for problem in sample_count_problems("--n-real", n_images):
        raise ValueError(problem)
    data = get_dataset(dataset, root=root, image_size=image_size, resize_backend=resize_backend,
                       interpolation=interpolation, lsun_category=lsun_category)
    n = min(int(n_images), len(data))
    key = dict(version=CACHE_VERSION, dataset=dataset, root=os.path.abspath(root) if root else None,
               lsun_category=lsun_category if dataset == "lsun" else None, dataset_size=len(data),
               image_size=int(image_size), resize_backend=resize_backend, interpolation=interpolation,
               n_images=n, seed=int(seed), splits=int(splits), weights=extractor.identity,
               dims=extractor.dims)
    path = None
    if cache_dir:
        digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        path = os.path.join(cache_dir, f"{dataset}{image_size}-n{n}-d{extractor.dims}-{digest}.npz")
        cached = _read_cache(path, key)
        if cached is not None:
            return dict(cached, key=key, path=path, cached=True)
        path = _writable_cache(cache_dir, path)
    stats, probs, skipped = RunningStatistics(), [], 0
    order = iter(np.random.default_rng(seed).permutation(len(data)))
    while stats.n < n:
        batch = []
        for index in order:
            try:
                batch.append(data[int(index)])
            except BadRecord as err:
                skipped += 1
                log.warning("real statistics: skipping unreadable record %d (%s)", index, err)
            if len(batch) == min(extractor.batch_size, n - stats.n):
                break
        if not batch:
            break
        features, p = extractor(np.stack(batch))
        stats.update(features)
        probs.append(p)
    if stats.n < 2:
        raise ValueError(f"--dataset {dataset}: fewer than 2 readable images ({skipped} unreadable)")
    mu, sigma = stats.result()
    is_mean, is_std = inception_score(np.concatenate(probs), min(splits, stats.n))
    result = dict(mu=mu, sigma=sigma, n=stats.n, is_mean=is_mean, is_std=is_std)
    if path:
        buffer = io.BytesIO()
        np.savez(buffer, key=json.dumps(key, sort_keys=True), **result)
        try:
            atomic_write(path, buffer.getvalue())
        except OSError as err:   # the disk filled meanwhile: the statistics are good, only not kept
            log.warning("cannot cache the real-image statistics in %s (%s); they were not kept", path,
                        err.strerror or err)
            path = None
    return dict(result, key=key, path=path, cached=False)


def _writable_cache(cache_dir, path):
    """`path` if `cache_dir` can be written, else None with a warning, before any statistics are computed.

    A cache only saves time: a read-only home or a full quota should cost that time, not the
    evaluation, which would otherwise fail after its work is done.
    """
    try:
        check_writable_dir(cache_dir)
    except ValueError as err:
        log.warning("the real-image statistics cannot be cached (%s); computing them without a cache "
                    "(choose a writable --cache-dir or GLUON_WGAN_CACHE, or pass --no-cache)", err)
        return None
    return path


def _read_cache(path, key):
    """The statistics stored at `path` if it exists and was computed for `key`, else None."""
    if not os.path.isfile(path):
        return None
    try:
        with np.load(path) as stored:
            if json.loads(str(stored["key"])) != json.loads(json.dumps(key)):
                log.warning("%s was computed for other options; recomputing", path)
                return None
            return dict(mu=stored["mu"], sigma=stored["sigma"], n=int(stored["n"]),
                        is_mean=float(stored["is_mean"]), is_std=float(stored["is_std"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:  # not ours, or damaged by hand
        log.warning("cannot read cached statistics %s (%s: %s); recomputing", path, type(err).__name__, err)
        return None


def evaluate_generator(generator, real_stats, extractor, n_samples=N_SAMPLES, batch_size=64, nz=None,
                       ctx=None, seed=0, splits=10, fid_method="sqrtm"):
    """FID against `real_stats` and Inception Score of `n_samples` images from `generator`.

    The noise comes from numpy's generator `seed` (the same samples at every call, and MXNet's global
    random state untouched). The generator runs in train mode, i.e. BatchNorm with batch statistics,
    as the reference code samples it and as `batch_size` images are seen in training (train mode
    outside `autograd.record()` does not update the running statistics on MXNet 1.9.1). Images are
    clipped to [-1, 1] (the MLP generator has no tanh), as when they are saved.

    Parameters
    ----------
    generator : mx.gluon.HybridBlock
        z (B, nz) -> images (B, 3, H, W) in [-1, 1]; initialized.
    real_stats : dict
        From `real_statistics` (``mu``, ``sigma``).
    extractor : gluon_wgan.metrics.inception.InceptionV3Features
        The extractor that computed `real_stats`.
    n_samples : int, default 50000
    batch_size : int, default 64
        Samples per generator forward pass (the training batch size keeps BatchNorm's statistics).
    nz : int, optional
        Latent size; default ``generator.nz``.
    ctx : mx.Context, optional
        Where the generator runs; default the context of its parameters.
    seed : int, default 0
    splits : int, default 10
        Inception Score splits (capped at `n_samples`).
    fid_method : {'sqrtm', 'eigh'}, default 'sqrtm'
        See `frechet_distance`. When 'sqrtm' cannot give a real root (fewer samples than feature
        dimensions leave the covariances singular), the exact 'eigh' is used, with a warning.

    Returns
    -------
    dict
        ``fid``, ``is_mean``, ``is_std``, ``n`` (plain Python numbers, JSON-ready) and the
        ``fid_method`` that computed the FID.
    """
    for problem in sample_count_problems("--n-samples", n_samples):
        raise ValueError(problem)
    nz = nz or generator.nz
    ctx = ctx or next(iter(generator.collect_params().values())).list_ctx()[0]
    rng = np.random.default_rng(seed)
    stats, probs, done = RunningStatistics(), [], 0
    while done < n_samples:
        b = min(batch_size, n_samples - done)
        z = mx.nd.array(rng.standard_normal((b, nz), dtype=np.float32), ctx=ctx)
        with mx.autograd.train_mode():
            images = mx.nd.clip(generator(z), -1.0, 1.0)
        features, p = extractor(images)
        stats.update(features)
        probs.append(p)
        done += b
    mu, sigma = stats.result()
    is_mean, is_std = inception_score(np.concatenate(probs), min(splits, done))
    try:
        fid = frechet_distance(mu, sigma, real_stats["mu"], real_stats["sigma"], method=fid_method)
    except ValueError as err:   # sqrtm's root of a singular product: fewer samples than dimensions
        if fid_method == "eigh":
            raise
        log.warning("%s; computed with the exact method 'eigh' instead", err)
        fid_method = "eigh"
        fid = frechet_distance(mu, sigma, real_stats["mu"], real_stats["sigma"], method=fid_method)
    return dict(fid=fid, is_mean=is_mean, is_std=is_std, n=done, fid_method=fid_method)


def load_generator(run_dir, ctx=None):
    """The generator of `run_dir`'s last complete checkpoint, built from its config.json, and that config.

    The folder is only read, never changed and not locked: a run may be training in it (see
    `checkpoint.read_complete`).

    Raises
    ------
    ValueError
        When `run_dir` does not exist or holds no checkpoint, or its config or generator weights
        are damaged or do not fit each other (one line naming the file).
    """
    generator, config, _ = _load(run_dir, ctx)
    return generator, config


def checkpoint_gen_iter(run_dir):
    """The generator iteration of `run_dir`'s last complete checkpoint (its state.json).

    Raises
    ------
    ValueError
        As `load_generator`, and naming the file when state.json is not JSON or has no gen_iter.
    """
    return _gen_iter(run_dir, _read_checkpoint(run_dir))


def _load(run_dir, ctx):
    """(generator, config, gen_iter) of one checkpoint of `run_dir`, read as `load_generator` says."""
    files = _read_checkpoint(run_dir)
    latest = os.path.join(run_dir, "checkpoints", "latest")
    config_path, params = os.path.join(latest, "config.json"), os.path.join(latest, "generator.params")
    try:
        config = json.loads(files["config.json"])
        if not isinstance(config, dict):
            raise ValueError(f"a JSON {type(config).__name__}, not an object of options")
        generator = build_generator(from_dict(config))
        set_compute_dtype(generator, _evaluation_dtype(config.get("dtype", "float32"), ctx))
    except (ValueError, KeyError, TypeError) as err:  # json's JSONDecodeError is a ValueError
        raise ValueError(f"run folder {run_dir!r}: cannot build its generator from {config_path} "
                         f"({type(err).__name__}: {err})") from None
    gen_iter = _gen_iter(run_dir, files)
    with tempfile.NamedTemporaryFile(suffix=".params") as copy:   # load_parameters reads a file
        copy.write(files["generator.params"])
        copy.flush()
        try:
            generator.load_parameters(copy.name, ctx=ctx or mx.cpu())
        except (mx.base.MXNetError, AssertionError, ValueError) as err:   # truncated, not .params, other shapes
            reason = next((line for line in str(err).splitlines() if "Check failed" in line or "Error" in line),
                          str(err).splitlines()[0] if str(err) else type(err).__name__).strip()
            raise ValueError(f"run folder {run_dir!r}: {params} is damaged or does not fit the generator of "
                             f"{config_path} ({reason[:200]})") from None
    generator.hybridize()
    return generator, config, gen_iter


def _evaluation_dtype(dtype, ctx):
    """The run's compute dtype, as its in-training evaluations used it; float32 where bfloat16 cannot
    run (a GPU, a CPU without it): the same weights, rounded differently (docs/performance.md)."""
    cannot = dtype == "bfloat16" and any(bfloat16_problems(str(ctx or mx.cpu())))
    return "float32" if cannot else dtype


def _read_checkpoint(run_dir):
    """{file name: bytes} of generator.params, config.json and state.json, all of one checkpoint."""
    if not os.path.isdir(run_dir):
        raise ValueError(f"run folder {run_dir!r} does not exist")
    try:
        files = checkpoint.read_complete(os.path.join(run_dir, "checkpoints"),
                                         ("generator.params", "config.json", "state.json"))
    except OSError as err:
        name = os.path.basename(err.filename or "")
        raise ValueError(f"run folder {run_dir!r}: cannot read checkpoints/latest/{name} ({err.strerror or err})") \
            from None
    if files is None:
        raise ValueError(f"run folder {run_dir!r} has no checkpoint (checkpoints/latest/generator.params)")
    return files


def _gen_iter(run_dir, files):
    path = os.path.join(run_dir, "checkpoints", "latest", "state.json")
    try:
        return int(json.loads(files["state.json"])["gen_iter"])
    except (ValueError, KeyError, TypeError) as err:   # damaged or edited by hand
        raise ValueError(f"run folder {run_dir!r}: cannot read gen_iter from {path} "
                         f"({type(err).__name__}: {err})") from None


def evaluate_run(run_dir, extractor, n_samples=N_SAMPLES, n_real=None, cache_dir=None, batch_size=64,
                 seed=0, splits=10, fid_method="sqrtm", random_inception=False):
    """Evaluate the latest checkpoint of `run_dir` on its own dataset; write ``run_dir/eval.json``.

    Parameters
    ----------
    run_dir : str
    extractor : InceptionV3Features or FIDInceptionFeatures
        From `make_extractor`.
    n_samples : int, default 50000
        Generated images.
    n_real : int, optional
        Real images for the statistics; default `n_samples`.
    cache_dir : str, optional
        Folder of cached real statistics (None: no cache).
    batch_size, seed, splits, fid_method
        As `evaluate_generator`.
    random_inception : bool, default False
        Marks eval.json as made with random InceptionV3 weights (testing only).

    Returns
    -------
    dict
        What eval.json holds: ``fid``, ``is_mean``, ``is_std``, ``n``, the real images' ``real_n``,
        ``real_is_mean``, ``real_is_std``, ``real_cached``, ``gen_iter``, ``inception`` (the network's
        name), ``comparable_with_papers`` (True only for the published FID Inception weights),
        ``inception_weights``, ``dims``, ``fid_method``, ``seconds``, and a ``warning`` when the
        weights are random.
    """
    start = time.time()
    generator, config, gen_iter = _load(run_dir, extractor.ctx)
    real = real_statistics(extractor, config["dataset"], root=config.get("dataroot"),
                           image_size=config["image_size"], resize_backend=config.get("resize_backend", "pillow"),
                           interpolation=config.get("interpolation", "bicubic"),
                           lsun_category=config.get("lsun_category", "bedroom"),
                           n_images=n_real or n_samples, cache_dir=cache_dir, seed=seed, splits=splits)
    result = evaluate_generator(generator, real, extractor, n_samples=n_samples, batch_size=batch_size,
                                ctx=extractor.ctx, seed=seed, splits=splits, fid_method=fid_method)
    result.update(real_n=real["n"], real_is_mean=real["is_mean"], real_is_std=real["is_std"],
                  real_cached=real["cached"], real_cache_file=real["path"], gen_iter=gen_iter,
                  inception=extractor.name, comparable_with_papers=extractor.comparable_with_papers,
                  inception_weights=extractor.identity, dims=extractor.dims,
                  seed=seed, splits=splits, seconds=round(time.time() - start, 3))
    if random_inception:
        result["warning"] = "random InceptionV3 weights (testing only): these numbers are meaningless"
    atomic_write_json(os.path.join(run_dir, "eval.json"), result)
    return result
