"""metrics.jsonl: one JSON line per generator iteration, the source of truth for every plot."""
import json
import math
import os

from ..utils.files import atomic_write, read_jsonl


def read_metrics(path):
    """The records of a metrics.jsonl file; a line cut short by a kill is skipped."""
    return read_jsonl(path)


def truncate_metrics(path, gen_iter):
    """Keep only the records before `gen_iter`, so a resumed run continues the same curve."""
    kept = [r for r in read_metrics(path) if r["gen_iter"] < gen_iter]
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
