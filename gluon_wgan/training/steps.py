"""One critic update and one generator update. Both return NDArrays: nothing here waits for the device."""
from contextlib import contextmanager

from mxnet import autograd

from .constraints import clip_


def critic_step(critic, generator, trainer, real, z, method, clamp=0.01, clip_when="before",
                gp_weight=10.0):
    """Update the critic once on a real batch and the generator's images of noise `z`.

    With weight clipping, ``clip_when='before'`` clamps at the start of the update, as the WGAN
    reference code does (so the generator then trains against a critic whose last update was not
    clipped); ``'after'`` clamps right after it, as MXNet's `clip_weights` would.

    Returns
    -------
    dict of NDArray
        ``loss_d`` (what the critic minimized, penalty included), ``w_estimate`` (mean D(real) -
        mean D(fake), for Wasserstein methods), and for WGAN-GP ``gp`` and ``grad_norm`` (N,).
    """
    if method.clip and clip_when == "before":
        clip_(critic.collect_params(), clamp)
    with autograd.train_mode():  # batch statistics, as the reference's train-mode G; no graph recorded
        fake = generator(z)
    out = {}
    with autograd.record():
        real_scores = critic(real)
        fake_scores = critic(fake)
        loss = method.loss_d(real_scores, fake_scores)
        if method.penalty:
            from ..penalty import gradient_penalty
            out["gp"], out["grad_norm"] = gradient_penalty(critic, real, fake, weight=gp_weight,
                                                           return_norms=True)
            loss_total = loss + out["gp"]
        else:
            loss_total = loss
    loss_total.backward()
    if method.penalty:
        from ..penalty import fold_copy_grads_
        fold_copy_grads_(critic)
    trainer.step(1)  # the losses are batch means already
    if method.clip and clip_when == "after":
        clip_(critic.collect_params(), clamp)
    out["loss_d"] = loss_total
    if method.wasserstein:
        out["w_estimate"] = -loss
    return out


def generator_step(generator, critic, trainer, z, method):
    """Update the generator once against the current critic. Returns {'loss_g': NDArray}.

    The critic's parameter gradients are not computed (nor its `.grad()` arrays touched): the
    backward pass only goes through the critic to its input.
    """
    with autograd.record(), _no_param_grads(critic):
        loss = method.loss_g(critic(generator(z)))
    loss.backward()
    trainer.step(1)
    return {"loss_g": loss}


@contextmanager
def _no_param_grads(block):
    """Record `block`'s parameters as constants: backward skips their gradients (weight-gradient
    convolutions are a fifth of a DCGAN generator iteration, measured in benchmarks/).

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
