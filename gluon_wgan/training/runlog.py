"""metrics.jsonl: one JSON line per generator iteration (gen_iter 1..N), the source of truth for every plot."""
import json
import math
import os

from ..utils.files import atomic_write, read_jsonl


def read_metrics(path):
    """The records of a metrics.jsonl file, numbered 1..N (`one_based`); a line cut short by a kill is skipped."""
    return one_based(read_jsonl(path))


def one_based(records):
    """`records` with ``gen_iter`` = N for the record written after N generator iterations, as the
    console, samples/, checkpoints and TensorBoard count them.

    Run folders written before issue 24 counted 0..N-1. Their first record has ``gen_iter`` 0, which
    a 1-based file never has (every generator iteration gets a record): those are shifted by one.
    """
    if records and records[0].get("gen_iter") == 0:
        return [dict(r, gen_iter=r["gen_iter"] + 1) if isinstance(r.get("gen_iter"), int) else r for r in records]
    return records


def truncate_metrics(path, gen_iter):
    """Keep only the records up to `gen_iter` (in 1..N numbering, which an older file is rewritten
    in), so a resumed run continues the same curve."""
    kept = [r for r in read_metrics(path) if r["gen_iter"] <= gen_iter]
    atomic_write(path, "".join(json.dumps(r) + "\n" for r in kept))


def append_metrics(path, records):
    """Append `records` (dicts) as lines and flush them to disk."""
    with open(path, "a") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def first_non_finite(records, keys=("loss_d", "loss_g")):
    """(gen_iter, key, value) of the first record with a NaN or infinite loss, or None."""
    for record in records:
        for key in keys:
            value = record.get(key)
            if value is not None and not math.isfinite(value):
                return record["gen_iter"], key, value
    return None
