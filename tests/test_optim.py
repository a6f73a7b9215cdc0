"""Optimizers against hand-worked updates (float64 numpy), run through autograd and gluon.Trainer.

epsilon is large (0.5) so that eps inside and outside the square root give clearly different weights; a
test checks that difference is far above the tolerance, so swapping the formulas fails the tests.
"""
import pickle

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

from gluon_wgan.optim import OPTIMIZERS, TorchAdam, TorchRMSProp, make_optimizer

W0 = np.array([0.5, -1.0, 0.25, 2.0], dtype=np.float32)
GRADS = np.array([[0.3, -0.05, 2.0, -1.2],
                  [0.1, 0.4, -0.5, -0.9],
                  [-0.2, 0.05, 1.5, 0.3],
                  [0.6, -0.3, 0.0, 0.2],
                  [-0.4, 0.25, 0.75, -0.6],
                  [0.05, -0.7, 0.35, 1.1]], dtype=np.float32)
LR, EPS = 0.1, 0.5
TOL = dict(rtol=1e-6, atol=1e-7)          # float32 arithmetic against a float64 reference


def make_param(w0=W0):
    param = gluon.Parameter("weight", shape=w0.shape)
    param.initialize(mx.init.Zero(), ctx=mx.cpu())
    param.set_data(mx.nd.array(w0))
    return param


def take_steps(param, trainer, grads, batch_size=1):
    """One backward and Trainer.step(batch_size) per row of `grads`; the loss w . g has gradient g."""
    for g in grads:
        with autograd.record():
            loss = (param.data() * mx.nd.array(g)).sum()
        loss.backward()
        trainer.step(batch_size)
    return param.data().asnumpy()


def run(optimizer, grads=GRADS, batch_size=1, optimizer_params=None):
    """Weights after training a fresh parameter from W0 with `optimizer` over `grads`."""
    param = make_param()
    return take_steps(param, gluon.Trainer([param], optimizer, optimizer_params), grads, batch_size)


def rmsprop_reference(grads, lr=LR, alpha=0.99, eps=EPS, eps_inside=False, rescale=1.0, wd=0.0, clip=None,
                      clip_before_wd=False):
    """Returns (w, n) after the steps, in float64. eps_inside: MXNet's RMSProp; else PyTorch's RMSprop."""
    w, n = W0.astype(np.float64), np.zeros(W0.shape)
    for g in grads.astype(np.float64):
        g = rescale * g
        if clip_before_wd:
            g = np.clip(g, -clip, clip) + wd * w
        else:
            g = g + wd * w
            g = np.clip(g, -clip, clip) if clip else g
        n = alpha * n + (1 - alpha) * g * g
        w = w - lr * g / (np.sqrt(n + eps) if eps_inside else np.sqrt(n) + eps)
    return w, n


def adam_reference(grads, lr, beta1, beta2, eps, torch_eps):
    """torch_eps: PyTorch's Adam, sqrt(v_hat) + eps; else MXNet's, bias correction folded into lr."""
    w, m, v = W0.astype(np.float64), np.zeros(W0.shape), np.zeros(W0.shape)
    for t, g in enumerate(grads.astype(np.float64), start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        c1, c2 = 1 - beta1 ** t, 1 - beta2 ** t
        if torch_eps:
            w = w - lr * (m / c1) / (np.sqrt(v / c2) + eps)
        else:
            w = w - lr * np.sqrt(c2) / c1 * m / (np.sqrt(v) + eps)
    return w


@pytest.mark.parametrize("mode", ["torch", "mxnet"])
@pytest.mark.parametrize("alpha", [0.99, 0.6])
def test_rmsprop_matches_hand_worked_steps(mode, alpha):
    got = run(make_optimizer("rmsprop", LR, rmsprop_eps=EPS, rmsprop_eps_mode=mode, rmsprop_alpha=alpha))
    expected, _ = rmsprop_reference(GRADS, alpha=alpha, eps_inside=(mode == "mxnet"))
    np.testing.assert_allclose(got, expected, **TOL)


def test_rmsprop_eps_modes_differ_by_far_more_than_the_tolerance():
    """Guards the test above: were the two formulas swapped, both of its references would fail."""
    torch_w = run(make_optimizer("rmsprop", LR, rmsprop_eps=EPS, rmsprop_eps_mode="torch"))
    mxnet_w = run(make_optimizer("rmsprop", LR, rmsprop_eps=EPS, rmsprop_eps_mode="mxnet"))
    assert np.abs(torch_w - mxnet_w).min() > 1e-3


@pytest.mark.parametrize("mode", ["torch", "mxnet"])
def test_rmsprop_alpha_is_honoured(mode):
    """Same alpha reaches both modes (MXNet's as gamma1), and changing it changes the weights."""
    a = run(make_optimizer("rmsprop", LR, rmsprop_eps=EPS, rmsprop_eps_mode=mode, rmsprop_alpha=0.99))
    b = run(make_optimizer("rmsprop", LR, rmsprop_eps=EPS, rmsprop_eps_mode=mode, rmsprop_alpha=0.6))
    assert np.abs(a - b).max() > 1e-2
    optimizer = make_optimizer("rmsprop", LR, rmsprop_eps_mode=mode, rmsprop_alpha=0.7)
    assert (optimizer.alpha if mode == "torch" else optimizer.gamma1) == 0.7


@pytest.mark.parametrize("mode", ["torch", "mxnet"])
def test_rmsprop_rescale_grad_from_batch_size(mode):
    """Trainer.step(4) sets rescale_grad = 1/4; with a large eps RMSprop is not scale invariant."""
    def optimizer():
        return make_optimizer("rmsprop", LR, rmsprop_eps=EPS, rmsprop_eps_mode=mode)
    got = run(optimizer(), batch_size=4)
    expected, _ = rmsprop_reference(GRADS, eps_inside=(mode == "mxnet"), rescale=0.25)
    np.testing.assert_allclose(got, expected, **TOL)
    assert np.abs(got - run(optimizer(), batch_size=1)).max() > 1e-2


@pytest.mark.parametrize("mode", ["torch", "mxnet"])
def test_rmsprop_weight_decay_then_clip_gradient(mode):
    """g = clip(rescale * grad + wd * w, c), as MXNet's rmsprop_update kernel does, in both modes."""
    optimizer = make_optimizer("rmsprop", LR, rmsprop_eps=EPS, rmsprop_eps_mode=mode, wd=0.3)
    optimizer.clip_gradient = 0.5
    got = run(optimizer, batch_size=2)
    kw = dict(eps_inside=(mode == "mxnet"), rescale=0.5, wd=0.3, clip=0.5)
    expected, _ = rmsprop_reference(GRADS, **kw)
    np.testing.assert_allclose(got, expected, **TOL)
    other_order, _ = rmsprop_reference(GRADS, clip_before_wd=True, **kw)
    assert np.abs(expected - other_order).max() > 1e-3   # the data tell the two orders apart


def test_registered_names_work_in_trainer():
    got = run("torchrmsprop", optimizer_params={"learning_rate": LR, "alpha": 0.6, "epsilon": EPS})
    np.testing.assert_allclose(got, rmsprop_reference(GRADS, alpha=0.6)[0], **TOL)
    got = run("torchadam", optimizer_params={"learning_rate": LR, "beta1": 0.5, "beta2": 0.9, "epsilon": EPS})
    np.testing.assert_allclose(got, adam_reference(GRADS, LR, 0.5, 0.9, EPS, torch_eps=True), **TOL)


def test_adam_eps_conventions():
    """MXNet's Adam (make_optimizer's) folds bias correction into lr; TorchAdam corrects before adding eps."""
    mxnet_w = run(make_optimizer("adam", LR, beta1=0.5, beta2=0.9, adam_eps=EPS))
    torch_w = run(TorchAdam(learning_rate=LR, beta1=0.5, beta2=0.9, epsilon=EPS))
    np.testing.assert_allclose(mxnet_w, adam_reference(GRADS, LR, 0.5, 0.9, EPS, torch_eps=False), **TOL)
    np.testing.assert_allclose(torch_w, adam_reference(GRADS, LR, 0.5, 0.9, EPS, torch_eps=True), **TOL)
    assert np.abs(mxnet_w - torch_w).max() > 1e-3


def test_sgd_matches_hand_worked_steps():
    got = run(make_optimizer("sgd", LR, wd=0.3), batch_size=2)
    w = W0.astype(np.float64)
    for g in GRADS.astype(np.float64):
        w = w - LR * (0.5 * g + 0.3 * w)
    np.testing.assert_allclose(got, w, **TOL)


@pytest.mark.parametrize("name,mode", [("rmsprop", "torch"), ("rmsprop", "mxnet"), ("adam", "torch"),
                                       ("sgd", "torch")])
def test_save_load_states_continues_like_an_uninterrupted_run(tmp_path, name, mode):
    def optimizer():
        return make_optimizer(name, LR, rmsprop_eps=EPS, rmsprop_eps_mode=mode, wd=0.1)
    uninterrupted = run(optimizer())

    param = make_param()
    trainer = gluon.Trainer([param], optimizer())
    halfway = take_steps(param, trainer, GRADS[:3])
    path = str(tmp_path / "critic.states")
    trainer.save_states(path)

    resumed = make_param(halfway)                    # what a checkpoint's .params restores
    trainer = gluon.Trainer([resumed], optimizer())
    trainer.load_states(path)
    np.testing.assert_array_equal(take_steps(resumed, trainer, GRADS[3:]), uninterrupted)


def test_torch_rmsprop_state_file_holds_n_alone(tmp_path):
    """The saved state of a parameter is one NDArray, n; the fused kernel's scratch buffer is not saved."""
    param = make_param()
    trainer = gluon.Trainer([param], make_optimizer("rmsprop", LR, rmsprop_eps=EPS))
    take_steps(param, trainer, GRADS[:3])
    path = str(tmp_path / "critic.states")
    trainer.save_states(path)
    with open(path, "rb") as f:
        states, optimizer = pickle.load(f)
    assert isinstance(states[0], mx.nd.NDArray) and isinstance(optimizer, TorchRMSProp)
    np.testing.assert_allclose(states[0].asnumpy(), rmsprop_reference(GRADS[:3])[1], **TOL)
    with open(path, "rb") as f:
        assert b"_first_moment" not in f.read()


@pytest.mark.parametrize("kwargs,flag", [
    (dict(name="rmsprop-centered"), "--optimizer"),
    (dict(lr=0.0), "--lr-d"),
    (dict(lr=float("nan")), "--lr-d"),
    (dict(rmsprop_eps=-1e-8), "--rmsprop-eps "),
    (dict(rmsprop_eps_mode="pytorch"), "--rmsprop-eps-mode"),
    (dict(rmsprop_alpha=1.0), "--rmsprop-alpha"),
    (dict(rmsprop_alpha=0.0), "--rmsprop-alpha"),
    (dict(beta1=1.0), "--beta1"),
    (dict(beta2=-0.1), "--beta2"),
    (dict(adam_eps=-1.0), "adam_eps"),
    (dict(wd=-0.1), "wd"),
])
def test_bad_values_raise_one_line_naming_the_flag(kwargs, flag):
    args = dict(name="rmsprop", lr=5e-5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=flag) as info:
        make_optimizer(args.pop("name"), args.pop("lr"), **args)
    assert "\n" not in str(info.value)


def test_torch_rmsprop_refuses_bad_arguments():
    with pytest.raises(ValueError, match="alpha"):
        TorchRMSProp(alpha=1.0)
    with pytest.raises(ValueError, match="--rmsprop-eps"):
        TorchRMSProp(epsilon=-1.0)


def test_make_optimizer_classes():
    kinds = {name: type(make_optimizer(name, 1e-3)) for name in OPTIMIZERS}
    assert kinds == {"rmsprop": TorchRMSProp, "adam": mx.optimizer.Adam, "torch-adam": TorchAdam,
                     "sgd": mx.optimizer.SGD}
    torch_adam = make_optimizer("torch-adam", 1e-3, beta1=0.0, beta2=0.9, adam_eps=1e-6)
    assert (torch_adam.beta1, torch_adam.beta2, torch_adam.epsilon) == (0.0, 0.9, 1e-6)
    mxnet = make_optimizer("rmsprop", 1e-3, rmsprop_eps=1e-6, rmsprop_eps_mode="mxnet")
    assert type(mxnet) is mx.optimizer.RMSProp and not mxnet.centered and mxnet.epsilon == 1e-6


def test_against_pytorch():
    """Oracle: torch.optim.RMSprop and Adam, float32 on both sides, weight decay on."""
    torch = pytest.importorskip("torch")
    for ours, theirs in [
        (TorchRMSProp(learning_rate=LR, alpha=0.9, epsilon=EPS, wd=0.1),
         lambda p: torch.optim.RMSprop(p, lr=LR, alpha=0.9, eps=EPS, weight_decay=0.1)),
        (TorchAdam(learning_rate=LR, beta1=0.5, beta2=0.9, epsilon=EPS, wd=0.1),
         lambda p: torch.optim.Adam(p, lr=LR, betas=(0.5, 0.9), eps=EPS, weight_decay=0.1)),
    ]:
        w = torch.tensor(W0, requires_grad=True)
        optimizer = theirs([w])
        for g in GRADS:
            optimizer.zero_grad()
            (w * torch.from_numpy(g)).sum().backward()
            optimizer.step()
        np.testing.assert_allclose(run(ours), w.detach().numpy(), rtol=1e-6, atol=1e-7)
