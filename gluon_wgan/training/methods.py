"""Training objectives as rows of data: which losses, and whether the critic is clipped or penalized."""
from typing import Callable, NamedTuple

from .. import losses


class Method(NamedTuple):
    loss_d: Callable
    loss_g: Callable
    clip: bool = False          # weight clipping after/before each critic update (WGAN)
    penalty: bool = False       # gradient penalty on the critic (WGAN-GP)
    wasserstein: bool = False   # -loss_d (without the penalty) estimates W1


# One row per name of objectives.METHOD_NAMES, which the config offers as --method without importing
# this module (tests/test_config.py::test_cli_choices_are_the_components_lists compares them).
METHODS = {
    "wgan": Method(losses.wasserstein_d, losses.wasserstein_g, clip=True, wasserstein=True),
    "wgan-gp": Method(losses.wasserstein_d, losses.wasserstein_g, penalty=True, wasserstein=True),
    "gan": Method(losses.gan_d, losses.gan_g),
    "lsgan": Method(losses.lsgan_d, losses.lsgan_g),
}
