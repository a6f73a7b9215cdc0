"""Training objectives as rows of data: which losses, and whether the critic is clipped or penalized."""
from typing import Callable, NamedTuple

from .. import losses
from ..objectives import METHOD_NAMES


class Method(NamedTuple):
    loss_d: Callable
    loss_g: Callable
    clip: bool = False          # weight clipping after/before each critic update (WGAN)
    penalty: bool = False       # gradient penalty on the critic (WGAN-GP)
    wasserstein: bool = False   # -loss_d (without the penalty) estimates W1


METHODS = {
    "wgan": Method(losses.wasserstein_d, losses.wasserstein_g, clip=True, wasserstein=True),
    "wgan-gp": Method(losses.wasserstein_d, losses.wasserstein_g, penalty=True, wasserstein=True),
    "gan": Method(losses.gan_d, losses.gan_g),
    "lsgan": Method(losses.lsgan_d, losses.lsgan_g),
}
if tuple(METHODS) != METHOD_NAMES:   # the names the config offers (objectives.py) are the rows here
    raise ImportError(f"METHODS {tuple(METHODS)} and objectives.METHOD_NAMES {METHOD_NAMES} differ")
