"""Initializers: DCGAN's (Radford et al. 2016, section 4) and the WGAN-GP code's per-layer uniform one."""
import math

import mxnet as mx


@mx.init.register
class DCGANInit(mx.init.Initializer):
    """Weights ~ N(0, sigma); normalization gamma ~ N(1, sigma); beta and bias = 0.

    Gluon 1.x calls the global initializer's `_init_weight` for every parameter that has no
    initializer of its own, whatever its name (`_init_gamma`/`_init_beta` are never reached), so the
    dispatch on the parameter name happens here. A layer's own initializer wins over this one, which
    is why the package's normalization layers are built with `gamma_initializer=None`.
    """

    def __init__(self, sigma=0.02):
        super().__init__(sigma=sigma)
        self.sigma = sigma

    def _init_weight(self, name, arr):
        if name.endswith("gamma"):
            mx.nd.random.normal(1.0, self.sigma, shape=arr.shape, out=arr)
        elif name.endswith(("beta", "bias")):
            arr[:] = 0.0
        else:
            mx.nd.random.normal(0.0, self.sigma, shape=arr.shape, out=arr)


@mx.init.register
class TFLibUniform(mx.init.Initializer):
    """The WGAN-GP code's weight initialisation (its tflib/ops), for one layer: U[-b, b] with
    b = sqrt(3) * std, so that the standard deviation is std = sqrt(gain / (fan_in + fan_out)).

    gain is 4 for tflib's `he_init=True` (the default of its convolutions) and 2 for its
    "normalized" Glorot init (`he_init=False`, and every `Linear` by default). tflib counts the fans
    as fan_in = C_in k^2 and fan_out = C_out k^2 / stride^2 for a convolution, fan_in = C_in k^2 / 4
    and fan_out = C_out k^2 for its stride-2 transposed convolution, and C_in, C_out for a dense
    layer; `models.resnet` passes each layer's own. Biases are zero there (Gluon's default), and
    normalization scales one and shifts zero.
    """

    def __init__(self, fan_in, fan_out, gain=4.0):
        super().__init__(fan_in=fan_in, fan_out=fan_out, gain=gain)
        if not fan_in > 0 or not fan_out > 0 or not gain > 0:
            raise ValueError(f"TFLibUniform needs positive fans and gain, got {fan_in}, {fan_out}, {gain}")
        self.bound = math.sqrt(3.0 * gain / (fan_in + fan_out))

    def _init_weight(self, name, arr):
        mx.nd.random.uniform(-self.bound, self.bound, shape=arr.shape, dtype=arr.dtype, out=arr)
