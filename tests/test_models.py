import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from gluon_wgan.models import (CIFARCritic, CIFARGenerator, DCGANCritic, DCGANGenerator, DCGANInit, MLPCritic,
                               MLPGenerator, get_model, list_models)
from gluon_wgan.models.choices import ARCHITECTURES
from conftest import assert_generator_gradient


def _built(net, ctx, hybridize=True):
    net.initialize(DCGANInit(), ctx=ctx)
    if hybridize:
        net.hybridize()
    return net


@pytest.mark.parametrize("size", [16, 32, 64, 128])
@pytest.mark.parametrize("norm,filters", [("batch", "doubling"), ("none", "doubling"), ("none", "constant")])
def test_generator_output_shape(size, norm, filters, ctx):
    g = _built(DCGANGenerator(image_size=size, nz=10, ngf=4, norm=norm, filters=filters,
                              n_extra_layers=1), ctx)
    with autograd.train_mode():
        x = g(mx.nd.random.normal(shape=(3, 10), ctx=ctx))
    assert x.shape == (3, 3, size, size)
    assert np.abs(x.asnumpy()).max() <= 1.0  # tanh output


@pytest.mark.parametrize("size", [16, 32, 64, 128])
@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
def test_critic_scores_per_sample(size, norm, ctx):
    """One score per sample, never a batch mean (GluonCV's WGAN critics returned the mean)."""
    d = _built(DCGANCritic(image_size=size, ndf=4, norm=norm, n_extra_layers=1, use_bias=True), ctx)
    x = mx.nd.random.normal(shape=(5, 3, size, size), ctx=ctx)
    scores = d(x)
    assert scores.shape == (5,)
    if norm != "batch":  # without batch statistics a sample's score is its own
        np.testing.assert_allclose(d(x[1:2]).asnumpy(), scores.asnumpy()[1:2], rtol=1e-5, atol=1e-6)


def test_generator_widths_doubling_and_constant():
    def widths(net):
        return [p.shape[1] for name, p in net.collect_params().items() if name.endswith("weight")]
    # Conv2DTranspose weights are (in, out, k, k): outputs 512, 256, 128, 64, 3 for 64x64, ngf=64.
    assert widths(DCGANGenerator(64, filters="doubling")) == [512, 256, 128, 64, 3]
    assert widths(DCGANGenerator(64, norm="none", filters="constant")) == [64, 64, 64, 64, 3]


def test_critic_widths_match_reference():
    d = DCGANCritic(64, ndf=64)
    out_channels = [p.shape[0] for n, p in d.collect_params().items() if n.endswith("weight")]
    assert out_channels == [64, 128, 256, 512, 1]


@pytest.mark.parametrize("bad", [0, 8, 48, 100, 63])
def test_image_size_must_be_power_of_two(bad):
    with pytest.raises(ValueError, match="image-size"):
        DCGANGenerator(image_size=bad)
    with pytest.raises(ValueError, match="image-size"):
        DCGANCritic(image_size=bad)


def test_bad_norm_names_the_argument():
    with pytest.raises(ValueError, match="norm"):
        DCGANCritic(norm="instance")
    with pytest.raises(ValueError, match="norm"):
        DCGANGenerator(norm="layer")


def test_mlp_shapes_and_reference_layout(ctx):
    g = _built(MLPGenerator(out_shape=(3, 16, 16), nz=10, hidden=32), ctx)
    d = _built(MLPCritic(in_shape=(3, 16, 16), hidden=32), ctx)
    x = g(mx.nd.ones((4, 10), ctx=ctx))
    assert x.shape == (4, 3, 16, 16)
    assert np.abs(x.asnumpy()).max() > 0  # no tanh: the official MLP_G output is linear
    assert d(x).shape == (4,)
    dense = [p.shape for n, p in g.collect_params().items() if n.endswith("weight")]
    assert dense == [(32, 10), (32, 32), (32, 32), (768, 32)]  # 4 layers (3 hidden of 512 in the paper)


def test_init_statistics(ctx):
    """Weights N(0, 0.02), BatchNorm gamma N(1, 0.02), beta 0 (Radford et al. 2016)."""
    mx.random.seed(0)
    d = _built(DCGANCritic(64, ndf=64), ctx, hybridize=False)
    params = d.collect_params()
    weights = np.concatenate([p.data().asnumpy().ravel() for n, p in params.items() if n.endswith("weight")])
    gammas = np.concatenate([p.data().asnumpy() for n, p in params.items() if n.endswith("gamma")])
    betas = np.concatenate([p.data().asnumpy() for n, p in params.items() if n.endswith("beta")])
    assert abs(weights.mean()) < 1e-3 and abs(weights.std() - 0.02) < 5e-4
    assert abs(gammas.mean() - 1.0) < 5e-3 and abs(gammas.std() - 0.02) < 3e-3
    assert np.all(betas == 0)
    running_var = [p.data().asnumpy() for n, p in params.items() if n.endswith("running_var")]
    assert all(np.all(v == 1) for v in running_var)  # statistics keep BatchNorm's own initializer


def test_get_model_lists_valid_names():
    assert list_models() == ["cifar_critic", "cifar_generator", "cifar_resnet_critic", "cifar_resnet_generator",
                             "dcgan_critic", "dcgan_generator", "mlp_critic", "mlp_generator", "resnet101_critic",
                             "resnet101_generator", "resnet_critic", "resnet_generator"]
    assert isinstance(get_model("dcgan_critic", image_size=32), DCGANCritic)
    with pytest.raises(ValueError, match="dcgan_critic"):
        get_model("resnet")


def test_tanh_activation_replaces_every_hidden_nonlinearity():
    from mxnet.gluon import nn
    from gluon_wgan.models.layers import ReLU, Tanh
    generator = DCGANGenerator(image_size=32, nz=8, ngf=4, activation="tanh")
    critic = DCGANCritic(image_size=32, ndf=4, norm="layer", activation="tanh")
    g_layers, d_layers = list(generator.body), list(critic.body)
    assert not any(isinstance(layer, (ReLU, nn.LeakyReLU)) for layer in g_layers + d_layers)
    g_acts = [layer._act_type for layer in g_layers if isinstance(layer, nn.Activation)]
    assert g_acts == ["tanh"] * 4                                       # 3 hidden + the output
    assert sum(isinstance(layer, Tanh) for layer in d_layers) == 3
    with pytest.raises(ValueError, match="activation"):
        DCGANCritic(image_size=32, activation="sigmoid")


def test_gate_is_sigmoid_of_even_channels_times_tanh_of_odd():
    from gluon_wgan.models.layers import Gate
    x = np.random.RandomState(0).normal(size=(2, 6, 3, 3))
    want = 1 / (1 + np.exp(-x[:, ::2])) * np.tanh(x[:, 1::2])     # the WGAN-GP code's slicing
    gate = Gate()
    np.testing.assert_allclose(gate(mx.nd.array(x, dtype="float64")).asnumpy(), want, rtol=1e-12)
    gate.hybridize()
    np.testing.assert_allclose(gate(mx.nd.array(x, dtype="float64")).asnumpy(), want, rtol=1e-12)
    np.testing.assert_allclose(gate(mx.nd.array(x[:, :, 0, 0], dtype="float64")).asnumpy(),
                               want[:, :, 0, 0], rtol=1e-12)                    # (N, C) too


def test_gated_networks_double_the_width_before_each_gate():
    from mxnet.gluon.nn.conv_layers import _Conv   # Conv2D's and Conv2DTranspose's base
    from gluon_wgan.models.layers import Gate
    generator = DCGANGenerator(image_size=32, nz=8, ngf=4, activation="gated")
    critic = DCGANCritic(image_size=32, ndf=4, norm="layer", activation="gated", n_extra_layers=1)
    for net, n_gates in ((generator, 3), (critic, 4)):
        layers = list(net.body)
        assert sum(isinstance(layer, Gate) for layer in layers) == n_gates
        for i, layer in enumerate(layers):
            if isinstance(layer, Gate):     # the conv before it (and its norm) is twice as wide as the next's input
                conv = next(l for l in reversed(layers[:i]) if isinstance(l, _Conv))
                following = next(l for l in layers[i:] if isinstance(l, _Conv))
                assert conv._channels == 2 * following._in_channels
    generator.initialize(DCGANInit())
    critic.initialize(DCGANInit())
    images = generator(mx.nd.random.normal(shape=(2, 8)))
    assert images.shape == (2, 3, 32, 32)
    assert critic(images).shape == (2,)


def test_cifar_networks_follow_the_released_layer_list(ctx):
    """gan_cifar.py with DIM = 128: dense 128 -> 4*4*4DIM, 5x5 transposed convolutions 4DIM -> 2DIM ->
    DIM -> 3; 5x5 convolutions 3 -> DIM -> 2DIM -> 4DIM, dense 4*4*4DIM -> 1 (weights listed as MXNet
    stores them: Dense (out, in), Conv2D (out, in, k, k), Conv2DTranspose (in, out, k, k))."""
    def weights(net):
        return [p.shape for name, p in net.collect_params().items() if name.endswith("weight")]
    assert weights(CIFARGenerator()) == [(8192, 128), (512, 256, 5, 5), (256, 128, 5, 5), (128, 3, 5, 5)]
    assert weights(CIFARCritic()) == [(128, 3, 5, 5), (256, 128, 5, 5), (512, 256, 5, 5), (1, 8192)]
    g = _built(CIFARGenerator(nz=6, dim=4), ctx)
    d = _built(CIFARCritic(dim=4, norm="none"), ctx)
    with autograd.train_mode():
        images = g(mx.nd.random.normal(shape=(5, 6), ctx=ctx))
    assert images.shape == (5, 3, 32, 32) and np.abs(images.asnumpy()).max() <= 1.0
    scores = d(images)
    assert scores.shape == (5,)
    np.testing.assert_allclose(d(images[2:3]).asnumpy(), scores.asnumpy()[2:3], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("net", [CIFARGenerator, CIFARCritic])
def test_cifar_networks_are_32x32_only(net):
    with pytest.raises(ValueError, match="32x32"):
        net(image_size=64)


def test_cifar_generator_gradient_matches_finite_differences():
    """Hybridized, in float64, against central differences of sum(G(z) * r): the ReLU after the
    reshape is spelled as clip (an MKL-DNN workaround) and must still be a ReLU."""
    assert_generator_gradient(CIFARGenerator(nz=3, dim=2), 32, lambda g: (g.dense[0].weight,), step=1e-6)


def test_every_architecture_has_a_generator_and_a_critic():
    """--generator and --critic offer `choices.ARCHITECTURES`; `get_model` builds each as both."""
    assert list_models() == sorted(f"{arch}_{role}" for arch in ARCHITECTURES for role in ("generator", "critic"))
