"""What a run prints: the header before training, the amount of work its progress bar counts, the bar."""
import logging
import os
import shlex
import sys
import time

from ..data import loader_workers
from ..data.choices import EMBEDDED, IN_MEMORY
from ..utils.cpu import isa_summary
from . import schedule

log = logging.getLogger(__name__)

_OBJECTIVES = {
    "wgan": "WGAN, critic weights clipped to [-{clamp:g}, {clamp:g}] ({clip_when} each critic update)",
    "wgan-gp": "WGAN-GP, {gp_mode} gradient penalty of weight {gp_weight:g}",
    "gan": "GAN (DCGAN's non-saturating loss)",
    "lsgan": "least-squares GAN",
}


def total_critic_iters(cfg):
    """Critic iterations of the whole run: what the progress bar counts, since the warm-up and the
    bursts make some generator iterations 20 times as long as the others."""
    return schedule.total_critic_iters(cfg.gen_iters, cfg.d_iters, cfg.warmup_iters, cfg.burst_d_iters,
                                       cfg.burst_every)


def header(cfg, contexts, outdir, resumed_at=None):
    """The lines printed before training: where, what, on which data and devices (on a CPU, with which
    instructions), how to stop."""
    objective = _OBJECTIVES[cfg.method].format(clamp=cfg.clamp, clip_when=cfg.clip_when,
                                               gp_weight=cfg.gp_weight, gp_mode=cfg.gp_mode)
    threads = os.environ.get("OMP_NUM_THREADS") or os.environ.get("MXNET_OMP_MAX_THREADS") or "MXNet's default"
    start = "a new run" if resumed_at is None else f"resuming at generator iteration {resumed_at}"
    return [
        f"run folder  {outdir} ({start}); samples every {cfg.sample_every}, checkpoint every "
        f"{cfg.checkpoint_every} generator iterations",
        f"objective   {objective}; {cfg.optimizer} at lr {cfg.lr_d:g} (critic) / {cfg.lr_g:g} (generator)"
        + (", decayed linearly to 0" if cfg.lr_decay == "linear" else ""),
        f"models      {_model(cfg.generator, 'generator', cfg.ngf, cfg.gen_norm)}, "
        f"{_model(cfg.critic, 'critic', cfg.ndf, cfg.critic_norm)}; images {cfg.image_size}x{cfg.image_size}"
        + ("; convolutions and dense layers in bfloat16, parameters float32" if cfg.dtype == "bfloat16" else ""),
        f"data        {_data(cfg)}{', dequantized' if cfg.dequantize else ''}, batch {cfg.batch_size}"
        f"{f' (generator {cfg.gen_batch_size})' if cfg.gen_batch_size else ''}, {workers(cfg, contexts)} loader worker(s)"
        + (" (--workers's default for these devices)" if cfg.workers is None else ""),
        f"schedule    {cfg.gen_iters:,} generator iterations, {_schedule(cfg)}: "
        f"{total_critic_iters(cfg):,} critic iterations in all",
        f"devices     {', '.join(str(c) for c in contexts)}; {threads} compute thread(s) per process",
        *([f"cpu         oneDNN computes with {isa_summary()}"] if any(c.device_type == "cpu" for c in contexts)
          else []),
        *_evaluation(cfg),
        f"stopping    Ctrl-C or SIGTERM checkpoints, then exits; continue with {_resume_command(cfg)}",
    ]


def workers(cfg, contexts):
    """The run's data-loading processes: --workers, or its default for the devices (`loader_workers`)."""
    return loader_workers(cfg.workers, on_gpu=any(c.device_type == "gpu" for c in contexts),
                          in_memory=cfg.dataset in IN_MEMORY)


def _resume_command(cfg):
    if cfg.kvstore == "dist_sync":   # every worker together, from the job's folder
        return "the same scripts/launch_dist.py command, with --resume after train_wgan.py"
    return f"python scripts/train_wgan.py --resume --outdir {shlex.quote(cfg.outdir)}"   # inert when pasted


def _model(kind, role, width, norm):
    if kind == "mlp":
        return f"MLP {role}"
    names = {"cifar": "WGAN-GP code's CIFAR-10", "cifar_resnet": "WGAN-GP code's CIFAR-10 ResNet",
             "resnet": "WGAN-GP code's 64x64 ResNet", "resnet101": "WGAN-GP code's 101-layer ResNet"}
    name = names.get(kind, "DCGAN")
    return f"{name} {role} ({'ngf' if role == 'generator' else 'ndf'} {width}, {norm} norm)"


def _evaluation(cfg):
    if not cfg.eval_every:
        return []
    network = ("the papers' Inception network" if cfg.inception == "fid-inception" else
               "gluoncv's InceptionV3, not comparable with papers' numbers")
    return [f"evaluation  FID and Inception Score every {cfg.eval_every:,} generator iterations on "
            f"{cfg.eval_samples:,} samples, {network}; its time is not counted in `seconds`"]


def _data(cfg):
    if cfg.dataset in EMBEDDED:
        return f"embedded {cfg.dataset}"
    where = f" in {cfg.dataroot}" if cfg.dataroot else ""
    what = f"LSUN {cfg.lsun_category}" if cfg.dataset == "lsun" else cfg.dataset
    return f"{what}{where} ({cfg.resize_backend} {cfg.interpolation} resize)"


def _schedule(cfg):
    parts = [f"{cfg.d_iters} critic iterations before each"]
    if cfg.warmup_iters:
        parts.append(f"{cfg.burst_d_iters} before the first {cfg.warmup_iters}")
    if cfg.burst_every:
        parts.append(f"{cfg.burst_d_iters} before one in every {cfg.burst_every}")
    return ", ".join(parts)


def progress_bar(total, initial=0, enabled=True, stream=None, every=60.0):
    """The run's progress: a tqdm bar on a terminal; elsewhere (a log file, CI) a plain log line every
    `every` seconds and at the end, instead of a redraw per update (hundreds of KB of them per run)."""
    stream = sys.stderr if stream is None else stream
    if not enabled or stream.isatty():
        from tqdm import tqdm
        return tqdm(total=total, initial=initial, disable=not enabled, unit=" critic it", dynamic_ncols=True,
                    file=stream)
    return PlainProgress(total, initial, every)


class PlainProgress:
    """tqdm's update / set_postfix / close, as a log line every `every` seconds and one at the end."""

    def __init__(self, total, initial, every, clock=time.monotonic):
        self.total, self.n, self.every, self.clock = total, initial, every, clock
        self.postfix, self.started, self.start_n = {}, clock(), initial
        self.last = self.started

    def update(self, n=1):
        self.n += n
        if self.clock() - self.last >= self.every:
            self._line()

    def set_postfix(self, **values):
        self.postfix = values

    def close(self):
        if self.n != self.start_n:
            self._line()

    def _line(self):
        now = self.clock()
        self.last = now
        rate = (self.n - self.start_n) / max(now - self.started, 1e-9)
        details = "".join(f", {key} {value}" for key, value in self.postfix.items())
        log.info("%d/%d critic iterations (%.0f%%), %.3g/s%s", self.n, self.total,
                 100.0 * self.n / max(self.total, 1), rate, details)
