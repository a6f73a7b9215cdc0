"""Real images as the WGAN-GP code's CIFAR-10 ResNet sees them (gan_cifar_resnet.py, "dequantize")."""
from mxnet import nd


def dequantize(images):
    """Images in [-1, 1] made from 8-bit values x as x / 127.5 - 1 (the package's data) -> (x + u) / 128 - 1,
    u ~ U[0, 1) per value, drawn from MXNet's generator.

    The released code scales the integers as 2 (x / 256 - 1/2) = x / 128 - 1 and adds U[0, 1/128] to
    the result: the same numbers. Each x is recovered by rounding, exact for 8-bit data.
    """
    levels = nd.round((images + 1) * 127.5)
    return (levels + nd.random.uniform(0, 1, shape=images.shape, ctx=images.context, dtype=images.dtype)) / 128 - 1
