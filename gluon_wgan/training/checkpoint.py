"""Checkpoints that a kill can never leave half-written: a temporary folder, then a rename.

Layout of ``<outdir>/checkpoints/latest/``: ``generator.params`` and ``critic.params`` (loadable with
`load_parameters` into models built with the same options), ``generator.states`` and
``critic.states`` (the Trainers' optimizer states), ``state.json`` (counters) and ``config.json``.
"""
import json
import os
import shutil
import tempfile

import mxnet as mx

from ..files import atomic_replace_dir, recover_dir
from .state import TrainState


def save(checkpoint_dir, generator, critic, g_trainer, d_trainer, state, config):
    """Write a complete checkpoint to ``checkpoint_dir/latest`` atomically; return that path."""
    os.makedirs(checkpoint_dir, exist_ok=True)
    build = tempfile.mkdtemp(dir=checkpoint_dir, prefix=".build-")
    try:
        _save_parameters(generator, os.path.join(build, "generator.params"))
        _save_parameters(critic, os.path.join(build, "critic.params"))
        g_trainer.save_states(os.path.join(build, "generator.states"))
        d_trainer.save_states(os.path.join(build, "critic.states"))
        with open(os.path.join(build, "state.json"), "w") as f:
            f.write(state.to_json())
        with open(os.path.join(build, "config.json"), "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)
        _fsync_dir(build)
        target = os.path.join(checkpoint_dir, "latest")
        atomic_replace_dir(build, target)
        return target
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise


def find_latest(checkpoint_dir):
    """Path of the latest complete checkpoint, or None; leftovers of a killed write are removed."""
    if not os.path.isdir(checkpoint_dir):
        return None
    recover_dir(os.path.join(checkpoint_dir, "latest"))
    for name in os.listdir(checkpoint_dir):
        if name.startswith(".build-"):
            shutil.rmtree(os.path.join(checkpoint_dir, name), ignore_errors=True)
    path = os.path.join(checkpoint_dir, "latest")
    return path if os.path.isfile(os.path.join(path, "state.json")) else None


def restore(path, generator, critic, g_trainer, d_trainer, ctx):
    """Load a checkpoint written by `save` into built models and trainers; return its TrainState."""
    generator.load_parameters(os.path.join(path, "generator.params"), ctx=ctx)
    critic.load_parameters(os.path.join(path, "critic.params"), ctx=ctx)
    for trainer, name in ((g_trainer, "generator.states"), (d_trainer, "critic.states")):
        trainer.load_states(os.path.join(path, name))
        _share_update_counts(trainer, ctx)
    with open(os.path.join(path, "state.json")) as f:
        return TrainState.from_json(f.read())


def _save_parameters(net, path):
    """`net.save_parameters(path)`, the same file, but the values of the first device only.

    Gluon saves the mean over the devices' copies (add_n / n), which rounds in float32 for 3, 6, 8 ...
    devices: the copies are equal, the saved mean is not always, and resuming would not be exact.
    """
    arrays = {name: param.list_data()[0].copyto(mx.cpu())
              for name, param in net._collect_params_with_prefix().items()}
    mx.nd.save(path, arrays)


def _share_update_counts(trainer, contexts):
    """Give every device the step counts saved for the first device of the run.

    MXNet's optimizers count updates per device id (Adam's bias correction reads the count); a run
    resumed on other or more devices would otherwise restart the count on them and its device copies
    would drift apart.
    """
    contexts = contexts if isinstance(contexts, (list, tuple)) else [contexts]
    optimizer = getattr(trainer, "trainer", trainer)._optimizer   # DistributedTrainer wraps a Trainer
    counts = optimizer._all_index_update_counts
    saved = counts[min(counts)]
    for ctx in contexts:
        counts[ctx.device_id] = dict(saved)
    optimizer._index_update_count = counts[contexts[0].device_id]


def _fsync_dir(path):
    for name in os.listdir(path):
        with open(os.path.join(path, name), "rb") as f:
            os.fsync(f.fileno())
