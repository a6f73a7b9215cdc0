"""Weight clipping of the critic (Arjovsky et al. 2017, Algorithm 1, line 7)."""
import mxnet as mx


def trainable(params):
    """The parameters of `params` (a ParameterDict) that receive gradients.

    BatchNorm's running mean and variance have ``grad_req == 'null'``: they are statistics, not
    weights, and clipping them (as GluonCV's WGAN script does) corrupts the critic in inference mode.
    """
    return [p for p in params.values() if p.grad_req != "null"]


def clip_(params, c):
    """Clip every trainable parameter of `params` to [-c, c], in place, on every device it lives on.

    BatchNorm gamma and beta are clipped too, like every other weight in the reference code.

    One in-place `nd.clip` per array, no new arrays (GluonCV's script allocates a clipped copy and
    `set_data`s it, slower). MXNet 1.9.1 has no multi-array clip; the one fused candidate,
    `multi_sgd_update` bent into a clip, measured slower and inexact. Either way a clip is a small
    part of a DCGAN critic iteration (benchmarks/README.md, "Clipping": `benchmarks/run.py --only clip`).
    """
    for param in trainable(params):
        for data in param.list_data():
            mx.nd.clip(data, -c, c, out=data)
