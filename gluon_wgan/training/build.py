"""The networks and trainers a TrainConfig describes (used by the loop and by evaluation)."""
from mxnet import gluon

from ..distributed import DistributedTrainer
from ..models import DCGANInit, get_model
from ..optim import make_optimizer
from .methods import METHODS


def build_generator(cfg):
    """The generator named by `cfg` (a TrainConfig), not initialized."""
    if cfg.generator == "dcgan":
        return get_model("dcgan_generator", image_size=cfg.image_size, nz=cfg.nz, ngf=cfg.ngf,
                         n_extra_layers=cfg.n_extra_layers, norm=cfg.gen_norm, filters=cfg.gen_filters,
                         activation=cfg.activation)
    return get_model("mlp_generator", out_shape=(3, cfg.image_size, cfg.image_size), nz=cfg.nz,
                     hidden=cfg.mlp_hidden)


def build_critic(cfg):
    """The critic named by `cfg` (a TrainConfig), not initialized."""
    if cfg.critic == "dcgan":
        return get_model("dcgan_critic", image_size=cfg.image_size, ndf=cfg.ndf,
                         n_extra_layers=cfg.n_extra_layers, norm=cfg.critic_norm, use_bias=cfg.critic_bias,
                         activation=cfg.activation)
    return get_model("mlp_critic", in_shape=(3, cfg.image_size, cfg.image_size), hidden=cfg.mlp_hidden)


def build_models(cfg, ctx):
    """The generator and critic named by `cfg`, initialized with DCGANInit on `ctx` (one or a list)."""
    generator, critic = build_generator(cfg), build_critic(cfg)
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
