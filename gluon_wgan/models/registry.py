"""Generators and critics by name: `get_model('dcgan_critic', image_size=64)`."""
from .cifar import CIFARCritic, CIFARGenerator
from .dcgan import DCGANCritic, DCGANGenerator
from .mlp import MLPCritic, MLPGenerator
from .resnet import (CIFARResNetCritic, CIFARResNetGenerator, ResNet101Critic, ResNet101Generator, ResNetCritic,
                     ResNetGenerator)

_MODELS = {
    "dcgan_generator": DCGANGenerator,
    "dcgan_critic": DCGANCritic,
    "mlp_generator": MLPGenerator,
    "mlp_critic": MLPCritic,
    "cifar_generator": CIFARGenerator,
    "cifar_critic": CIFARCritic,
    "cifar_resnet_generator": CIFARResNetGenerator,
    "cifar_resnet_critic": CIFARResNetCritic,
    "resnet_generator": ResNetGenerator,
    "resnet_critic": ResNetCritic,
    "resnet101_generator": ResNet101Generator,
    "resnet101_critic": ResNet101Critic,
}


def list_models():
    """Names `get_model` accepts."""
    return sorted(_MODELS)


def get_model(name, **kwargs):
    """Build the model called `name` with keyword arguments `kwargs` (uninitialized)."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(list_models())}")
    return _MODELS[name](**kwargs)
