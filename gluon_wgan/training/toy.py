"""The WGAN-GP paper's toy experiments (Gulrajani et al. 2017, section 4.1 and Figure 1) on 2-D data.

Three experiments, each writing its figures and a ``summary.json`` into a folder:

- `run_train`: WGAN-GP (or WGAN with clipping) on one toy dataset with the released toy code's
  settings (igul222/improved_wgan_training, gan_toy.py): MLP generator and critic with 3 hidden
  layers of 512 ReLU units, 2-D generator noise, batch 256, 5 critic updates per generator update,
  Adam(1e-4, 0.5, 0.9) and lambda = 0.1 for WGAN-GP (the paper's lambda is 10; the released toy code
  uses 0.1, "faster for toy tasks"), RMSProp(5e-5) and clipping at 0.01 for WGAN. The exact W1
  between 1000 generated and 1000 real points (`gluon_wgan.metrics.wasserstein1`) is logged over
  training.
- `run_figure_1a`: Figure 1(a). Critics trained with the generator held fixed at real data plus
  unit-variance Gaussian noise (the released code's FIXED_GENERATOR), clipping against the penalty,
  on the three datasets; their value surfaces.
- `run_figure_1b`: Figure 1(b). 12-layer ReLU MLP generator and critic without normalization on the
  Swiss roll, trained with clipping at c = 0.1, 0.01, 0.001 and with the penalty; the norm of the
  gradient of the critic loss with respect to each successive layer's activations, and the critic
  weights' histograms. The released code has no script for this figure; its network width and
  training length are not given in the paper and are arguments here.

Every function takes plain arguments (no TrainConfig) and is deterministic given `seed`.
"""
import os
import time
from typing import NamedTuple, Optional

import mxnet as mx
import numpy as np
from mxnet import gluon, nd

from .. import plots
from ..data.choices import TOY_DATASETS
from ..data.toy import sample_toy
from ..utils.files import atomic_write_json, check_writable_dir
from ..metrics import wasserstein1
from ..models import MLPCritic, MLPGenerator
from ..models.precision import set_compute_dtype
from ..optim import make_optimizer
from ..penalty import check_penalty_support
from .choices import TOY_GP_WEIGHT, TOY_METHODS, toy_problems
from .methods import METHODS
from .steps import critic_step, generator_step

FIGURE_1B_CLAMPS = (0.1, 0.01, 0.001)
NZ = 2                 # the released code's generator noise is 2-D
PLOT_RANGE = 3.0       # value surfaces on [-3, 3]^2, 128 x 128 points, as the released code plots them
GRID_POINTS = 128


class ToySettings(NamedTuple):
    """How one toy method trains: optimizer arguments for `make_optimizer`, clipping."""
    optimizer: str
    lr: float
    optimizer_kw: dict
    clamp: Optional[float]


# The released toy code: Adam(1e-4, beta1 = 0.5, beta2 = 0.9) for WGAN-GP; for WGAN TensorFlow's
# RMSPropOptimizer(5e-5), whose decay is 0.9 and whose epsilon (1e-10) sits inside the square root
# (MXNet's form, rmsprop_eps_mode='mxnet'), and clipping to [-0.01, 0.01] after every critic update.
# One difference remains: TensorFlow 1 starts RMSProp's mean square at 1, MXNet at 0, so the first
# few WGAN updates here are larger.
SETTINGS = {
    "wgan-gp": ToySettings("adam", 1e-4, dict(beta1=0.5, beta2=0.9), None),
    "wgan": ToySettings("rmsprop", 5e-5, dict(rmsprop_alpha=0.9, rmsprop_eps=1e-10,
                                              rmsprop_eps_mode="mxnet"), 0.01),
}


def check_toy_args(dataset="8gaussians", method="wgan-gp", gen_iters=1, gp_weight=TOY_GP_WEIGHT, critic_iters=5,
                   batch_size=256, hidden=512, eval_every=None, eval_samples=1000):
    """Raise `ValueError` with one line naming the flag for the first bad argument."""
    if dataset not in TOY_DATASETS:
        raise ValueError(f"--dataset must be one of {', '.join(TOY_DATASETS)}, got {dataset!r}")
    if method not in TOY_METHODS:
        raise ValueError(f"--method must be one of {', '.join(TOY_METHODS)}, got {method!r}")
    for problem in toy_problems(gen_iters, gp_weight, critic_iters, batch_size, hidden, eval_every, eval_samples):
        raise ValueError(problem)


def build_mlps(hidden=512, n_hidden=3, ctx=None, dtype="float32"):
    """Toy generator (R^2 noise -> R^2) and critic (R^2 -> score), initialized, not hybridized, their
    dense layers computing in `dtype` (`models.precision.set_compute_dtype`).

    Hidden layers are initialized as tflib's ``initialization='he'`` (uniform with std
    sqrt(2 / fan_in)) and output layers as its default (std sqrt(1 / fan_in)); biases are 0.
    """
    ctx = ctx or mx.cpu()
    generator = MLPGenerator(out_shape=(2,), nz=NZ, hidden=hidden, n_hidden=n_hidden)
    critic = MLPCritic(in_shape=(2,), hidden=hidden, n_hidden=n_hidden)
    check_penalty_support(critic)
    for net in (generator, critic):
        set_compute_dtype(net, dtype)
        dense = [layer for layer in net.body if isinstance(layer, gluon.nn.Dense)]
        for i, layer in enumerate(dense):
            magnitude = 3.0 if i == len(dense) - 1 else 6.0   # U(+-sqrt(m / fan_in)): std sqrt(m / 3 / fan_in)
            layer.weight.initialize(mx.init.Xavier("uniform", "in", magnitude), ctx=ctx)
            layer.bias.initialize(mx.init.Zero(), ctx=ctx)
    return generator, critic


def _trainer(net, method):
    s = SETTINGS[method]
    return gluon.Trainer(net.collect_params(), make_optimizer(s.optimizer, s.lr, **s.optimizer_kw))


def _identity(x):
    return x


def train_toy(dataset, gen_iters, method="wgan-gp", gp_weight=TOY_GP_WEIGHT, critic_iters=5, batch_size=256,
              hidden=512, n_hidden=3, seed=0, clamp=None, fixed_generator=False, eval_every=None,
              eval_samples=1000, progress=None, ctx=None, dtype="float32"):
    """Train a toy WGAN(-GP); the networks and the exact-W1 curve.

    Each generator iteration is `critic_iters` critic updates and one generator update (Gulrajani et
    al. 2017, Algorithm 1). With `fixed_generator` the "generator" is real data plus N(0, I) noise
    and never trains (the released code's FIXED_GENERATOR, used for Figure 1(a)); no W1 is logged.

    Parameters
    ----------
    dataset : {'8gaussians', '25gaussians', 'swissroll'}
    gen_iters : int
        Generator iterations (with `fixed_generator`: rounds of `critic_iters` critic updates).
    method : {'wgan-gp', 'wgan'}, default 'wgan-gp'
        Optimizer and constraint as in `SETTINGS`.
    gp_weight : float, default `choices.TOY_GP_WEIGHT`
        lambda for 'wgan-gp': the released toy code's 0.1; the paper uses 10 everywhere.
    critic_iters, batch_size, hidden, n_hidden : int, default 5, 256, 512, 3
    seed : int, default 0
        Seeds numpy (data, noise) and MXNet (initialization, penalty interpolation).
    clamp : float, optional
        Clipping bound for 'wgan'; `SETTINGS['wgan'].clamp` (0.01) when None.
    eval_every : int, optional
        Generator iterations between W1 evaluations; about 20 evaluations when None. W1 is also
        measured before training (gen_iter 0) and at `gen_iters`.
    eval_samples : int, default 1000
        Points per set for W1: a fixed set of real points and the images of fixed noise.
    progress : callable, optional
        ``progress(iterable, total, desc)`` wraps the loop over generator iterations (a tqdm bar).
    dtype : {'float32', 'bfloat16'}, default 'float32'
        What the dense layers compute in (`models.precision`); parameters stay float32.

    Returns
    -------
    dict
        ``generator``, ``critic``, ``w1_curve`` ([[gen_iter, w1], ...]), ``w1_floor`` (W1 between two
        independent real sets of `eval_samples` points: the value a perfect generator would get),
        ``eval_real`` and ``eval_fake`` ((eval_samples, 2) numpy), ``seconds`` (training + evaluation).
    """
    check_toy_args(dataset, method, gen_iters, gp_weight, critic_iters, batch_size, hidden, eval_every,
                   eval_samples)
    ctx = ctx or mx.cpu()
    mx.random.seed(seed)
    rng = np.random.RandomState(seed)
    eval_rng = np.random.RandomState(seed + 1)
    generator, critic = build_mlps(hidden, n_hidden, ctx, dtype)
    generator.hybridize()
    critic.hybridize()
    d_trainer, g_trainer = _trainer(critic, method), _trainer(generator, method)
    rule = METHODS[method]
    clamp = SETTINGS[method].clamp if clamp is None else clamp
    eval_real = sample_toy(dataset, eval_samples, eval_rng)
    eval_z = nd.array(eval_rng.standard_normal((eval_samples, NZ)), ctx=ctx)
    w1_floor = wasserstein1(eval_real, sample_toy(dataset, eval_samples, eval_rng))
    eval_every = eval_every or max(1, gen_iters // 20)
    curve = []

    def evaluate(gen_iter):
        # Host sync, at the evaluation interval only.
        curve.append([gen_iter, wasserstein1(generator(eval_z).asnumpy(), eval_real)])

    start = time.time()
    if not fixed_generator:
        evaluate(0)
    steps = range(1, gen_iters + 1)
    fake_of = _identity if fixed_generator else generator
    for gen_iter in (progress(steps, gen_iters, dataset) if progress else steps):
        # One copy to the device per generator iteration: each copy waits for every queued operator
        # to finish, which leaves the engine idle while Python queues the next update.
        batches = nd.array(draw_batches(dataset, batch_size, critic_iters, rng, fixed_generator), ctx=ctx)
        for k in range(critic_iters):
            critic_step(critic, fake_of, d_trainer, batches[2 * k], batches[2 * k + 1], rule,
                        clamp=clamp, clip_when="after", gp_weight=gp_weight)
        if not fixed_generator:
            generator_step(generator, critic, g_trainer, batches[2 * critic_iters], rule)
            if gen_iter % eval_every == 0 or gen_iter == gen_iters:
                evaluate(gen_iter)
    nd.waitall()
    eval_fake = None if fixed_generator else generator(eval_z).asnumpy()
    return dict(generator=generator, critic=critic, w1_curve=curve, w1_floor=w1_floor,
                eval_real=eval_real, eval_fake=eval_fake, seconds=time.time() - start)


def draw_batches(dataset, batch_size, critic_iters, rng, fixed_generator=False):
    """One generator iteration's random inputs, float32 (2 critic_iters [+ 1], batch_size, 2).

    For each critic update, a real batch of `dataset` and the generator's noise (with
    `fixed_generator`, the "fake" batch: real + N(0, I)); then, without `fixed_generator`, the
    generator update's noise. Drawn from `rng` in that order, one batch after the other.
    """
    draws = []
    for _ in range(critic_iters):
        real = sample_toy(dataset, batch_size, rng)
        if fixed_generator:
            draws += [real, real + rng.standard_normal(real.shape).astype(np.float32)]
        else:
            draws += [real, rng.standard_normal((batch_size, NZ)).astype(np.float32)]
    if not fixed_generator:
        draws.append(rng.standard_normal((batch_size, NZ)).astype(np.float32))
    return np.stack(draws)


def critic_surface(critic, lim=PLOT_RANGE, points=GRID_POINTS, ctx=None):
    """The critic's values on a `points` x `points` grid over [-lim, lim]^2.

    Returns
    -------
    (xs, ys, values) : ndarray (points,), ndarray (points,), ndarray (points, points)
        ``values[j, i]`` is D(xs[i], ys[j]) (matplotlib's contour convention).
    """
    xs = ys = np.linspace(-lim, lim, points, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    values = critic(nd.array(grid, ctx=ctx or mx.cpu())).asnumpy().reshape(points, points)
    return xs, ys, values


def run_train(dataset, outdir, gen_iters=1000, method="wgan-gp", gp_weight=TOY_GP_WEIGHT, seed=0, critic_iters=5,
              batch_size=256, hidden=512, eval_every=None, eval_samples=1000, progress=None, dtype="float32"):
    """`train_toy` on `dataset`, then write its figures and ``summary.json`` to `outdir`.

    Writes ``samples.png`` (real points, generated points, critic contours with both) and
    ``w1.png`` (the exact W1 curve against generator iterations, with the two-real-sets floor).

    Returns
    -------
    dict
        The summary: dataset, method, gp_weight, gen_iters, critic_iters, batch_size, hidden, seed,
        dtype, w1 (final), w1_curve, w1_floor, seconds, figures.
    """
    check_toy_args(dataset, method, gen_iters, gp_weight, critic_iters, batch_size, hidden, eval_every,
                   eval_samples)
    check_writable_dir(outdir)
    run = train_toy(dataset, gen_iters, method=method, gp_weight=gp_weight, critic_iters=critic_iters,
                    batch_size=batch_size, hidden=hidden, seed=seed, eval_every=eval_every,
                    eval_samples=eval_samples, progress=progress, dtype=dtype)
    xs, ys, values = critic_surface(run["critic"])
    label = f"{method}" + (f", lambda={gp_weight:g}" if method == "wgan-gp" else "")
    plots.toy_samples_and_critic(run["eval_real"], run["eval_fake"], xs, ys, values,
                                 os.path.join(outdir, "samples.png"),
                                 title=f"{dataset}, {label}, {gen_iters} generator iterations")
    plots.w1_curve(run["w1_curve"], os.path.join(outdir, "w1.png"), floor=run["w1_floor"],
                   title=f"Exact W1, {len(run['eval_real'])} generated vs real points ({dataset}, {method})")
    summary = dict(figure="train", dataset=dataset, method=method, gp_weight=gp_weight, gen_iters=gen_iters,
                   critic_iters=critic_iters, batch_size=batch_size, hidden=hidden, seed=seed, dtype=dtype,
                   eval_samples=eval_samples, w1=run["w1_curve"][-1][1], w1_curve=run["w1_curve"],
                   w1_floor=run["w1_floor"], seconds=run["seconds"], figures=["samples.png", "w1.png"],
                   mxnet=mx.__version__)
    atomic_write_json(os.path.join(outdir, "summary.json"), summary)
    return summary


def run_figure_1a(outdir, gen_iters=100, gp_weight=TOY_GP_WEIGHT, seed=0, critic_iters=5, batch_size=256, hidden=512,
                  datasets=TOY_DATASETS, progress=None):
    """Figure 1(a): value surfaces of critics trained against a fixed generator (real + N(0, I)).

    One critic per (method, dataset), trained for `gen_iters` x `critic_iters` updates; writes
    ``figure_1a.png`` (clipping top row, penalty bottom row) and ``summary.json``.
    """
    check_writable_dir(outdir)
    surfaces, reals, seconds = {}, {}, {}
    for method in ("wgan", "wgan-gp"):
        for k, dataset in enumerate(datasets):
            check_toy_args(dataset, method, gen_iters, gp_weight, critic_iters, batch_size, hidden)
            run = train_toy(dataset, gen_iters, method=method, gp_weight=gp_weight,
                            critic_iters=critic_iters, batch_size=batch_size, hidden=hidden,
                            seed=seed + k, fixed_generator=True, progress=_described(progress, method))
            surfaces[method, dataset] = critic_surface(run["critic"])
            reals[dataset] = run["eval_real"][:500]
            seconds[f"{method}/{dataset}"] = run["seconds"]
    rows = [("wgan", "weight clipping (c=0.01)"), ("wgan-gp", f"gradient penalty (lambda={gp_weight:g})")]
    plots.toy_value_surfaces({(label, d): surfaces[m, d] for m, label in rows for d in datasets},
                             reals, [label for _, label in rows], list(datasets),
                             os.path.join(outdir, "figure_1a.png"))
    summary = dict(figure="1a", datasets=list(datasets), gen_iters=gen_iters, critic_iters=critic_iters,
                   critic_updates=gen_iters * critic_iters, gp_weight=gp_weight, batch_size=batch_size,
                   hidden=hidden, seed=seed, seconds=sum(seconds.values()), seconds_by_run=seconds,
                   figures=["figure_1a.png"], mxnet=mx.__version__)
    atomic_write_json(os.path.join(outdir, "summary.json"), summary)
    return summary


def _described(progress, desc):
    if progress is None:
        return None
    return lambda iterable, total, dataset: progress(iterable, total, f"{desc} {dataset}")


def activation_grad_norms(critic, real, fake):
    """Norms of d loss_d / d a_k for the input a_0 and each hidden ReLU activation a_k of an MLP critic.

    loss_d = mean D(fake) - mean D(real) (the WGAN critic loss, no penalty). The gradients are
    propagated by hand (dot with each Dense weight, the ReLU masks), as `penalty.explicit_input_grad`
    does, so every intermediate gradient is available; each norm is over the whole batch (2N, width).

    Parameters
    ----------
    critic : MLPCritic
    real, fake : NDArray, shape (N, d)

    Returns
    -------
    ndarray, shape (n_hidden + 1,)
        Index 0 is the input, index k the output of the k-th hidden layer.
    """
    n = real.shape[0]
    h = nd.concat(real, fake, dim=0)
    inputs, outputs = [], []
    for layer in critic.body:
        inputs.append(h)
        h = layer(h)
        outputs.append(h)
    head = np.concatenate([np.full(n, -1.0 / n), np.full(fake.shape[0], 1.0 / fake.shape[0])])
    g = nd.array(head[:, None], ctx=h.context, dtype=h.dtype)
    norms = []
    for layer, x in zip(reversed(list(critic.body)), reversed(inputs)):
        if isinstance(layer, gluon.nn.Dense):
            g = nd.dot(g, layer.weight.data(g.context))
            norms.append(float(nd.norm(g).asscalar()))   # the gradient w.r.t. this Dense's input
        else:
            g = g * (x > 0)
    return np.array(norms[::-1])


def _dense_weights(critic):
    return np.concatenate([layer.weight.data().asnumpy().ravel() for layer in critic.body
                           if isinstance(layer, gluon.nn.Dense)])


def run_figure_1b(outdir, gen_iters=20, depth=12, hidden=512, gp_weight=TOY_GP_WEIGHT, clamps=FIGURE_1B_CLAMPS,
                  seed=0, critic_iters=5, batch_size=256, eval_batches=4, progress=None):
    """Figure 1(b): layer-wise critic gradient norms and weight histograms, clipping vs penalty.

    Trains a `depth`-layer MLP generator and critic (`depth` - 1 hidden ReLU layers of `hidden`
    units and a linear output, no normalization) on the Swiss roll, once per clipping bound in
    `clamps` (WGAN) and once with the penalty (WGAN-GP), for `gen_iters` generator iterations each.
    Then measures `activation_grad_norms` on `eval_batches` fresh batches (root mean square over
    batches). Writes ``figure_1b.png`` and ``summary.json``.
    """
    check_writable_dir(outdir)
    for problem in toy_problems(gen_iters, gp_weight, critic_iters, batch_size, hidden, depth=depth):
        raise ValueError(problem)
    for c in clamps:
        if not c > 0:
            raise ValueError(f"clipping bounds must be > 0, got {c!r}")
    runs = [(f"weight clipping c={c:g}", "wgan", c) for c in clamps]
    runs.append((f"gradient penalty lambda={gp_weight:g}", "wgan-gp", None))
    norms, weights, seconds = {}, {}, {}
    rng = np.random.RandomState(seed + 2)
    for label, method, clamp in runs:
        run = train_toy("swissroll", gen_iters, method=method, gp_weight=gp_weight, critic_iters=critic_iters,
                        batch_size=batch_size, hidden=hidden, n_hidden=depth - 1, seed=seed, clamp=clamp,
                        eval_samples=batch_size, eval_every=gen_iters, progress=_described(progress, label))
        per_batch = []
        for _ in range(eval_batches):
            real = nd.array(sample_toy("swissroll", batch_size, rng))
            fake = run["generator"](nd.array(rng.standard_normal((batch_size, NZ))))
            per_batch.append(activation_grad_norms(run["critic"], real, fake))
        norms[label] = np.sqrt(np.mean(np.square(per_batch), axis=0))
        weights[label] = _dense_weights(run["critic"])
        seconds[label] = run["seconds"]
    hist_labels = [f"weight clipping c={0.01:g}" if 0.01 in clamps else runs[0][0], runs[-1][0]]
    plots.layer_grad_norms_and_weights(norms, {k: weights[k] for k in hist_labels},
                                       os.path.join(outdir, "figure_1b.png"))
    summary = dict(figure="1b", dataset="swissroll", depth=depth, hidden=hidden, gen_iters=gen_iters,
                   critic_iters=critic_iters, gp_weight=gp_weight, clamps=list(clamps), seed=seed,
                   batch_size=batch_size, grad_norms={k: v.tolist() for k, v in norms.items()},
                   seconds=sum(seconds.values()), seconds_by_run=seconds, figures=["figure_1b.png"],
                   mxnet=mx.__version__)
    atomic_write_json(os.path.join(outdir, "summary.json"), summary)
    return summary
