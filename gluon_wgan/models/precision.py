"""Convolution, transposed convolution and dense layers that can compute in bfloat16.

`set_compute_dtype(net, "bfloat16")` makes every such layer of a network run its operator on
bfloat16 casts of its input and parameters and return float32: the parameters (the optimizer's
master weights), the gradients they receive, the optimizer's states, the normalizations, the
activations between layers and the losses stay float32. This is PyTorch's CPU autocast for these
operators; oneDNN computes bfloat16 natively on CPUs with avx512_bf16 or AMX
(`gluon_wgan.utils.cpu.bfloat16_problem`) and accumulates in float32.

The penalty's transposes of these layers compute in the layer's dtype too
(`gluon_wgan.transposes`, `gluon_wgan.op_transposes`' rule for `amp_cast`).
"""
import numpy as np
import mxnet as mx
from mxnet import autograd, nd
from mxnet.gluon import nn

from .. import compat
from ..utils.cpu import bfloat16_problem
from .choices import COMPUTE_DTYPES

BFLOAT16 = np.dtype([("bfloat16", np.uint16)])   # MXNet 1.9.1's name for it (mxnet.contrib.amp)


class _Cast:
    """Mixin: the layer's operator runs on casts to `compute_dtype`; its output is float32."""

    compute_dtype = "float32"

    def hybrid_forward(self, F, x, weight, bias=None):
        if self.compute_dtype == "float32":
            return super().hybrid_forward(F, x, weight, bias)
        low = [F.amp_cast(a, dtype=BFLOAT16) for a in (x, weight, bias) if a is not None]
        return F.amp_cast(super().hybrid_forward(F, *low), dtype="float32")


class Conv2D(_Cast, nn.Conv2D):
    """`nn.Conv2D` that computes in its `compute_dtype` (float32 unless `set_compute_dtype`)."""


class Dense(_Cast, nn.Dense):
    """`nn.Dense` that computes in its `compute_dtype` (float32 unless `set_compute_dtype`)."""


class Conv2DTranspose(nn.Conv2DTranspose):
    """`nn.Conv2DTranspose` that computes in its `compute_dtype` (float32 unless `set_compute_dtype`).

    In bfloat16 the operator is `_Bfloat16Deconvolution`: MXNet 1.9.1 crashes computing a
    Deconvolution's weight gradient into a cast of the weight (an array autograd allocates in
    backward; `transposes.ConvTranspose` has the same constraint).
    """

    compute_dtype = "float32"

    def hybrid_forward(self, F, x, weight, bias=None):
        if self.compute_dtype == "float32":
            return super().hybrid_forward(F, x, weight, bias)
        kw = compat.conv_options(self)
        out = F.Custom(x, weight, op_type=_DECONVOLUTION, kernel=kw["kernel"], stride=kw["stride"],
                       pad=kw["pad"], adj=kw["adj"], num_filter=kw["num_filter"])
        if bias is None:
            return out
        return F.broadcast_add(out, F.reshape(bias, shape=(1, -1, 1, 1)))


_LAYERS = (Conv2D, Conv2DTranspose, Dense)


def set_compute_dtype(net, dtype):
    """Make the package's convolution, transposed-convolution and dense layers of `net` compute in
    `dtype` ('float32' or 'bfloat16'); returns how many layers it set.

    Parameters keep their float32 dtype. The network's hybridized graph is traced anew at its next
    call, and `gradient_penalty` reads the critic's operators anew.
    """
    if dtype not in COMPUTE_DTYPES:
        raise ValueError(f"compute dtype must be one of {', '.join(COMPUTE_DTYPES)}, got {dtype!r}")
    cpu_problem = bfloat16_problem() if dtype == "bfloat16" else ""
    if cpu_problem:
        raise ValueError(cpu_problem)
    blocks = compat.all_blocks(net)
    layers = [b for b in blocks if isinstance(b, _LAYERS)]
    for layer in layers:
        problem = _problem(layer) if dtype != "float32" else ""
        if problem:
            raise ValueError(f"{layer.name}: {problem}")
    for layer in layers:
        layer.compute_dtype = dtype
    for block in blocks:
        if isinstance(block, nn.HybridBlock):
            compat.clear_cached_graph(block)
    return len(layers)


def _problem(layer):
    if getattr(layer, "act", None) is not None:
        return "a fused activation (activation=...) is not supported in bfloat16"
    if isinstance(layer, nn.Conv2DTranspose):
        kw = compat.conv_options(layer)
        if kw["layout"] != "NCHW" or kw["num_group"] != 1 or tuple(kw["dilate"]) != (1, 1):
            return "only NCHW, ungrouped, undilated transposed convolutions compute in bfloat16"
    return ""


# ------------------------------------------------------------- bfloat16 transposed convolution

_DECONVOLUTION = "gluon_wgan_bfloat16_deconvolution"


def _ints(text):
    return tuple(int(v) for v in str(text).strip("()[] ").split(",") if v.strip())


class _Bfloat16Deconvolution(mx.operator.CustomOp):
    """Deconvolution of float32 (data, weight) computed in bfloat16, float32 output.

    Its backward computes both gradients with one recorded bfloat16 Convolution of the output
    gradient: its value is the data gradient, and its weight gradient against the data is the
    Deconvolution's (as in `transposes.ConvTranspose`).
    """

    def __init__(self, kw):
        super().__init__()
        self.kw = kw

    def forward(self, is_train, req, in_data, out_data, aux):
        data, weight = (nd.amp_cast(a, dtype=BFLOAT16) for a in in_data)
        out = nd.Deconvolution(data, weight, no_bias=True, **self.kw)
        self.assign(out_data[0], req[0], nd.amp_cast(out, dtype="float32"))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        d_out = nd.amp_cast(out_grad[0], dtype=BFLOAT16)
        data, weight = (nd.amp_cast(a, dtype=BFLOAT16) for a in in_data)
        weight.attach_grad()
        kw = self.kw
        with autograd.record():
            d_data = nd.Convolution(d_out, weight, kernel=kw["kernel"], stride=kw["stride"], pad=kw["pad"],
                                    num_filter=data.shape[1], no_bias=True)
        d_data.backward(data)
        self.assign(in_grad[0], req[0], nd.amp_cast(d_data, dtype="float32"))
        self.assign(in_grad[1], req[1], nd.amp_cast(weight.grad, dtype="float32"))
        # Done before returning: MXNet may reuse out_grad's memory once this returns.
        in_grad[0].wait_to_read()
        in_grad[1].wait_to_read()


@mx.operator.register(_DECONVOLUTION)
class _Bfloat16DeconvolutionProp(mx.operator.CustomOpProp):
    def __init__(self, kernel, stride, pad, adj, num_filter):
        super().__init__(need_top_grad=True)
        self.kw = dict(kernel=_ints(kernel), stride=_ints(stride), pad=_ints(pad), adj=_ints(adj),
                       num_filter=int(num_filter))

    def list_arguments(self):
        return ["data", "weight"]

    def list_outputs(self):
        return ["output"]

    def infer_shape(self, in_shape):
        data, weight = in_shape
        kw = self.kw
        spatial = [(i - 1) * s - 2 * p + k + a for i, s, p, k, a in
                   zip(data[2:], kw["stride"], kw["pad"], kw["kernel"], kw["adj"])]
        return [data, weight], [[data[0], kw["num_filter"]] + spatial], []

    def infer_type(self, in_type):
        return [np.float32, np.float32], [np.float32], []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        return out_grad + in_data

    def create_operator(self, ctx, shapes, dtypes):
        return _Bfloat16Deconvolution(self.kw)
