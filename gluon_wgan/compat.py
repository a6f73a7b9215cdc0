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


# ----------------------------------------------------------------- blocks and layers (gluon)

def conv_options(conv):
    """The Convolution operator's keyword arguments of an `nn.Conv2D` (kernel, stride, pad, ...)."""
    return conv._kwargs


def dense_flattens(dense):
    """Whether an `nn.Dense` flattens its input to 2-D first (its `flatten` argument)."""
    return dense._flatten


def is_hybridized(block):
    """Whether `block.hybridize()` is in effect (its forward then runs as one CachedOp)."""
    return block._active


def imperative_operator(op):
    """The NDArray function of the operator a symbol's JSON names `op` (private ones, such as
    ``_plus_scalar``, live in ``mxnet.ndarray._internal``; ``_contrib_X`` is ``contrib.X``)."""
    from mxnet.ndarray import _internal, contrib
    for space, name in ((mx.nd, op), (_internal, op), (contrib, op[len("_contrib_"):])):
        fn = getattr(space, name, None)
        if fn is not None:
            return fn
    raise ValueError(f"MXNet has no imperative operator {op!r}")


def child_blocks(block):
    """The blocks registered as `block`'s children, in registration order."""
    return list(block._children.values())


def all_blocks(block):
    """`block` and every block below it, parents before their children, in registration order."""
    found = [block]
    for child in child_blocks(block):
        found += all_blocks(child)
    return found


def clear_cached_graph(block):
    """Make a HybridBlock trace its graph anew at its next call (Gluon's own `cast()` does this)."""
    block._clear_cached_op()


def leaky_slope(leaky_relu):
    """The negative slope of an `nn.LeakyReLU`."""
    return leaky_relu._alpha


def is_deferred(param):
    """Whether a Gluon Parameter still waits for its shape (deferred initialization)."""
    return bool(param._deferred_init)


def named_parameters(block):
    """A block's parameters by their structural names ('0.weight'), as `save_parameters` names them."""
    return block._collect_params_with_prefix()


def mark_grad_fresh(param):
    """Tell `Trainer.step` that `param`'s gradient was written since the last step (by hand)."""
    for array in param.list_data():
        array._fresh_grad = True


def dataset_images(dataset):
    """All images of one of Gluon's vision datasets (CIFAR-10, MNIST ...) as one NDArray, unlabelled."""
    return dataset._data


def settle_running_statistics():
    """Wait until every BatchNorm's running statistics hold their last update.

    The backward of a hybridized (static_alloc) block updates them without telling MXNet's engine,
    so a copy of them is not ordered after that write; only waiting for all pending work is.
    """
    mx.nd.waitall()


# ----------------------------------------------------------------------- Trainer and Optimizer
# What of a gluon.Trainer changes while training: the updaters' states (NDArrays, tuples of them or
# None, per parameter index, one updater per device), the optimizer's update counts per device and
# its num_update. `Trainer.save_states` pickles them; checkpoint.py stores them as arrays and JSON.

def ready_trainer(trainer):
    """The gluon.Trainer behind `trainer` (a DistributedTrainer wraps one), with its updaters made.

    Raises
    ------
    ValueError
        If the Trainer updates on the kvstore: its optimizer state then lives in the kvstore.
    """
    trainer = getattr(trainer, "trainer", trainer)
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    if trainer._update_on_kvstore:
        raise ValueError("the optimizer state of a Trainer with update_on_kvstore=True lives in the kvstore")
    if trainer._params_to_init:
        trainer._init_params()
    return trainer


def trainer_parts(trainer):
    """(optimizer, updaters, contexts, params) of a `ready_trainer`: one updater per context."""
    return trainer._optimizer, trainer._updaters, trainer._contexts, trainer._params


def update_counts(optimizer, ctx):
    """{parameter index: updates so far} of `optimizer` on device `ctx` (Adam's bias correction)."""
    return dict(optimizer._all_index_update_counts.get(ctx.device_id, {}))


def set_update_counts(optimizer, counts, contexts):
    """Give every device in `contexts` the update counts `counts`, the first device's becoming current."""
    optimizer._all_index_update_counts = {ctx.device_id: dict(counts) for ctx in contexts}
    optimizer._index_update_count = optimizer._all_index_update_counts[contexts[0].device_id]


def current_update_count(optimizer, index):
    """How often parameter `index` has been updated on the device being updated now (in `update`)."""
    return optimizer._index_update_count[index]


# ------------------------------------------------------------------------------------ kvstore

def leave_kvstore_without_barrier(kvstore):
    """Make freeing a dist kvstore skip ps-lite's exit barrier (which waits for every worker)."""
    from mxnet.base import _LIB, check_call
    check_call(_LIB.MXKVStoreSetBarrierBeforeExit(kvstore.handle, ctypes.c_int(0)))
