"""The names the models accept, for the config and the command line to offer.

No imports, so that reading them loads no MXNet (`scripts/train_wgan.py --help` answers at once).
"""
# --generator, --critic: the architectures `registry.get_model` builds, as '<name>_generator' and
# '<name>_critic' (`training.build` passes each its arguments).
ARCHITECTURES = ("dcgan", "mlp", "cifar", "cifar_resnet", "resnet", "resnet101")
# The WGAN-GP code's residual networks (models.resnet): fixed to one image size each.
RESNETS = {"cifar_resnet": 32, "resnet": 64, "resnet101": 64}
# DCGANGenerator(norm=...): BatchNorm or none (WGAN paper Fig. 6: "no BN").
GENERATOR_NORMS = ("batch", "none")
# DCGANCritic(norm=...): layer norm or none for the gradient penalty, whose per-sample gradients
# BatchNorm mixes (WGAN-GP paper, section 4).
CRITIC_NORMS = ("batch", "layer", "none")
# DCGANGenerator(filters=...): widths doubling towards 4x4 (reference code) or constant (WGAN paper Fig. 6).
FILTERS = ("doubling", "constant")
# Both DCGAN networks' hidden nonlinearity (WGAN-GP paper Fig. 2 rows): DCGAN's, tanh, gated units.
ACTIVATIONS = ("dcgan", "tanh", "gated")
# --init: the networks' weight initialisation. dcgan: N(0, 0.02) everywhere (models.init.DCGANInit);
# tflib: the WGAN-GP code's uniform He/Glorot per layer (models.init.TFLibUniform), ResNets only.
INITS = ("dcgan", "tflib")
