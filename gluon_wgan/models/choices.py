"""The names the models accept, for the config and the command line to offer.

No imports, so that reading them loads no MXNet (`scripts/train_wgan.py --help` answers at once).
"""
# --generator, --critic: the architectures `registry.get_model` builds, as '<name>_generator' and
# '<name>_critic' (`training.build` passes each its arguments).
ARCHITECTURES = ("dcgan", "mlp", "cifar")
# DCGANGenerator(norm=...): BatchNorm or none (WGAN paper Fig. 6: "no BN").
GENERATOR_NORMS = ("batch", "none")
# DCGANCritic(norm=...): layer norm or none for the gradient penalty, whose per-sample gradients
# BatchNorm mixes (WGAN-GP paper, section 4).
CRITIC_NORMS = ("batch", "layer", "none")
# DCGANGenerator(filters=...): widths doubling towards 4x4 (reference code) or constant (WGAN paper Fig. 6).
FILTERS = ("doubling", "constant")
# Both DCGAN networks' hidden nonlinearity (WGAN-GP paper Fig. 2 rows): DCGAN's, tanh, gated units.
ACTIVATIONS = ("dcgan", "tanh", "gated")
