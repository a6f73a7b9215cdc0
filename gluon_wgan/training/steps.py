"""One critic update and one generator update. Both return NDArrays: nothing here waits for the device."""
from contextlib import contextmanager

from mxnet import autograd, nd

from ..objectives import CLAMP, GP_WEIGHT
from .constraints import clip_


def critic_step(critic, generator, trainer, real, z, method, clamp=CLAMP, clip_when="before",
                gp_weight=GP_WEIGHT, gp_mode="two-sided", generator_statistics=False):
    """Update the critic once on a real batch and the generator's images of noise `z`.

    With weight clipping, ``clip_when='before'`` clamps at the start of the update, as the WGAN
    reference code does (so the generator then trains against a critic whose last update was not
    clipped); ``'after'`` clamps right after it, as MXNet's `clip_weights` would.

    MXNet 1.9.1's BatchNorm moves its running statistics in its backward pass, so the generator's
    forward here, which is never backpropagated, leaves the generator's statistics alone; PyTorch's
    train-mode forward (the reference code's) moves them. ``generator_statistics=True`` follows the
    reference: the forward is recorded and zeros are backpropagated through it, the generator's
    parameter gradients switched off (about one generator backward more per call).

    Parameters
    ----------
    real, z : NDArray, or list of NDArray
        The batch, or (data parallel) its equal shards, one per device the networks live on; the
        trainer sums the shards' gradients and `step(len(shards))` makes that the batch mean.

    Returns
    -------
    dict of NDArray
        ``loss_d`` (what the critic minimized, penalty included), ``w_estimate`` (mean D(real) -
        mean D(fake), for Wasserstein methods), and for WGAN-GP ``gp`` and ``grad_norm`` (N,); on
        the first shard's device, averaged (norms concatenated) over the shards.
    """
    reals, zs = _as_shards(real), _as_shards(z)
    if method.clip and clip_when == "before":
        clip_(critic.collect_params(), clamp)
    if generator_statistics:
        zs = [shard.copy() for shard in zs]
        for shard in zs:
            shard.attach_grad()   # MXNet refuses a backward with no input that needs a gradient
        with autograd.record(), _no_param_grads(generator):
            fakes = [generator(shard) for shard in zs]
        # The backward only moves BatchNorm's running statistics: zero head, no parameter gradients.
        autograd.backward(fakes, head_grads=[nd.zeros_like(fake) for fake in fakes])
        fakes = [fake.detach() for fake in fakes]
    else:
        with autograd.train_mode():  # batch statistics, as the reference's train-mode G; no graph recorded
            fakes = [generator(shard) for shard in zs]
    # One alpha per sample for the whole batch, drawn on the first device, so that a data-parallel
    # run penalizes the same points as a single-device one.
    alphas = _split_like(_uniform(reals), reals) if method.penalty else [None] * len(reals)
    shards = []
    with autograd.record():
        for real_k, fake_k, alpha_k in zip(reals, fakes, alphas):
            loss = method.loss_d(critic(real_k), critic(fake_k))
            out = {"loss": loss, "loss_d": loss}
            if method.penalty:
                from ..penalty import gradient_penalty
                out["gp"], out["grad_norm"] = gradient_penalty(critic, real_k, fake_k, weight=gp_weight,
                                                               alpha=alpha_k, return_norms=True, mode=gp_mode)
                out["loss_d"] = loss + out["gp"]
            shards.append(out)
    autograd.backward([out["loss_d"] for out in shards])
    trainer.step(len(shards))  # each shard's loss is its mean already
    if method.clip and clip_when == "after":
        clip_(critic.collect_params(), clamp)
    out = {"loss_d": _mean(shards, "loss_d")}
    if method.wasserstein:
        out["w_estimate"] = -_mean(shards, "loss")
    if method.penalty:
        out["gp"] = _mean(shards, "gp")
        out["grad_norm"] = nd.concat(*[o["grad_norm"].as_in_context(out["gp"].context) for o in shards],
                                     dim=0)
    return out


def generator_step(generator, critic, trainer, z, method):
    """Update the generator once against the current critic. Returns {'loss_g': NDArray}.

    `z` is the noise batch, or a list of its shards, one per device (see `critic_step`). The
    critic's parameter gradients are not computed (nor its `.grad()` arrays touched): the
    backward pass only goes through the critic to its input.
    """
    zs = _as_shards(z)
    with autograd.record(), _no_param_grads(critic):
        shards = [{"loss_g": method.loss_g(critic(generator(shard)))} for shard in zs]
    autograd.backward([out["loss_g"] for out in shards])
    trainer.step(len(shards))
    return {"loss_g": _mean(shards, "loss_g")}


def _as_shards(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _uniform(shards):
    """U[0, 1] draws, one per sample of all `shards`, on the first shard's device."""
    first = shards[0]
    n = sum(shard.shape[0] for shard in shards)
    return nd.random.uniform(shape=(n,), ctx=first.context, dtype=first.dtype)


def _split_like(values, shards):
    """`values` (N,) cut into the shards' batch sizes, each on its shard's device."""
    parts, start = [], 0
    for shard in shards:
        stop = start + shard.shape[0]
        parts.append(values[start:stop].as_in_context(shard.context))
        start = stop
    return parts


def _mean(shards, key):
    """The mean over shards of ``shard[key]``, on the first shard's device (no copy for one shard)."""
    if len(shards) == 1:
        return shards[0][key]
    ctx = shards[0][key].context
    return nd.add_n(*[out[key].as_in_context(ctx) for out in shards]) / len(shards)


@contextmanager
def _no_param_grads(block):
    """Record `block`'s parameters as constants: backward skips their gradients (the critic's
    weight-gradient convolutions are a sizeable part of a DCGAN generator iteration: benchmarks/README.md).

    Re-marking the same data and gradient arrays with grad_req 'null', then back, rather than setting
    `Parameter.grad_req`, which would reallocate (zero) every gradient array each time.
    """
    params = [p for p in block.collect_params().values() if p.grad_req != "null"]
    for p in params:
        autograd.mark_variables(p.list_data(), p.list_grad(), "null")
    try:
        yield
    finally:
        for p in params:
            autograd.mark_variables(p.list_data(), p.list_grad(), p.grad_req)
