"""The networks and trainers a TrainConfig describes (used by the loop and by evaluation)."""
import json
import math
from contextlib import contextmanager

import mxnet as mx
from mxnet import gluon

from .. import compat
from .distributed import DistributedTrainer
from ..models import DCGANInit, get_model
from ..models.choices import RESNETS
from ..models.precision import set_compute_dtype
from ..optim import make_optimizer
from .methods import METHODS


def build_generator(cfg):
    """The generator named by `cfg` (a TrainConfig), not initialized."""
    if cfg.generator == "dcgan":
        return get_model("dcgan_generator", image_size=cfg.image_size, nz=cfg.nz, ngf=cfg.ngf,
                         n_extra_layers=cfg.n_extra_layers, norm=cfg.gen_norm, filters=cfg.gen_filters,
                         activation=cfg.activation)
    if cfg.generator == "cifar":
        return get_model("cifar_generator", image_size=cfg.image_size, nz=cfg.nz, dim=cfg.ngf, norm=cfg.gen_norm)
    if cfg.generator in RESNETS:
        return get_model(f"{cfg.generator}_generator", image_size=cfg.image_size, nz=cfg.nz, dim=cfg.ngf,
                         norm=cfg.gen_norm, init=cfg.init)
    if cfg.generator == "mlp":
        return get_model("mlp_generator", out_shape=(3, cfg.image_size, cfg.image_size), nz=cfg.nz,
                         hidden=cfg.mlp_hidden)
    raise ValueError(f"--generator {cfg.generator!r}: build_generator does not build it")


def build_critic(cfg):
    """The critic named by `cfg` (a TrainConfig), not initialized."""
    if cfg.critic == "dcgan":
        return get_model("dcgan_critic", image_size=cfg.image_size, ndf=cfg.ndf,
                         n_extra_layers=cfg.n_extra_layers, norm=cfg.critic_norm, use_bias=cfg.critic_bias,
                         activation=cfg.activation)
    if cfg.critic == "cifar":
        return get_model("cifar_critic", image_size=cfg.image_size, dim=cfg.ndf, norm=cfg.critic_norm,
                         use_bias=cfg.critic_bias)
    if cfg.critic in RESNETS:
        return get_model(f"{cfg.critic}_critic", image_size=cfg.image_size, dim=cfg.ndf, norm=cfg.critic_norm,
                         init=cfg.init)
    if cfg.critic == "mlp":
        return get_model("mlp_critic", in_shape=(3, cfg.image_size, cfg.image_size), hidden=cfg.mlp_hidden)
    raise ValueError(f"--critic {cfg.critic!r}: build_critic does not build it")


def build_models(cfg, ctx):
    """The generator and critic named by `cfg`, initialized on `ctx` (one or a list) with DCGANInit, except
    the layers that carry their own initializer (the ResNets under --init tflib)."""
    generator, critic = build_generator(cfg), build_critic(cfg)
    for net in (generator, critic):
        set_compute_dtype(net, cfg.dtype)    # first: the penalty's check reads the critic's casts
    if METHODS[cfg.method].penalty:
        from ..penalty import check_penalty_support
        check_penalty_support(critic)
    for net in (generator, critic):
        net.initialize(DCGANInit(), ctx=ctx)
        if cfg.hybridize:
            net.hybridize(static_alloc=True, static_shape=True)
    return generator, critic


def build_trainers(cfg, generator, critic, kvstore=None):
    """One gluon.Trainer per network, with the optimizer and learning rates of `cfg`.

    With a 'dist_sync' `kvstore`, DistributedTrainers that average the gradients over the workers
    and update locally (so that clipping and `save_states` work as on one machine).
    """
    def trainer(net, lr):
        optimizer = make_optimizer(cfg.optimizer, lr, rmsprop_eps=cfg.rmsprop_eps,
                                   rmsprop_eps_mode=cfg.rmsprop_eps_mode, rmsprop_alpha=cfg.rmsprop_alpha,
                                   beta1=cfg.beta1, beta2=cfg.beta2)
        if kvstore is not None:
            prefix = "generator/" if net is generator else "critic/"
            return DistributedTrainer(net.collect_params(), optimizer, kvstore, prefix)
        # update_on_kvstore=False: with several devices the kvstore only sums gradients and each
        # device applies the update itself; a kvstore holding the weights would overwrite clipping.
        return gluon.Trainer(net.collect_params(), optimizer, update_on_kvstore=False)
    return trainer(generator, cfg.lr_g), trainer(critic, cfg.lr_d)


def unbiased_variance_factors(cfg, generator, critic, devices=1):
    """{running_var Parameter: m / (m - 1)} for every BatchNorm of both networks, m = N*H*W the values
    per channel it averages over (N the batch per device): the factor from the biased batch variance
    that MXNet's running variance averages to the unbiased one of PyTorch's (the WGAN reference code).

    Both moving averages start at 1 and decay by the same momentum, so a running variance kept at
    1/factor times PyTorch's stays so at every update (the update is linear): see
    `scale_running_variances_` and `reference_running_variances`. Exact while every batch a BatchNorm
    sees has N samples.
    """
    n = cfg.batch_size // devices
    factors = {}
    for net, shape in ((generator, (n, cfg.nz)), (critic, (n, 3, cfg.image_size, cfg.image_size))):
        internals = net(mx.sym.var("data")).get_internals()
        _, shapes, _ = internals.infer_shape(data=shape)
        shape_of = dict(zip(internals.list_outputs(), shapes))
        params = {p.name: p for p in net.collect_params().values()}
        nodes = json.loads(internals.tojson())["nodes"]
        for node in nodes:
            if node["op"] == "BatchNorm":
                out = shape_of[node["name"] + "_output"]   # its input's shape, (N, C, H, W) or (N, C)
                m = math.prod(out) // out[1]                # averaged over every axis but the channels'
                moving_var = nodes[node["inputs"][4][0]]["name"]   # inputs: data, gamma, beta, mean, var
                factors[params[moving_var]] = m / (m - 1)
    return factors


def scale_running_variances_(factors, power):
    """Multiply each running variance by its factor ** `power`, on every device: -1 after a start or a
    restore turns PyTorch's values (1, or a checkpoint's) into those kept in training. Waits for pending
    backward passes first, whose BatchNorm updates the engine does not order
    (`compat.settle_running_statistics`), and for the scaling itself, for the same reason."""
    if not factors:
        return
    compat.settle_running_statistics()
    for param, factor in factors.items():
        for array in param.list_data():
            array *= factor ** power
    compat.settle_running_statistics()


@contextmanager
def reference_running_variances(factors):
    """Within: the running variances are PyTorch's (for a checkpoint); after: the values kept in
    training, restored bit for bit, so that checkpoints (--checkpoint-every) leave the run unchanged."""
    if not factors:
        yield
        return
    compat.settle_running_statistics()
    kept = {param: [array.copy() for array in param.list_data()] for param in factors}
    scale_running_variances_(factors, 1)
    try:
        yield
    finally:
        for param, copies in kept.items():
            for array, copy in zip(param.list_data(), copies):
                copy.copyto(array)
        compat.settle_running_statistics()
