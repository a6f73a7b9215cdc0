"""Every use of MXNet's private attributes and C calls, in one place.

The package is written against MXNet 1.9.1, the last release. What follows relies on internals of
that version; whoever moves the package to another MXNet checks this file (and
tests/test_compat.py) first. Importing it warns once if the MXNet found is another version.
"""
import ctypes
import warnings

import mxnet as mx

TESTED_VERSION = "1.9.1"

if mx.__version__ != TESTED_VERSION:
    warnings.warn(f"gluon_wgan is tested with MXNet {TESTED_VERSION}, found {mx.__version__}: the "
                  "internals listed in gluon_wgan/compat.py may have changed", RuntimeWarning)


# ------------------------------------------------------------------------- layers (gluon.nn)

def conv_options(conv):
    """The Convolution operator's keyword arguments of an `nn.Conv2D` (kernel, stride, pad, ...)."""
    return conv._kwargs


def dense_flattens(dense):
    """Whether an `nn.Dense` flattens its input to 2-D first (its `flatten` argument)."""
    return dense._flatten


def is_hybridized(block):
    """Whether `block.hybridize()` is in effect (its forward then runs as one CachedOp)."""
    return block._active


def leaky_slope(leaky_relu):
    """The negative slope of an `nn.LeakyReLU`."""
    return leaky_relu._alpha


# ------------------------------------------------------------------------------------ kvstore

def leave_kvstore_without_barrier(kvstore):
    """Make freeing a dist kvstore skip ps-lite's exit barrier (which waits for every worker)."""
    from mxnet.base import _LIB, check_call
    check_call(_LIB.MXKVStoreSetBarrierBeforeExit(kvstore.handle, ctypes.c_int(0)))
