"""MLP generator and critic of the WGAN paper (section 4.3, Fig. 5/7) and the WGAN-GP toy runs."""
from mxnet.gluon import nn

from .layers import ReLU, Tanh
from .precision import Dense


def _mlp(in_units, hidden, n_hidden, out_units):
    """Dense(hidden) + ReLU, `n_hidden` times, then Dense(out_units); ReLU through `F.relu`."""
    body = nn.HybridSequential(prefix="")
    for _ in range(n_hidden):
        body.add(Dense(hidden, in_units=in_units), ReLU())
        in_units = hidden
    body.add(Dense(out_units, in_units=in_units))
    return body


class MLPGenerator(nn.HybridBlock):
    """z (N, nz) -> samples (N, *out_shape) through `n_hidden` ReLU layers of `hidden` units.

    The WGAN paper's LSUN MLP generator is 4 layers of 512 units (3 hidden + output) with no tanh at
    the output, as in the official code; ``output_activation='tanh'`` is there for comparisons.
    With ``out_shape=(2,)`` it is the WGAN-GP toy generator.
    """

    def __init__(self, out_shape=(3, 64, 64), nz=100, hidden=512, n_hidden=3, output_activation=None,
                 **kwargs):
        super().__init__(**kwargs)
        if output_activation not in (None, "tanh"):
            raise ValueError(f"output_activation must be None or 'tanh', got {output_activation!r}")
        self.nz = nz
        self.out_shape = tuple(out_shape)
        out_units = 1
        for d in self.out_shape:
            out_units *= d
        with self.name_scope():
            self.body = _mlp(nz, hidden, n_hidden, out_units)
            if output_activation == "tanh":
                self.body.add(Tanh())

    def hybrid_forward(self, F, z):
        return F.reshape(self.body(F.reshape(z, shape=(0, -1))), shape=(-1,) + self.out_shape)


class MLPCritic(nn.HybridBlock):
    """Samples (N, *in_shape) -> scores (N,) through `n_hidden` ReLU layers of `hidden` units."""

    def __init__(self, in_shape=(3, 64, 64), hidden=512, n_hidden=3, **kwargs):
        super().__init__(**kwargs)
        in_units = 1
        for d in in_shape:
            in_units *= d
        with self.name_scope():
            self.body = _mlp(in_units, hidden, n_hidden, 1)

    def hybrid_forward(self, F, x):
        return F.reshape(self.body(x), shape=(-1,))  # Dense flattens (N, ...) itself; (N, 1) -> (N,)
