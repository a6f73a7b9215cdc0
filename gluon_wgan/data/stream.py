"""BatchStream: an endless, seeded, resumable stream of image batches that survives bad records.

Batch k is a pure function of (seed, k, dataset): sample position p = k * batch_size + j lies in epoch
e = p // n at offset p % n of the permutation drawn from ``default_rng([seed, e])``. A record that
fails to decode is replaced by a record drawn from ``default_rng([seed, index, attempt, ...])``, so the
replacement too is the same in every run and with any number of workers. Resuming is therefore
``BatchStream(..., start=saved_position)``, with no state beyond one integer. With ``per_epoch=True``
batches stay within their epoch instead (the WGAN reference code's DataLoader): epoch e holds batches
e * b .. e * b + b - 1, b = ceil(n / batch_size), the last of them short when batch_size does not
divide n; batch k is still a function of (seed, k, dataset).
"""
import collections
import logging
import multiprocessing
import os
import signal

import numpy as np

from .choices import loader_problems
from .transforms import BadRecord

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 100  # bad records in a row before the data is declared unreadable
MAX_LOGGED = 100    # distinct bad records named in the log and kept in `bad_records`
PREFETCH = 2        # batches in flight per worker
WORKER_CHECK_SECONDS = 2.0  # how often a wait for a batch checks that no worker died
_REPLACE = 0x5EED


class UnreadableData(ValueError):
    """The records of a dataset are not images: `MAX_ATTEMPTS` bad records in a row (--dataroot)."""


def check_readable(dataset, attempts=MAX_ATTEMPTS):
    """Raise `UnreadableData` unless one of the first `attempts` records in a seeded order is an image.

    Reads records in the order of ``epoch_permutation(0, 0, n)`` until one decodes, so a usual
    dataset costs one read; the order is spread over the whole dataset, so a folder whose first files
    (by name) are broken is not refused for that. A dataset whose every record is bad fails here,
    before any work, instead of during the first batch.
    """
    n = len(dataset)
    if n < 1:
        raise UnreadableData("--dataroot: the dataset holds no records")
    bad = []
    for index in epoch_permutation(0, 0, n)[:attempts]:
        try:
            dataset[int(index)]
            return
        except BadRecord as err:
            bad.append((_describe(dataset, int(index)), str(err)))
    first = f"{bad[0][0]}: {bad[0][1]}"
    if len(bad) == n:
        raise UnreadableData(f"--dataroot: none of its {n} records is a readable image (e.g. {first})")
    raise UnreadableData(f"--dataroot: {len(bad)} of its {n} records, drawn at random, are not readable "
                         f"images (e.g. {first})")


def epoch_permutation(seed, epoch, n):
    """The order of the `n` records in `epoch`: a permutation of range(n) seeded by (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def batch_indices(n, batch_size, seed, k, _cache=None, per_epoch=False):
    """Dataset indices of batch `k` (a list of ints): `batch_size` of them running across epoch ends,
    or with `per_epoch` the batch's part of its epoch (short for the epoch's last batch)."""
    if per_epoch:
        epoch, j = divmod(k, epoch_batches(n, batch_size))
        return _permutation(seed, epoch, n, _cache)[j * batch_size:(j + 1) * batch_size].tolist()
    positions = np.arange(k * batch_size, (k + 1) * batch_size, dtype=np.int64)
    epochs = positions // n
    out = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(epochs):
        mask = epochs == epoch
        out[mask] = _permutation(seed, int(epoch), n, _cache)[positions[mask] % n]
    return out.tolist()


def epoch_batches(n, batch_size):
    """Batches per epoch when batches stay within their epoch: ceil(n / batch_size)."""
    return -(-n // batch_size)


def _permutation(seed, epoch, n, cache):
    if cache is not None and epoch in cache:
        return cache[epoch]
    perm = epoch_permutation(seed, epoch, n)
    if cache is not None:
        cache.clear()  # one epoch's permutation at a time: 3 M records = 24 MB
        cache[epoch] = perm
    return perm


def replacement(seed, index, attempt, n):
    """The record that stands in for bad record `index` at retry `attempt`: another record, deterministic."""
    if n == 1:
        return index
    return int((index + 1 + np.random.default_rng([seed, index, attempt, _REPLACE]).integers(n - 1)) % n)


class _Fetch:
    """Dataset wrapper that loads a record, replacing bad ones; item = (array, [(name, reason), ...])."""

    def __init__(self, dataset, seed):
        self.dataset, self.seed, self.n = dataset, seed, len(dataset)

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        bad = []
        current = index
        for attempt in range(MAX_ATTEMPTS):
            try:
                return self.dataset[current], bad
            except BadRecord as err:
                bad.append((_describe(self.dataset, current), str(err)))
                current = replacement(self.seed, index, attempt, self.n)
        raise UnreadableData(f"--dataroot: {MAX_ATTEMPTS} records in a row could not be decoded as images "
                             f"(last: {bad[-1][0]}: {bad[-1][1]})")


def _describe(dataset, index):
    describe = getattr(dataset, "describe", None)
    return describe(index) if describe else f"record {index}"


def _collate(items):
    """[(array, bad), ...] -> (float32 (B, C, H, W) array, all bad records); runs in the workers."""
    return np.stack([item[0] for item in items]).astype(np.float32, copy=False), \
        [entry for item in items for entry in item[1]]


def _batch_index_lists(n, batch_size, seed, start, per_epoch):
    """Endless: the index lists of batches start, start + 1, ..."""
    cache = {}
    k = start
    while True:
        yield batch_indices(n, batch_size, seed, k, cache, per_epoch)
        k += 1


_worker_fetch = None   # the _Fetch of this worker process


def _init_worker(fetch):
    global _worker_fetch
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is for the training process to handle
    _worker_fetch = fetch


def _load_batch(indices):
    return _collate([_worker_fetch[i] for i in indices])


def _worker_pids(pool):
    # Pool replaces a worker that exits; its private list of processes is the only way to notice.
    return {process.pid for process in pool._pool}


def loader_workers(requested, on_gpu, in_memory=False):
    """The worker count of a run: `requested` (--workers) if given; else 0 on CPUs, whose compute
    threads the workers would slow, and for data held decoded in memory (`in_memory`); on a GPU
    every core but one (at least 2, since one worker is no faster than none), up to the 16 that a
    GPU's rate on LSUN's images needs (benchmarks/data_workers.py)."""
    if requested is not None:
        return int(requested)
    if not on_gpu or in_memory:
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 0 if cpus < 2 else min(16, max(2, cpus - 1))


class BatchStream:
    """Endless iterator over batches of a dataset in a seeded order; batch k depends on (seed, k) only.

    Parameters
    ----------
    dataset : Dataset
        Items are float32 arrays of one shape, e.g. (3, H, W); ``dataset[i]`` raises `BadRecord` for a
        record that is not an image. An optional ``dataset.describe(i)`` names records in reports.
    batch_size : int, default 64
    seed : int, default 0
        Seeds the order of every epoch and the choice of replacements for bad records.
    workers : int, default 0
        0 loads in this process; more loads in that many worker processes and delivers the same
        batches in the same order.
    start : int, default 0
        Index of the first batch to deliver: ``BatchStream(..., start=s.position)`` resumes stream `s`.
    skipped : int, default 0
        Bad records met before `start` (from a checkpoint), so that `skipped` stays a run total.
    per_epoch : bool, default False
        Batches stay within their epoch, the last one short (``len(dataset) % batch_size`` images
        when not 0), as PyTorch's DataLoader without ``drop_last`` (the WGAN reference code).

    Attributes
    ----------
    position : int
        Batches delivered so far, counting `start`.
    skipped : int
        Bad records met so far (each meeting counts; the same bad record meets again every epoch),
        each replaced by another record.
    bad_records : dict
        Name -> reason of the first `MAX_LOGGED` distinct bad records met by this stream.
    epoch_ended : bool
        With `per_epoch`, whether the last batch delivered was its epoch's last; always False otherwise.

    Raises
    ------
    ValueError
        For an empty dataset or a bad batch size, worker count, seed or start (named by flag);
        while iterating, `UnreadableData` (a ValueError) if `MAX_ATTEMPTS` records in a row are bad.
    """

    def __init__(self, dataset, batch_size=64, seed=0, workers=0, start=0, skipped=0, per_epoch=False):
        n = len(dataset)
        if n < 1:
            raise ValueError("--dataroot: the dataset holds no records")
        for problem in loader_problems(batch_size, workers):
            raise ValueError(problem)
        for flag, value, low in (("--seed", seed, 0), ("start", start, 0), ("skipped", skipped, 0)):
            if int(value) != value or value < low:
                raise ValueError(f"{flag} must be an integer >= {low}, got {value!r}")
        self.dataset, self.batch_size, self.seed, self.workers = dataset, int(batch_size), int(seed), int(workers)
        self.position, self.skipped = int(start), int(skipped)
        self.per_epoch = bool(per_epoch)
        self.bad_records = {}
        self._fetch = _Fetch(dataset, self.seed)
        self._cache = {}
        self._pool = None
        self._pending = collections.deque()

    def __iter__(self):
        return self

    def __next__(self):
        if self.workers == 0:
            indices = batch_indices(len(self._fetch), self.batch_size, self.seed, self.position, self._cache,
                                    self.per_epoch)
            batch, bad = _collate([self._fetch[i] for i in indices])
        else:
            if self._pool is None:
                self._start_workers()
            batch, bad = self._next_from_workers()
        self.position += 1
        self._count(bad)
        return batch

    @property
    def epoch_ended(self):
        # A function of the position, so that a resumed stream knows it as well.
        return self.per_epoch and self.position > 0 and \
            self.position % epoch_batches(len(self._fetch), self.batch_size) == 0

    def _start_workers(self):
        # forkserver, not gluon's DataLoader (fork): a fork of a process whose MXNet engine and OpenMP
        # threads are busy can deadlock in the child (seen in this project's tests); forkserver's
        # workers are forks of a fresh, idle process. Each receives the dataset once, pickled.
        context = multiprocessing.get_context("forkserver")
        self._pool = context.Pool(self.workers, initializer=_init_worker, initargs=(self._fetch,))
        self._indices = _batch_index_lists(len(self._fetch), self.batch_size, self.seed, self.position,
                                           self.per_epoch)
        self._pending.clear()
        self._pids = _worker_pids(self._pool)

    def _next_from_workers(self):
        """The next batch, in order. A worker that died (killed, out of memory, or signalled with the
        whole process group) lost the batches it held; they are a function of their indices, so they
        are asked for again from the workers the pool started in its place."""
        while len(self._pending) < PREFETCH * self.workers:
            indices = next(self._indices)
            self._pending.append((indices, self._pool.apply_async(_load_batch, (indices,))))
        while True:
            try:
                result = self._pending[0][1].get(timeout=WORKER_CHECK_SECONDS)
                break
            except multiprocessing.TimeoutError:
                pids = _worker_pids(self._pool)
                if pids != self._pids:
                    log.warning("a data worker exited; reloading the batches it may have held")
                    self._pids = pids
                    self._pending = collections.deque(
                        (indices, self._pool.apply_async(_load_batch, (indices,)))
                        for indices, _ in self._pending)
        self._pending.popleft()
        return result

    def _count(self, bad):
        self.skipped += len(bad)
        for name, reason in bad:
            if name not in self.bad_records and len(self.bad_records) < MAX_LOGGED:
                self.bad_records[name] = reason
                log.warning("skipped bad record %s (%s); replaced by another record", name, reason)
                if len(self.bad_records) == MAX_LOGGED:
                    log.warning("%d distinct bad records: further ones are counted but not named", MAX_LOGGED)

    def close(self):
        """Stop the worker processes, if any. A later `next` starts new ones at `position`."""
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.terminate()
            pool.join()
        self._pool = None
        if hasattr(self, "_pending"):
            self._pending.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()
