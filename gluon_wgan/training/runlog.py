"""metrics.jsonl: one JSON line per generator iteration (gen_iter 1..N), the source of truth for every plot."""
import json
import logging
import math
import os

from ..utils.files import RunFolderError, atomic_write

log = logging.getLogger(__name__)
# What every record holds (the loop's `_log`), which the loss curve and the divergence check read:
# numbers, and the critic's estimate of W1, null under objectives that have none.
NUMBERS = ("loss_d", "loss_g")
NUMBERS_OR_NULL = ("w_estimate",)


def read_metrics(path):
    """The records of a metrics.jsonl file ([] if it does not exist), numbered 1..N (`one_based`).

    A last line without its newline that is not JSON is a record cut short by a kill during the
    write, and is left out (`truncate_metrics` says so when it drops it from the file).

    Raises
    ------
    RunFolderError
        One line naming the file, the line and the mend, for a byte that is not UTF-8, a line that is
        not a JSON object, or a record without its gen_iter or losses: damage no kill makes.
    """
    return one_based(_parse(path)[0])


def one_based(records):
    """`records` with ``gen_iter`` = N for the record written after N generator iterations, as the
    console, samples/, checkpoints and TensorBoard count them.

    Run folders written by earlier versions counted 0..N-1. Their first record has ``gen_iter`` 0, which
    a 1-based file never has (every generator iteration gets a record): those are shifted by one.
    """
    if records and records[0].get("gen_iter") == 0:
        return [dict(r, gen_iter=r["gen_iter"] + 1) if isinstance(r.get("gen_iter"), int) else r for r in records]
    return records


def truncate_metrics(path, gen_iter):
    """Keep only the records up to `gen_iter` (in 1..N numbering, which an older file is rewritten
    in), so a resumed run continues the same curve; a last line cut short by a kill is dropped with a
    warning. Raises as `read_metrics`, changing nothing."""
    records, cut = _parse(path)
    if cut is not None:
        log.warning("%s: line %d was cut short (the run was killed while writing it); dropped it", path, cut)
    kept = [r for r in one_based(records) if r["gen_iter"] <= gen_iter]
    atomic_write(path, "".join(json.dumps(r) + "\n" for r in kept))


def _parse(path):
    """(records, number of a cut-short last line or None)."""
    if not os.path.exists(path):
        return [], None
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    records, cut = [], None
    for number, line in enumerate(lines, 1):
        last = number == len(lines)   # after the final newline: b"" unless the last write was cut short
        if last and not line:
            break
        damaged = f"{path}: line {number}"
        mend = (f"delete line {number} (its point leaves the loss curve) or put back a copy of the file, then "
                "--resume again")
        try:
            record = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise RunFolderError(f"{damaged} holds a byte that is not UTF-8 (0x{line[err.start]:02x} at column "
                                 f"{err.start + 1}); {mend}") from None
        except json.JSONDecodeError:
            if last:
                cut = number
                break
            raise RunFolderError(f"{damaged} is not a JSON record ({_excerpt(line)}); {mend}") from None
        if not isinstance(record, dict):
            raise RunFolderError(f"{damaged} holds {_excerpt(line)}, not a record (a JSON object such as "
                                 f"{{\"gen_iter\": 0, \"loss_d\": ...}}); {mend}")
        missing = [key for key in NUMBERS if not _is_number(record.get(key))]
        missing += [key for key in NUMBERS_OR_NULL if key not in record or not
                    (record[key] is None or _is_number(record[key]))]
        if not isinstance(record.get("gen_iter"), int) or isinstance(record.get("gen_iter"), bool):
            missing.insert(0, "gen_iter")
        if missing:
            raise RunFolderError(f"{damaged} is a record without a number for {', '.join(missing)}; "
                                 f"{mend}")
        records.append(record)
    return records, cut


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _excerpt(line):
    text = line.decode("utf-8", "replace")
    return repr(text[:40] + ("..." if len(text) > 40 else ""))


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
