"""Generators and critics: DCGAN, MLP, the WGAN-GP code's CIFAR-10 ones and its ResNets (`dcgan`, `mlp`,
`cifar`, `resnet`), their initializers (`init`), the critic layers the gradient penalty differentiates twice (`layers`),
and `get_model(name, **kw)` (`registry`).

The names are imported on first use (`gluon_wgan.utils.lazy`), so that `models.choices`, which the
config and the command line read, does not load MXNet.
"""
from ..utils.lazy import lazy_exports

_EXPORTS = {
    "get_model": ".registry", "list_models": ".registry",
    "DCGANGenerator": ".dcgan", "DCGANCritic": ".dcgan", "check_image_size": ".dcgan",
    "MLPGenerator": ".mlp", "MLPCritic": ".mlp",
    "CIFARGenerator": ".cifar", "CIFARCritic": ".cifar",
    "CIFARResNetGenerator": ".resnet", "CIFARResNetCritic": ".resnet", "ResNetGenerator": ".resnet",
    "ResNetCritic": ".resnet", "ResNet101Generator": ".resnet", "ResNet101Critic": ".resnet",
    "DCGANInit": ".init", "TFLibUniform": ".init",
}

__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
