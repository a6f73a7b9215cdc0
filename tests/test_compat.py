"""gluon_wgan/compat.py: each use of an MXNet internal, checked against what it stands for.

If MXNet changes an internal, the test of that function fails here, before any result goes wrong.
"""
import warnings

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn

from gluon_wgan import compat


def test_the_mxnet_found_is_the_tested_one():
    assert mx.__version__ == compat.TESTED_VERSION


def test_conv_options_are_the_operator_arguments_of_the_layer():
    conv = nn.Conv2D(8, kernel_size=4, strides=2, padding=1, use_bias=False, in_channels=3)
    conv.initialize()
    x = nd.random.normal(shape=(2, 3, 8, 8))
    kw = compat.conv_options(conv)
    assert (kw["kernel"], kw["stride"], kw["pad"], kw["no_bias"]) == ((4, 4), (2, 2), (1, 1), True)
    np.testing.assert_array_equal(nd.Convolution(x, conv.weight.data(), **kw).asnumpy(), conv(x).asnumpy())


@pytest.mark.parametrize("flatten", [True, False])
def test_dense_flattens(flatten):
    dense = nn.Dense(5, flatten=flatten, in_units=4 if not flatten else 12)
    dense.initialize()
    out = dense(nd.ones((2, 3, 4)))
    assert compat.dense_flattens(dense) is flatten
    assert out.shape == ((2, 5) if flatten else (2, 3, 5))


def test_is_hybridized_follows_hybridize():
    net = nn.HybridSequential()
    net.add(nn.Dense(2))
    assert not compat.is_hybridized(net)
    net.hybridize()
    assert compat.is_hybridized(net)
    net.hybridize(False)
    assert not compat.is_hybridized(net)


def test_all_blocks_lists_parents_before_children_in_registration_order():
    inner = nn.HybridSequential(prefix="inner_")
    inner.add(nn.Dense(2, prefix="b_"), nn.Dense(2, prefix="c_"))
    outer = nn.HybridSequential(prefix="outer_")
    outer.add(nn.Dense(2, prefix="a_"), inner, nn.Dense(2, prefix="d_"))
    assert [b.prefix for b in compat.all_blocks(outer)] == ["outer_", "a_", "inner_", "b_", "c_", "d_"]


def test_leaky_slope():
    layer = nn.LeakyReLU(0.2)
    x = nd.array([-1.0, 2.0])
    assert compat.leaky_slope(layer) == pytest.approx(0.2)
    assert layer(x).asnumpy()[0] == pytest.approx(-compat.leaky_slope(layer))


def test_is_deferred_until_the_first_forward():
    dense = nn.Dense(3)
    dense.initialize()
    assert compat.is_deferred(dense.weight)
    dense(nd.ones((1, 4)))
    assert not compat.is_deferred(dense.weight)


def test_named_parameters_are_the_names_save_parameters_writes(tmp_path):
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=2), nn.Dense(1, in_units=3))
    net.initialize()
    net.save_parameters(str(tmp_path / "n.params"))
    saved = mx.nd.load(str(tmp_path / "n.params"))
    named = compat.named_parameters(net)
    assert sorted(named) == sorted(saved) == ["0.bias", "0.weight", "1.bias", "1.weight"]
    for name, param in named.items():
        np.testing.assert_array_equal(param.data().asnumpy(), saved[name].asnumpy())


def _two_device_trainer(update_on_kvstore=False):
    contexts = [mx.cpu(0), mx.cpu(1)]
    net = nn.Dense(2, in_units=3)
    net.initialize(ctx=contexts)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.1},
                            update_on_kvstore=update_on_kvstore)
    return net, trainer, contexts


def _step(net, trainer, contexts):
    for ctx in contexts:
        with autograd.record():
            loss = net(nd.ones((1, net.weight.shape[1]), ctx=ctx)).sum()
        loss.backward()
    trainer.step(2)


def test_trainer_parts_and_update_counts_track_every_device():
    net, trainer, contexts = _two_device_trainer()
    for _ in range(2):
        _step(net, trainer, contexts)
    optimizer, updaters, trainer_contexts, params = compat.trainer_parts(compat.ready_trainer(trainer))
    assert optimizer is trainer.optimizer and trainer_contexts == contexts and len(updaters) == 2
    assert sorted(p.name for p in params) == sorted(p.name for p in net.collect_params().values())
    mean, var = updaters[1].states[0]   # Adam's moments of parameter 0 on the second device
    assert mean.context == contexts[1] and var.shape == params[0].shape
    assert all(compat.update_counts(optimizer, ctx) == {0: 2, 1: 2} for ctx in contexts)
    compat.set_update_counts(optimizer, {0: 7, 1: 7}, contexts)
    _step(net, trainer, contexts)
    assert all(compat.update_counts(optimizer, ctx) == {0: 8, 1: 8} for ctx in contexts)


def test_ready_trainer_makes_the_updaters_before_any_step():
    _, trainer, contexts = _two_device_trainer()
    _, updaters, _, _ = compat.trainer_parts(compat.ready_trainer(trainer))
    assert len(updaters) == len(contexts)


def test_ready_trainer_refuses_updates_on_the_kvstore():
    _, trainer, _ = _two_device_trainer(update_on_kvstore=True)
    with pytest.raises(ValueError, match="update_on_kvstore"):
        compat.ready_trainer(trainer)


def test_current_update_count_is_the_count_seen_inside_update():
    seen = []

    class CountingSGD(mx.optimizer.Optimizer):
        def create_state(self, index, weight):
            return None

        def update(self, index, weight, grad, state):
            self._update_count(index)
            seen.append(compat.current_update_count(self, index))
            weight[:] -= self._get_lr(index) * grad

    net = nn.Dense(1, in_units=2, use_bias=False)
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), CountingSGD(learning_rate=0.1))
    for _ in range(3):
        _step(net, trainer, [mx.cpu()])
    assert seen == [1, 2, 3]


def test_mark_grad_fresh_lets_step_use_a_gradient_written_by_hand():
    net = nn.Dense(1, in_units=2, use_bias=False)
    net.initialize(mx.init.Zero())
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 1.0})
    net.weight.grad()[:] = 1.0
    with pytest.raises(UserWarning, match="has not been updated by backward"):
        trainer.step(1)
    compat.mark_grad_fresh(net.weight)
    trainer.step(1)
    np.testing.assert_array_equal(net.weight.data().asnumpy(), [[-1.0, -1.0]])


def test_leave_kvstore_without_barrier_accepts_a_kvstore_handle():
    kvstore = mx.kv.create("local")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compat.leave_kvstore_without_barrier(kvstore)


def test_settle_running_statistics_orders_copies_after_a_hybridized_backward():
    """The copies of BatchNorm's running statistics taken after it see the backward's update."""
    net = nn.HybridSequential()
    for _ in range(6):
        net.add(nn.Conv2D(32, 3, padding=1), nn.BatchNorm())
    net.initialize()
    net.hybridize(static_alloc=True, static_shape=True)
    x = nd.random.normal(shape=(16, 32, 32, 32))
    net(x)
    nd.waitall()
    for _ in range(3):
        with autograd.record():
            y = net(x)
        y.backward()
        compat.settle_running_statistics()
        copies = {k: p.data().copyto(mx.cpu()) for k, p in compat.named_parameters(net).items() if "running" in k}
        nd.waitall()
        for name, copy in copies.items():
            np.testing.assert_array_equal(copy.asnumpy(), compat.named_parameters(net)[name].data().asnumpy())


def test_dataset_images_are_what_indexing_the_dataset_gives():
    """Gluon's CIFAR10 and MNIST keep their images in the base class's `_data` (its __getitem__)."""
    from mxnet.gluon.data.dataset import _DownloadedDataset

    class Tiny(_DownloadedDataset):
        def __init__(self):
            super().__init__(root=".", transform=None)

        def _get_data(self):
            self._data = nd.arange(24).reshape((2, 2, 2, 3))
            self._label = np.array([3, 5])

    images = compat.dataset_images(Tiny())
    assert images.shape == (2, 2, 2, 3)
    np.testing.assert_array_equal(images[1].asnumpy(), Tiny()[1][0].asnumpy())


def test_imperative_operator_finds_public_private_and_contrib_operators():
    x = mx.nd.array([-1.0, 2.0])
    assert compat.imperative_operator("relu")(x).asnumpy().tolist() == [0.0, 2.0]
    assert compat.imperative_operator("_plus_scalar")(x, scalar="1").asnumpy().tolist() == [0.0, 3.0]
    assert compat.imperative_operator("_contrib_div_sqrt_dim") is mx.nd.contrib.div_sqrt_dim
    with pytest.raises(ValueError, match="no imperative operator 'no_such_op'"):
        compat.imperative_operator("no_such_op")
