"""BatchStream: batch k is a pure function of (seed, k, dataset); resume; bad records; workers."""
import os
import signal

import numpy as np
import pytest

from gluon_wgan.data import BadRecord, BatchStream
from gluon_wgan.data.stream import (MAX_ATTEMPTS, _batch_index_lists, _worker_pids, batch_indices,
                                   epoch_permutation, replacement)


class Numbers:
    """Item i is a (1, 2, 2) array filled with i; the indices in `bad` raise BadRecord."""

    def __init__(self, n, bad=()):
        self.n, self.bad = n, set(bad)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i in self.bad:
            raise BadRecord(f"record {i} is corrupt")
        return np.full((1, 2, 2), i, np.float32)

    def describe(self, i):
        return f"number-{i}"


class SlowNumbers(Numbers):
    """Numbers that take 0.1 s each to load, so that a worker is still holding batches when killed."""

    def __getitem__(self, i):
        import time
        time.sleep(0.1)
        return super().__getitem__(i)


def ids(batch):
    return batch[:, 0, 0, 0].astype(int).tolist()


def test_batches_run_across_epochs_in_seeded_permutations():
    n, b, seed = 5, 3, 7
    p0, p1 = epoch_permutation(seed, 0, n), epoch_permutation(seed, 1, n)
    assert sorted(p0) == sorted(p1) == list(range(5)) and list(p0) != list(p1)
    # positions 0..2 | 3, 4 (epoch 0) and 0 (epoch 1) | 1..3 of epoch 1
    assert batch_indices(n, b, seed, 0) == list(p0[:3])
    assert batch_indices(n, b, seed, 1) == [p0[3], p0[4], p1[0]]
    assert batch_indices(n, b, seed, 2) == list(p1[1:4])
    stream = BatchStream(Numbers(n), b, seed=seed)
    assert [ids(next(stream)) for _ in range(3)] == [batch_indices(n, b, seed, k) for k in range(3)]
    assert stream.position == 3 and stream.skipped == 0


def test_every_epoch_visits_each_record_once():
    stream = BatchStream(Numbers(12), 4, seed=1)
    seen = sum((ids(next(stream)) for _ in range(6)), [])  # 24 items = 2 epochs
    assert sorted(seen[:12]) == sorted(seen[12:]) == list(range(12))
    assert seen[:12] != seen[12:]


def test_resume_gives_the_same_batches():
    full = BatchStream(Numbers(10), 4, seed=3)
    batches = [next(full) for _ in range(8)]
    resumed = BatchStream(Numbers(10), 4, seed=3, start=5)
    for k in range(5, 8):
        np.testing.assert_array_equal(next(resumed), batches[k])
    assert resumed.position == full.position == 8


def test_per_epoch_batches_keep_a_short_last_batch_and_report_the_epoch_end():
    """The WGAN reference code's DataLoader: 11 records in batches of 4 are 4 + 4 + 3 per epoch, each
    epoch in its own seeded permutation; `epoch_ended` after each epoch's last batch only."""
    n, b, seed = 11, 4, 2
    stream = BatchStream(Numbers(n), b, seed=seed, per_epoch=True)
    assert not stream.epoch_ended
    batches, ends = [], []
    for _ in range(6):
        batches.append(ids(next(stream)))
        ends.append(stream.epoch_ended)
    assert [len(batch) for batch in batches] == [4, 4, 3, 4, 4, 3]
    assert ends == [False, False, True, False, False, True]
    for epoch in (0, 1):
        assert sum(batches[3 * epoch:3 * epoch + 3], []) == epoch_permutation(seed, epoch, n).tolist()
    assert batches == [batch_indices(n, b, seed, k, per_epoch=True) for k in range(6)]
    continuous = BatchStream(Numbers(n), b, seed=seed)
    next(continuous), next(continuous), next(continuous)
    assert not continuous.epoch_ended     # the default stream has no epoch ends


def test_per_epoch_resume_and_workers_give_the_same_batches():
    """Resumed from a batch count, and (their index lists) in the workers. Not a pool here: one more pool
    started and terminated in this file made the killed-worker test below hang 2 runs in 8."""
    data = Numbers(11, bad={5})
    serial = BatchStream(data, 4, seed=2, per_epoch=True)
    expected = [next(serial) for _ in range(7)]
    resumed = BatchStream(data, 4, seed=2, per_epoch=True, start=3)
    assert resumed.epoch_ended            # a function of the position: batch 2, before the resume, ended epoch 0
    for k in range(3, 7):
        np.testing.assert_array_equal(next(resumed), expected[k])
        assert resumed.epoch_ended == (k % 3 == 2)
    lists = _batch_index_lists(11, 4, 2, 3, per_epoch=True)
    assert [next(lists) for _ in range(4)] == [batch_indices(11, 4, 2, k, per_epoch=True) for k in range(3, 7)]


def test_seed_changes_the_order():
    a, b = BatchStream(Numbers(50), 10, seed=0), BatchStream(Numbers(50), 10, seed=1)
    assert ids(next(a)) != ids(next(b))


def test_bad_records_are_replaced_deterministically_and_counted():
    n, bad = 6, {2}
    stream = BatchStream(Numbers(n, bad), 6, seed=4)
    first = ids(next(stream))           # one epoch: record 2 met once
    assert 2 not in first and stream.skipped == 1
    order = list(epoch_permutation(4, 0, n))
    stand_in = replacement(4, 2, 0, n)
    assert stand_in != 2 and 0 <= stand_in < n
    assert first == [stand_in if i == 2 else i for i in order]
    assert stream.bad_records == {"number-2": "record 2 is corrupt"}
    next(stream)
    assert stream.skipped == 2          # met again in the second epoch
    again = BatchStream(Numbers(n, bad), 6, seed=4)
    assert ids(next(again)) == first


def test_a_bad_replacement_is_replaced_in_turn():
    n, seed = 4, 0
    bad = {0, replacement(seed, 0, 0, n)}   # record 0 and its first stand-in

    def first_good(index):
        current, attempt = index, 0
        while current in bad:
            current, attempt = replacement(seed, index, attempt, n), attempt + 1
        return current, attempt               # attempt = bad records met on the way

    stream = BatchStream(Numbers(n, bad), n, seed=seed)
    batch = ids(next(stream))
    order = list(epoch_permutation(seed, 0, n))
    assert batch == [first_good(i)[0] for i in order]
    assert stream.skipped == sum(first_good(i)[1] for i in order) >= 2
    assert not set(batch) & bad


def test_skipped_continues_from_a_checkpointed_count():
    stream = BatchStream(Numbers(4, {0}), 4, seed=0, start=3, skipped=5)
    next(stream)
    assert stream.skipped == 6


def test_all_bad_data_is_an_error_naming_dataroot():
    stream = BatchStream(Numbers(3, {0, 1, 2}), 2)
    with pytest.raises(ValueError, match=f"--dataroot: {MAX_ATTEMPTS} records in a row"):
        next(stream)


@pytest.mark.parametrize("kwargs,flag", [(dict(batch_size=0), "--batch-size"), (dict(workers=-1), "--workers"),
                                         (dict(seed=-2), "--seed"), (dict(start=-1), "start")])
def test_bad_arguments_name_their_flag(kwargs, flag):
    with pytest.raises(ValueError, match=flag):
        BatchStream(Numbers(4), **{"batch_size": 2, **kwargs})
    with pytest.raises(ValueError, match="--dataroot"):
        BatchStream(Numbers(0), 2)


def test_two_workers_deliver_the_same_batches_and_counts():
    data = Numbers(23, bad={3, 11})
    serial = BatchStream(data, 8, seed=5)
    expected = [next(serial) for _ in range(7)]
    with BatchStream(data, 8, seed=5, workers=2) as parallel:
        got = [next(parallel) for _ in range(7)]
        assert parallel.skipped == serial.skipped > 0
        assert parallel.bad_records == serial.bad_records
        assert parallel.position == 7
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)
    resumed = BatchStream(data, 8, seed=5, workers=2, start=4)
    np.testing.assert_array_equal(next(resumed), expected[4])
    resumed.close()
    np.testing.assert_array_equal(next(resumed), expected[5])  # new workers pick up at `position`
    resumed.close()


# Out of CI: in about one run in four the kill lands while the worker holds a lock of
# multiprocessing's shared pool, which then wedges (the pool's shutdown too) and the suite hangs.
# The loader needs workers of its own, one pipe each, before this can run unattended again.
@pytest.mark.slow
def test_a_killed_worker_does_not_stall_the_stream():
    """A worker that dies loses its batches; the stream asks for them again and the order holds."""
    dataset = SlowNumbers(40)
    reference = [b for b, _ in zip(BatchStream(dataset, 4, seed=1), range(4))]
    with BatchStream(dataset, 4, seed=1, workers=2) as stream:
        first = next(stream)
        os.kill(sorted(_worker_pids(stream._pool))[0], signal.SIGKILL)
        rest = [next(stream) for _ in range(3)]
    for got, want in zip([first] + rest, reference):
        np.testing.assert_array_equal(got, want)
