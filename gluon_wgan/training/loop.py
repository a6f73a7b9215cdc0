"""train(cfg): the one training loop. It wires the pieces; each piece lives in its own module."""
import logging
import os
import shutil
import signal
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional

import mxnet as mx
import numpy as np
from mxnet import gluon

from .. import plots
from ..config import TrainConfig, to_dict
from ..data import BatchStream, get_dataset
from ..utils.context import parse_ctx
from ..utils.files import locked_folder
from ..utils.signals import handling_signals
from . import checkpoint, console
from .build import (build_models, build_trainers, reference_running_variances, scale_running_variances_,
                    unbiased_variance_factors)
from .distributed import WorkerAgreement, check_same_iteration, leave_without_barrier
from .errors import Interrupted, TrainingDiverged
from .methods import METHODS, Method
from .periodic_eval import evaluator
from .provenance import write_provenance
from .resume import check_config_matches, check_progress, checkpoint_to_resume, prepare_folder, run_paths
from .runlog import append_metrics, first_non_finite, read_metrics
from .dequantize import dequantize
from .schedule import critic_iters, lr_factor
from .state import TrainState, iteration_seed, worker_seed
from .steps import critic_step, generator_step
from .tensorboard import EventLog, EventsUnwritable

log = logging.getLogger(__name__)
N_SAMPLES = 64


def train(cfg, progress=True, resume=None, trust_pickled_states=False):
    """Train `cfg` (a TrainConfig) in ``cfg.outdir``; return the final TrainState.

    `resume` None continues the run in ``cfg.outdir`` if it has a checkpoint and starts one otherwise;
    True requires a checkpoint to continue, False a folder that holds no run (a run stopped before
    its first checkpoint is started over). The run holds a lock
    on its folder: a second process on the same folder gets `FolderInUse`. Nothing from the folder is
    executed; pickled optimizer states of earlier versions are read only with `trust_pickled_states`.
    A folder that cannot be used as asked raises a `RunFolderError` before anything in it changes.

    Ctrl-C or SIGTERM ends the run at the next generator iteration with a checkpoint, then raises
    `Interrupted`, so an interrupted run resumes exactly where it stopped; during the set-up, it raises
    `Interrupted` at once. A failure to write --tensorboard's events stops the run the same way, then
    raises `EventsUnwritable`. With ``--kvstore
    dist_sync`` each worker draws its own data and noise; worker 0 writes ``cfg.outdir``, worker r
    its own run folder ``cfg.outdir/worker<r>``; a signal to any worker stops all of them after the
    same generator iteration, and they resume only from checkpoints of one iteration. A worker that
    fails exits at once instead of waiting for the others (see `leave_without_barrier`).
    """
    kvstore = mx.kv.create("dist_sync") if cfg.kvstore == "dist_sync" else None
    try:
        return _train(cfg, kvstore, progress, resume, trust_pickled_states)
    except Interrupted as stop:
        if stop.state is None and kvstore is not None:   # stopped in the set-up: the others are not stopping
            leave_without_barrier(kvstore)
        raise   # in the loop, every worker stopped after the same iteration: they leave together
    except BaseException:
        if kvstore is not None:
            leave_without_barrier(kvstore)
        raise


def _train(cfg, kvstore, progress, resume, trust_pickled_states):
    """Setup, then the loop: WGAN's Algorithm 1 (Arjovsky et al. 2017), whose critic step WGAN-GP's
    Algorithm 1 (Gulrajani et al. 2017) changes, with the reference code's schedule of n_critic."""
    rank = kvstore.rank if kvstore is not None else 0
    outdir = cfg.outdir if rank == 0 else os.path.join(cfg.outdir, f"worker{rank}")
    fresh = not os.path.exists(outdir)
    os.makedirs(outdir, exist_ok=True)
    with locked_folder(outdir):
        try:
            run = _interruptible_setup(cfg, kvstore, outdir, progress, resume, trust_pickled_states)
        except Interrupted:
            raise   # the folder says "no checkpoint yet": the same command starts over in place
        except BaseException:
            if fresh:   # a refused start (data, evaluation weights, ...) leaves no folder behind
                shutil.rmtree(outdir, ignore_errors=True)
            raise
        state, pending, stopping = run.state, [], False
        with _stop_requests() as stop, run.stream, run.events or nullcontext():   # the stream's workers end with it
            clock = time.time()
            while state.gen_iter < cfg.gen_iters and not stopping:
                n_critic = critic_iters(state.gen_iter, cfg.d_iters, cfg.warmup_iters, cfg.burst_d_iters,
                                        cfg.burst_every)
                mx.random.seed(iteration_seed(run.seed, state.gen_iter))   # the same noise after a resume
                for done in range(1, n_critic + 1):    # for t = 1, ..., n_critic:
                    d_out = _critic_update(run)        #   real batch, noise, one critic step (clip or penalty)
                    if run.stream.epoch_ended:         #   --epoch-boundaries official: the epoch ends the loop
                        break
                g_out = _generator_update(run)         # noise, one generator step
                _count(run, done, {**d_out, **g_out}, pending)
                # Read once: a signal arriving later in this iteration is acted on after the next one.
                stopping = _stopping(run, stop)
                due = _due(cfg, state.gen_iter, stopping, evaluating=run.evaluate is not None)
                if due.log:
                    clock = _log(run, pending, clock, evaluate=due.evaluate)
                if due.sample:
                    _save_samples(run)
                if due.checkpoint:
                    _save_checkpoint(run)
        run.bar.close()
        if run.events is not None and run.events.failure is not None:
            raise EventsUnwritable(f"--tensorboard: {run.events.failure}; stopped at generator iteration "
                                   f"{state.gen_iter} after a checkpoint; free some space there, then continue "
                                   "with --resume (add --no-tensorboard to go on without events)")
        if stopping and state.gen_iter < cfg.gen_iters:
            raise Interrupted(stop[0] if stop else None, state)
        log.info("%d generator iterations, %d critic iterations, %.0f s, %d unreadable images skipped; run in "
                 "%s: samples/%07d.png beside samples/real.png, loss.png, metrics.jsonl", state.gen_iter,
                 state.critic_iters_total, state.seconds, state.skipped_records, outdir, state.gen_iter)
        return state


def _interruptible_setup(cfg, kvstore, outdir, progress, resume, trust_pickled_states):
    """`setup`, which Ctrl-C or SIGTERM stops at once (a first kernel compile or real-image statistics
    can take minutes, and there is nothing to checkpoint yet): `Interrupted` without a state."""
    received = []

    def interrupt(signum, frame):
        received.append(signal.Signals(signum).name)
        raise KeyboardInterrupt   # a BaseException: no `except Exception` on the way swallows it

    try:
        with handling_signals(interrupt):
            return setup(cfg, kvstore, outdir, progress, resume, trust_pickled_states)
    except KeyboardInterrupt:
        raise Interrupted(received[0] if received else "SIGINT", None, outdir) from None


@dataclass
class Run:
    """What the loop works with, built once by `setup`. `state` is the only part the loop changes
    (besides the networks, trainers and the data stream's position)."""
    cfg: TrainConfig
    paths: dict                 # the run folder's files, `run_paths`
    contexts: list              # the devices; several: data parallel, the batch split evenly
    seed: int                   # this worker's seed: its data order and noise (`worker_seed`)
    method: Method
    generator: gluon.HybridBlock
    critic: gluon.HybridBlock
    g_trainer: gluon.Trainer
    d_trainer: gluon.Trainer
    state: TrainState
    stream: BatchStream
    fixed_z: mx.nd.NDArray      # the noise of every sample grid
    bn_factors: dict            # --bn-stats reference: {running variance: factor}, else empty
    generator_statistics: bool  # --bn-stats reference with a BatchNorm generator
    agreement: Optional[WorkerAgreement]   # dist_sync: when the workers stop together
    evaluate: Optional[Callable]           # --eval-every: generator -> {'fid', 'is_mean', 'is_std'}
    events: Optional[EventLog]             # --tensorboard
    bar: object                 # console.progress_bar: tqdm on a terminal, else PlainProgress


def setup(cfg, kvstore, outdir, progress, resume, trust_pickled_states):
    """Everything before the first iteration, as a `Run`: the checkpoint to continue from (checked
    before anything changes), the networks and trainers (restored from it), the run folder's files,
    the data, the evaluation and the progress bar. The caller holds the folder's lock."""
    latest = checkpoint_to_resume(outdir, resume, trust_pickled_states)
    contexts = parse_ctx(cfg.ctx)
    rank = kvstore.rank if kvstore is not None else 0
    seed = worker_seed(cfg.seed, rank)
    paths = run_paths(outdir)
    if latest:
        check_config_matches(cfg, latest)
    mx.random.seed(cfg.seed)     # the same initial weights everywhere (DistributedTrainer keeps rank 0's)
    generator, critic = build_models(cfg, contexts)
    g_trainer, d_trainer = build_trainers(cfg, generator, critic, kvstore)
    agreement = WorkerAgreement(kvstore) if kvstore is not None else None
    state = TrainState()
    if latest:
        state = checkpoint.restore(latest, generator, critic, g_trainer, d_trainer, contexts,
                                   trust_pickled_states=trust_pickled_states)
        check_progress(cfg, state)
    # --bn-stats reference: running variances kept at 1/factor times PyTorch's, which checkpoints hold.
    bn_factors = unbiased_variance_factors(cfg, generator, critic, len(contexts)) if cfg.bn_stats == "reference" \
        else {}
    scale_running_variances_(bn_factors, -1)
    generator_statistics = any(p in bn_factors for p in generator.collect_params().values())
    if agreement is not None:
        check_same_iteration(agreement.gen_iters(state.gen_iter))
    resumed_at = state.gen_iter if latest else None
    for line in console.header(cfg, contexts, outdir, resumed_at):
        log.info(line)
    # What may still refuse comes before the folder changes: a refused --resume leaves config.json as it was.
    dataset = get_dataset(cfg.dataset, root=cfg.dataroot, image_size=cfg.image_size,
                          resize_backend=cfg.resize_backend, interpolation=cfg.interpolation,
                          lsun_category=cfg.lsun_category)
    evaluate = evaluator(cfg, contexts[0]) if cfg.eval_every and rank == 0 else None   # dist_sync: worker 0
    events = EventLog(outdir, state.gen_iter) if cfg.tensorboard else None
    prepare_folder(paths, resumed_at)
    write_provenance(paths, cfg, contexts, kvstore, rank)
    stream = BatchStream(dataset, cfg.batch_size, seed=seed, workers=console.workers(cfg, contexts),
                         start=state.batches, skipped=state.skipped_records,
                         per_epoch=cfg.epoch_boundaries == "official")
    fixed_z = mx.nd.array(np.random.default_rng(cfg.seed).standard_normal((N_SAMPLES, cfg.nz)), ctx=contexts[0])
    if state.gen_iter == 0:
        plots.save_image_grid(next(BatchStream(dataset, N_SAMPLES, seed=cfg.seed)), paths["real"])
    # Counted in critic iterations: warm-up and burst iterations hold many times the others', and a bar of
    # generator iterations would read its rate off them and misjudge the rest.
    bar = console.progress_bar(console.total_critic_iters(cfg), initial=state.critic_iters_total, enabled=progress)
    return Run(cfg, paths, contexts, seed, METHODS[cfg.method], generator, critic, g_trainer, d_trainer, state,
               stream, fixed_z, bn_factors, generator_statistics, agreement, evaluate, events, bar)


def _critic_update(run):
    """One critic update on the next real batch and a new noise batch (clipped or penalized by the method)."""
    cfg = run.cfg
    real = mx.nd.array(next(run.stream), ctx=run.contexts[0])
    if cfg.dequantize:
        real = dequantize(real)
    if cfg.lr_decay != "none":
        run.d_trainer.set_learning_rate(cfg.lr_d * lr_factor(run.state.gen_iter, cfg.gen_iters, cfg.lr_decay))
    return critic_step(run.critic, run.generator, run.d_trainer,
                       _shards(real, run.contexts), _noise(cfg, run.contexts), run.method, clamp=cfg.clamp,
                       clip_when=cfg.clip_when, gp_weight=cfg.gp_weight, gp_mode=cfg.gp_mode,
                       generator_statistics=run.generator_statistics)


def _generator_update(run):
    """One generator update on a new noise batch (of --gen-batch-size), at the learning rate that opens the
    next iteration (`lr_factor`)."""
    cfg = run.cfg
    if cfg.lr_decay != "none":
        run.g_trainer.set_learning_rate(cfg.lr_g * lr_factor(run.state.gen_iter + 1, cfg.gen_iters, cfg.lr_decay))
    return generator_step(run.generator, run.critic, run.g_trainer,
                          _noise(cfg, run.contexts, cfg.gen_batch_size or cfg.batch_size), run.method)


def _count(run, n_critic, out, pending):
    """Count the generator iteration just done in `run.state`; its outputs `out` (NDArrays) wait in
    `pending` for the next host sync."""
    state = run.state
    state.critic_iters_total += n_critic
    state.gen_iter += 1   # records count 1..N: "after N generator iterations", as samples/ and checkpoints
    pending.append(dict(gen_iter=state.gen_iter, critic_iters=n_critic,
                        critic_iters_total=state.critic_iters_total, out=out))
    state.batches = run.stream.position
    state.skipped_records = run.stream.skipped
    run.bar.update(n_critic)


def _stopping(run, stop):
    """Whether the run stops after this generator iteration: Ctrl-C or SIGTERM (`stop`), or event
    files that could not be written; with dist_sync, whether any worker stops."""
    wanted = bool(stop) or (run.events is not None and run.events.failure is not None)
    return run.agreement.stop(wanted) if run.agreement is not None else wanted


class Due(NamedTuple):
    """What follows generator iteration `gen_iter`."""
    log: bool
    sample: bool
    checkpoint: bool
    evaluate: bool


def _due(cfg, gen_iter, stopping, evaluating):
    """Every --log-every, --sample-every, --checkpoint-every, --eval-every generator iterations and at
    the last; a checkpoint also when stopping; the losses are read whenever anything else is due."""
    last = gen_iter == cfg.gen_iters
    sample = gen_iter % cfg.sample_every == 0 or last
    checkpoint_ = gen_iter % cfg.checkpoint_every == 0 or last or stopping
    evaluate = evaluating and (gen_iter % cfg.eval_every == 0 or last)
    return Due(log=gen_iter % cfg.log_every == 0 or sample or checkpoint_ or evaluate, sample=sample,
               checkpoint=checkpoint_, evaluate=evaluate)


def _log(run, pending, clock, evaluate):
    """Read the pending losses (the one host sync), stop if one is not finite, add the training time
    since `clock` and, with `evaluate`, FID and IS (whose time is not training time), and append them to metrics.jsonl (and TensorBoard).
    Returns the clock's new start."""
    state = run.state
    records = _read_losses(pending)
    _stop_if_diverged(records)
    state.seconds += time.time() - clock
    clock = time.time()
    for record in records:
        record.update(seconds=round(state.seconds, 3), skipped_records=state.skipped_records)
    if evaluate:
        started = time.time()
        records[-1].update(run.evaluate(run.generator))
        records[-1]["eval_seconds"] = round(time.time() - started, 3)
        clock += time.time() - started   # `seconds` is training time: evaluations left out
    append_metrics(run.paths["metrics"], records)
    if run.events is not None:
        run.events.add_records(records)
    run.bar.set_postfix(gen_iter=f"{state.gen_iter}/{run.cfg.gen_iters}", loss_d=f"{records[-1]['loss_d']:.4g}",
                        loss_g=f"{records[-1]['loss_g']:.4g}")
    return clock


def _save_checkpoint(run):
    """A checkpoint of the run as it is now (under --bn-stats reference, with PyTorch's running variances)."""
    with reference_running_variances(run.bn_factors):
        checkpoint.save(run.paths["checkpoints"], run.generator, run.critic, run.g_trainer, run.d_trainer,
                        run.state, to_dict(run.cfg))
    if run.events is not None:
        run.events.checkpointed(run.state.gen_iter)


def _noise(cfg, contexts, n=None):
    """A noise batch of `n` (default --batch-size) drawn on the first device, split across `contexts` (the
    same draws for any count)."""
    return _shards(mx.nd.random.normal(0, 1, shape=(n or cfg.batch_size, cfg.nz), ctx=contexts[0]), contexts)


def _shards(batch, contexts):
    """`batch` cut into equal parts, one on each device (the batch itself for one device)."""
    return gluon.utils.split_and_load(batch, contexts, even_split=True)


def _read_losses(pending):
    """The pending outputs read from the device as metric records (the host sync); `pending` is emptied."""
    records = []
    for entry in pending:
        out = entry.pop("out")
        record = dict(entry, loss_d=_scalar(out["loss_d"]),
                      loss_g=_scalar(out["loss_g"]), w_estimate=_scalar(out.get("w_estimate")))
        if "gp" in out:
            norms = out["grad_norm"].asnumpy()
            record.update(gp=_scalar(out["gp"]), grad_norm_mean=float(norms.mean()),
                          grad_norm_std=float(norms.std()), grad_norm_min=float(norms.min()),
                          grad_norm_max=float(norms.max()))
        records.append(record)
    pending.clear()
    return records


def _stop_if_diverged(records):
    """TrainingDiverged if a loss of `records` is NaN or infinite."""
    bad = first_non_finite(records)
    if bad:
        raise TrainingDiverged(f"{bad[1]} became {bad[2]} at generator iteration {bad[0]}; the latest "
                               "checkpoint predates it (lower the learning rate, or check the data)")


def _scalar(value):
    return None if value is None else float(value.asscalar())  # host sync, at the logging interval only


def _save_samples(run):
    """A sample grid from the fixed noise (also to TensorBoard), and the loss curve redrawn from
    metrics.jsonl."""
    gen_iter, paths = run.state.gen_iter, run.paths
    with mx.autograd.train_mode():  # batch statistics, as the generator is trained (reference code)
        images = run.generator(run.fixed_z).asnumpy()
    plots.save_image_grid(images, os.path.join(os.path.dirname(paths["real"]), f"{gen_iter:07d}.png"))
    if run.events is not None:
        run.events.add_samples(images, gen_iter)
    records = read_metrics(paths["metrics"])
    plots.loss_curve(records, paths["loss"], window=max(1, len(records) // 50))


@contextmanager
def _stop_requests():
    """A list that becomes truthy (holding the signal's name) on Ctrl-C or SIGTERM."""
    stop = []
    with handling_signals(lambda signum, frame: stop.append(signal.Signals(signum).name)):
        yield stop
