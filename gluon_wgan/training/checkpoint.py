"""Checkpoints that a kill can never leave half-written, and that run no code when read.

Layout of ``<outdir>/checkpoints/latest/``: ``generator.params`` and ``critic.params`` (loadable with
`load_parameters` into models built with the same options), ``generator.optimizer.params`` and
``critic.optimizer.params`` (the optimizers' state arrays, `mx.nd.save`'s format), the matching
``.optimizer.json`` files (update counts, and which array belongs to which parameter),
``state.json`` (counters) and ``config.json``.

Nothing in it is a pickle: MXNet's `Trainer.save_states` pickles the optimizer, and unpickling a file
runs whatever code the file names, while run folders are copied, shared and downloaded. Checkpoints
of earlier versions hold such ``*.states`` files; `restore` reads them only when told that the folder
is trusted, and the next checkpoint replaces them.
"""
import errno
import json
import os
import shutil
import time

import mxnet as mx
import numpy as np

from .. import compat
from ..utils.files import RunFolderError, atomic_replace_dir, make_temp_dir, recover_dir
from .state import TrainState

NETS = ("generator", "critic")
REQUIRED = ("generator.params", "critic.params", "state.json", "config.json")
OPTIMIZER_FILES = (".optimizer.params", ".optimizer.json")
PICKLED = ".states"          # Trainer.save_states, written by earlier versions of gluon_wgan
FORMAT = 1
NONE_YET = "NO_CHECKPOINT_YET"   # a new run's mark until its first checkpoint


class CheckpointError(RunFolderError):
    """A checkpoint that cannot be resumed (missing, damaged, unsafe or not this run's): one line."""


def save(checkpoint_dir, generator, critic, g_trainer, d_trainer, state, config):
    """Write a complete checkpoint to ``checkpoint_dir/latest`` atomically; return that path."""
    compat.settle_running_statistics()
    os.makedirs(checkpoint_dir, exist_ok=True)
    build = make_temp_dir(checkpoint_dir, ".build-")
    try:
        for name, net, trainer in (("generator", generator, g_trainer), ("critic", critic, d_trainer)):
            _save_arrays(os.path.join(build, name + ".params"), _first_device_values(net))
            _save_optimizer(trainer, os.path.join(build, name))
        _write_text(os.path.join(build, "state.json"), state.to_json())
        _write_text(os.path.join(build, "config.json"), json.dumps(config, indent=2, sort_keys=True))
        _fsync_dir(build)
        target = os.path.join(checkpoint_dir, "latest")
        atomic_replace_dir(build, target)
        if os.path.exists(os.path.join(checkpoint_dir, NONE_YET)):
            os.remove(os.path.join(checkpoint_dir, NONE_YET))
        return target
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise


def mark_none_yet(checkpoint_dir):
    """Mark `checkpoint_dir` as a new run's that has no checkpoint yet; `save` removes the mark."""
    os.makedirs(checkpoint_dir, exist_ok=True)
    _write_text(os.path.join(checkpoint_dir, NONE_YET), "This run stopped before its first checkpoint (if it is not "
                "running): its command, run again, starts it over in this folder.")


def has_none_yet(checkpoint_dir):
    """Whether `checkpoint_dir` is marked by `mark_none_yet` (and not yet by a checkpoint)."""
    return os.path.isfile(os.path.join(checkpoint_dir, NONE_YET))


def clean(checkpoint_dir):
    """Finish or undo what a killed `save` left: the aside copy of ``latest`` back, ``.build-*`` gone.

    Only the holder of the run folder's lock may call this: another run's ``.build-*`` is its checkpoint
    in progress.
    """
    if not os.path.isdir(checkpoint_dir):
        return
    recover_dir(os.path.join(checkpoint_dir, "latest"))
    for name in os.listdir(checkpoint_dir):
        if name.startswith(".build-"):
            shutil.rmtree(os.path.join(checkpoint_dir, name), ignore_errors=True)


def find_latest(checkpoint_dir):
    """Path of ``checkpoint_dir/latest`` if that folder exists (complete or not), else None."""
    path = os.path.join(checkpoint_dir, "latest")
    return path if os.path.isdir(path) else None


def read_complete(checkpoint_dir, names, attempts=20):
    """{name: bytes} of the files `names` of one complete checkpoint, read without the run's lock and
    without changing anything: for tools that read a run that may be training.

    A writer replaces ``latest`` by renaming it aside (``latest.old``), renaming the new one into
    place and removing the aside copy. The files are opened through one folder descriptor, so they
    all belong to one checkpoint even if the folder is renamed meanwhile; a folder emptied under us
    is read again from the other name. None when neither folder exists; FileNotFoundError when a
    name is still missing after `attempts` tries (a damaged checkpoint).
    """
    missing = None
    for attempt in range(attempts):
        folders = 0
        for name in ("latest", "latest.old"):
            try:
                folder = os.open(os.path.join(checkpoint_dir, name), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            folders += 1
            try:
                return _read_files(folder, names)
            except FileNotFoundError as err:   # being removed by the writer, or damaged
                missing = err
            finally:
                os.close(folder)
        if not folders:
            return None
        time.sleep(0.05)   # a writer's removal of the aside copy ends in moments
    raise missing


def _read_files(folder, names):
    """{name: bytes} of files opened through the folder descriptor `folder`, all opened before any is read."""
    opened = {}
    try:
        for name in names:
            opened[name] = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
        found = {}
        for name, fd in opened.items():
            with os.fdopen(os.dup(fd), "rb") as f:
                found[name] = f.read()
        return found
    finally:
        for fd in opened.values():
            os.close(fd)


def check(path, trust_pickled_states=False):
    """Raise CheckpointError unless `path` holds every file of a checkpoint, none of them unsafe to read.

    Pickled optimizer states (``*.states``, earlier versions) pass only with `trust_pickled_states`.
    """
    names = set(os.listdir(path))
    missing, pickled = [n for n in REQUIRED if n not in names], []
    for net in NETS:
        arrays = [net + ext for ext in OPTIMIZER_FILES]
        if net + PICKLED in names and not any(n in names for n in arrays):
            pickled.append(net + PICKLED)
        else:
            missing += [n for n in arrays if n not in names]
    if missing:
        raise CheckpointError(f"the checkpoint {path} lacks {', '.join(missing)}, so the run cannot continue "
                              "(nothing was changed); put back checkpoints/latest from a copy of the run "
                              "folder, or start a new run in another --outdir")
    if pickled and not trust_pickled_states:
        raise CheckpointError(f"the checkpoint {path} keeps its optimizer states as pickles "
                              f"({', '.join(pickled)}, written by earlier versions of gluon_wgan), and reading a pickle can "
                              "run any code; if this folder is your own run, resume with "
                              "--trust-pickled-states (the next checkpoint is written without pickles)")


def read_config(path):
    """The config dict saved in the checkpoint `path`."""
    config = _read_json(os.path.join(path, "config.json"))
    if not isinstance(config, dict):
        raise CheckpointError(f"{os.path.join(path, 'config.json')} is damaged (not a JSON object)")
    return config


def restore(path, generator, critic, g_trainer, d_trainer, ctx, trust_pickled_states=False):
    """Load a checkpoint written by `save` into built models and trainers; return its TrainState.

    Everything read is data: arrays and JSON. Only in memory changes; on any problem a
    CheckpointError names the file, and the run folder is as it was.
    """
    check(path, trust_pickled_states)
    contexts = ctx if isinstance(ctx, (list, tuple)) else [ctx]
    state_path = os.path.join(path, "state.json")
    try:
        state = TrainState.from_json(_read_text(state_path))
    except ValueError as err:   # json's errors are ValueErrors
        raise CheckpointError(f"{state_path} is damaged ({_one_line(err)})") from None
    for name, net, trainer in (("generator", generator, g_trainer), ("critic", critic, d_trainer)):
        _load_parameters(net, os.path.join(path, name + ".params"), contexts)
        if os.path.exists(os.path.join(path, name + PICKLED)) and \
                not os.path.exists(os.path.join(path, name + OPTIMIZER_FILES[0])):
            _load_pickled(trainer, os.path.join(path, name + PICKLED), contexts)
        else:
            _load_optimizer(trainer, os.path.join(path, name))
    return state


# --- Optimizer state <-> arrays and JSON: what Trainer.save_states would pickle ---------------------

def _save_optimizer(trainer, base):
    """``base.optimizer.params`` (state arrays) and ``base.optimizer.json`` (counts, layout)."""
    optimizer, updaters, contexts, _ = compat.trainer_parts(compat.ready_trainer(trainer))
    arrays = {}
    layout = {str(index): _flatten(state, str(index), arrays)
              for index, state in sorted(updaters[0].states.items())}
    # Every device updates every parameter once per step: the first device's counts are every device's.
    counts = compat.update_counts(optimizer, contexts[0])
    meta = dict(format=FORMAT, optimizer=type(optimizer).__name__, num_update=int(optimizer.num_update),
                update_counts={str(i): int(n) for i, n in sorted(counts.items())}, states=layout)
    _save_arrays(base + ".optimizer.params", arrays)
    _write_text(base + ".optimizer.json", json.dumps(meta, indent=2, sort_keys=True))


def _load_optimizer(trainer, base):
    """Put the state `_save_optimizer` wrote into `trainer`'s updaters, one copy per device."""
    meta_path, arrays_path = base + ".optimizer.json", base + ".optimizer.params"
    meta = _read_json(meta_path)
    arrays = _load_arrays(arrays_path)
    optimizer, updaters, contexts, params = compat.trainer_parts(compat.ready_trainer(trainer))
    if not isinstance(meta, dict) or meta.get("optimizer") != type(optimizer).__name__:
        found = meta.get("optimizer") if isinstance(meta, dict) else None
        raise CheckpointError(f"{meta_path} holds the state of {found}, but the run's options build "
                              f"{type(optimizer).__name__} (was config.json edited?)")
    try:
        states = {int(i): _unflatten(layout, arrays, _template(optimizer, int(i), params[int(i)]))
                  for i, layout in meta["states"].items()}
        trainable = {i for i, p in enumerate(params) if p.grad_req != "null"}
        if set(states) != trainable:
            raise ValueError(f"states for parameters {sorted(states)}, trainable {sorted(trainable)}")
        counts = {int(i): int(n) for i, n in meta["update_counts"].items()}
        num_update = int(meta["num_update"])
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise CheckpointError(f"{arrays_path} and {os.path.basename(meta_path)} do not fit the run's "
                              f"networks or are damaged ({_one_line(err)})") from None
    for updater, ctx in zip(updaters, contexts):
        updater.states = {i: _copy_to(state, ctx) for i, state in states.items()}   # a copy per device
        updater.states_synced = dict.fromkeys(updater.states, True)
    compat.set_update_counts(optimizer, counts, contexts)
    optimizer.num_update = num_update


def _load_pickled(trainer, path, contexts):
    """`Trainer.load_states` of a trusted pickle (earlier versions), its counts given to every device.

    MXNet's optimizers count updates per device id (Adam's bias correction reads the count); a run
    resumed on other or more devices would otherwise restart the count on them.
    """
    try:
        trainer.load_states(path)
    except Exception as err:   # unpickling a damaged file can raise nearly anything
        raise CheckpointError(f"{path} is damaged ({type(err).__name__}: {_one_line(err)})") from None
    optimizer, _, saved_contexts, _ = compat.trainer_parts(compat.ready_trainer(trainer))
    compat.set_update_counts(optimizer, compat.update_counts(optimizer, saved_contexts[0]), contexts)


def _template(optimizer, index, param):
    """The state the optimizer would create for parameter `index`: the shapes a saved one must have."""
    return optimizer.create_state_multi_precision(index, param.list_data()[0])


def _first_device_values(net):
    """`net.save_parameters`' arrays, but the values of the first device only.

    Gluon saves the mean over the devices' copies (add_n / n), which rounds in float32 for 3, 6, 8 ...
    devices: the copies are equal, the saved mean is not always, and resuming would not be exact.
    """
    return {name: param.list_data()[0].copyto(mx.cpu())
            for name, param in compat.named_parameters(net).items()}


def _load_parameters(net, path, contexts):
    try:
        net.load_parameters(path, ctx=contexts)
    except (mx.base.MXNetError, AssertionError, ValueError) as err:
        raise CheckpointError(f"{path} is damaged or does not fit the network of the run's options "
                              f"({_one_line(err)})") from None


# --- Nested optimizer states <-> named arrays and a JSON layout -------------------------------------

def _flatten(state, key, arrays):
    """JSON layout of `state`: an NDArray becomes its name in `arrays`, a tuple a list, None null."""
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return [_flatten(s, f"{key}.{i}", arrays) for i, s in enumerate(state)]
    arrays[key] = state.copyto(mx.cpu())
    return key


def _unflatten(layout, arrays, template):
    """The state of `layout`, checked against `template` (structure, shapes, dtypes); ValueError if off."""
    if template is None or layout is None:
        if template is not None or layout is not None:
            raise ValueError("a state is missing or extra")
        return None
    if isinstance(template, (tuple, list)):
        if not isinstance(layout, list) or len(layout) != len(template):
            raise ValueError(f"state {layout!r} is not {len(template)} arrays")
        return type(template)(_unflatten(l, arrays, t) for l, t in zip(layout, template))
    array = arrays[layout]
    if array.shape != template.shape or array.dtype != template.dtype:
        raise ValueError(f"array {layout}: {array.shape} {np.dtype(array.dtype).name}, expected "
                         f"{template.shape} {np.dtype(template.dtype).name}")
    return array


def _copy_to(state, ctx):
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return type(state)(_copy_to(s, ctx) for s in state)
    return state.copyto(ctx)


# --- Files ------------------------------------------------------------------------------------------

def _save_arrays(path, arrays):
    """`mx.nd.save`, with a full disk reported as Python reports it: OSError(ENOSPC) naming `path`.

    MXNet reports a short write only as "FileStream.Write incomplete"; if the disk has no room left
    for the arrays, that is the reason.
    """
    try:
        mx.nd.save(path, arrays)
    except mx.base.MXNetError:
        needed = sum(a.size * np.dtype(a.dtype).itemsize for a in arrays.values())
        if shutil.disk_usage(os.path.dirname(path)).free < needed:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path) from None
        raise


def _load_arrays(path):
    try:
        return mx.nd.load(path)
    except mx.base.MXNetError as err:
        raise CheckpointError(f"{path} is damaged ({_one_line(err)})") from None


def _write_text(path, text):
    with open(path, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")


def _read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except UnicodeDecodeError as err:
        raise CheckpointError(f"{path} is damaged (not text: {err.reason})") from None


def _read_json(path):
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} is damaged (invalid JSON: {err})") from None


def _one_line(err):
    """The last non-empty line of an error's text (MXNet's carry a C++ stack trace before it)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(err).__name__


def _fsync_dir(path):
    for name in os.listdir(path):
        with open(os.path.join(path, name), "rb") as f:
            os.fsync(f.fileno())
