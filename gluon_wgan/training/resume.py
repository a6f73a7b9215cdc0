"""Whether and from where a run continues: the checkpoint to resume from, the refusal of a folder
that is not this run's, the options a checkpoint fixes, and the start-over of a run that stopped
before its first checkpoint. The folder's files are named once, in `run_paths`."""
import os
import re

from ..config import resume_differences, to_dict
from ..utils.files import RUN_FILES, RunFolderError, check_writable_dir
from . import checkpoint
from .runlog import read_metrics, truncate_metrics

_SAMPLE = re.compile(r"^\d{7}\.png$")   # samples/<gen_iter>.png


def run_paths(outdir):
    names = dict(metrics="metrics.jsonl", config="config.json", env="env.json", loss="loss.png",
                 checkpoints="checkpoints", real="samples/real.png")
    return {k: os.path.join(outdir, v) for k, v in names.items()}


def resume_advice(outdir):
    """How to go on with the run in `outdir` after it stopped: --resume from its checkpoint, or, when
    it has none yet, the same command again (a run stopped before its first checkpoint starts over)."""
    if checkpoint.find_latest(run_paths(outdir)["checkpoints"]) is not None:
        return "the last complete checkpoint is kept; continue with --resume"
    return "no checkpoint yet: rerun the same command to start over"


def checkpoint_to_resume(outdir, resume, trust_pickled_states):
    """The checkpoint folder to continue from, complete and safe to read, or None for a new run;
    RunFolderError if that is not what `resume` asks for. The caller holds the folder's lock.

    A new run starts over in place in a folder whose run stopped before its first checkpoint, and is
    refused in any other folder that holds a run's files (a run's or someone else's of those names).
    """
    paths = run_paths(outdir)
    checkpoint.clean(paths["checkpoints"])   # a killed save's leftovers: this run's own, under the lock
    latest = checkpoint.find_latest(paths["checkpoints"])
    none_yet = latest is None and checkpoint.has_none_yet(paths["checkpoints"])
    if resume and none_yet:
        raise RunFolderError(f"--resume: the run in {outdir} stopped before its first checkpoint, so there is "
                             "nothing to continue; no checkpoint yet: rerun the same command without --resume "
                             "to start over")
    if resume and latest is None:
        raise RunFolderError(f"--resume: {outdir} has no checkpoint (checkpoints/latest is missing), so there "
                             "is nothing to continue and nothing was changed; put checkpoints/latest back "
                             "from a copy of the run, or start a new run in another --outdir")
    if latest is None and not none_yet and _holds_a_run(paths):
        raise RunFolderError(f"--outdir {outdir} holds a run without a checkpoint (config.json or "
                             "metrics.jsonl, but no checkpoints/latest); choose another --outdir, or remove "
                             "that run first")
    found = _run_files(outdir)
    if latest is None and not none_yet and found:
        raise RunFolderError(f"--outdir {outdir} is not a run folder but holds files a run writes ("
                             + ", ".join(found) + "); choose another --outdir, or move them away")
    try:
        check_writable_dir(paths["checkpoints"])   # refused now, not after training up to the first one
    except ValueError as err:
        raise RunFolderError(f"{paths['checkpoints']} cannot hold checkpoints: {err}") from None
    if latest is not None and resume is False:
        raise RunFolderError(f"--outdir {outdir} already holds a run; pass --resume to continue it or "
                             "choose another --outdir")
    if latest is not None:
        checkpoint.check(latest, trust_pickled_states)   # before anything reads its files
        read_metrics(paths["metrics"])   # damage is refused here, before any work, not at the first sample
    return latest


def _run_files(outdir):
    """The names in `outdir` that a run writes: files, or folders that are not empty."""
    found = []
    for name in RUN_FILES:
        path = os.path.join(outdir, name)
        if os.path.lexists(path) and not (os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path)):
            found.append(name + "/" if os.path.isdir(path) else name)
    return found


def _holds_a_run(paths):
    """Whether the folder has a run's config.json or a non-empty metrics.jsonl."""
    metrics = paths["metrics"]
    return os.path.exists(paths["config"]) or (os.path.exists(metrics) and os.path.getsize(metrics) > 0)


def check_config_matches(cfg, latest):
    """RunFolderError if `cfg` changes an option that the checkpoint's weights or state depend on
    (config.json edited by hand: another method, image size, width ...)."""
    differences = resume_differences(checkpoint.read_config(latest), to_dict(cfg))
    if differences:
        raise RunFolderError(f"the options differ from those of the checkpoint {latest} ("
                             + "; ".join(differences) + "); was config.json edited? Put back its copy from "
                             "the checkpoint, or start a new run in another --outdir")


def check_progress(cfg, state):
    """RunFolderError if --gen-iters is below the restored checkpoint's generator iteration."""
    if cfg.gen_iters < state.gen_iter:
        raise RunFolderError(f"--gen-iters {cfg.gen_iters} is below the run's progress ({state.gen_iter} "
                             "generator iterations in its checkpoint); nothing was changed")


def prepare_folder(paths, resumed_at):
    """samples/, and metrics.jsonl cut back to the checkpoint when resuming at `resumed_at`; a new run
    first marks its folder as having no checkpoint yet, so that if it stops before its first one, its
    command may be run again in place; it then starts over (no earlier grids, metrics.jsonl empty)."""
    samples = os.path.dirname(paths["real"])
    os.makedirs(samples, exist_ok=True)
    if resumed_at is not None:
        truncate_metrics(paths["metrics"], resumed_at)
    else:
        checkpoint.mark_none_yet(paths["checkpoints"])
        for name in os.listdir(samples):   # an earlier start's grids
            if _SAMPLE.match(name):
                os.remove(os.path.join(samples, name))
        open(paths["metrics"], "w").close()
