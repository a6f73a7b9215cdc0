"""WGAN-GP with a critic of your own: stock Gluon layers and a residual block, nothing from the package.

    python docs/examples/own_critic.py

`gradient_penalty` reads the critic's operators from its symbol graph and differentiates each one
exactly, so the critic below (convolutions, LeakyReLU, a pre-activation residual block with
LayerNorm and mean pooling, a global average pool, a Dense score) trains under the ordinary
record / backward / step. It then shows the two other entry points: the one-sided penalty and
`input_gradient`, here for R1 (Mescheder et al. 2018: the squared gradient norm at real images),
and what a critic the penalty cannot differentiate exactly gets: one ValueError naming the layer.
"""
import mxnet as mx
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn

from gluon_wgan import losses
from gluon_wgan.data import BatchStream, get_dataset
from gluon_wgan.models import DCGANGenerator, DCGANInit
from gluon_wgan.penalty import check_penalty_support, gradient_penalty, input_gradient

IMAGE_SIZE, NZ, BATCH = 16, 16, 16


class ResidualBlock(nn.HybridBlock):
    """x + conv(lrelu(norm(conv(lrelu(x))))), then mean-pooled to half the size."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.conv1 = nn.Conv2D(channels, 3, padding=1, in_channels=channels)
            self.norm = nn.LayerNorm(axis=1, in_channels=channels)
            self.conv2 = nn.Conv2D(channels, 3, padding=1, in_channels=channels)
            self.pool = nn.AvgPool2D(2)

    def hybrid_forward(self, F, x):
        h = self.conv1(F.LeakyReLU(x, slope=0.2))
        h = self.conv2(F.LeakyReLU(self.norm(h), slope=0.2))
        return self.pool(x + h)


def my_critic(width=16, norm=None):
    critic = nn.HybridSequential()
    with critic.name_scope():
        critic.add(nn.Conv2D(width, 4, 2, 1, in_channels=3), nn.LeakyReLU(0.2))
        if norm is not None:
            critic.add(norm)
        critic.add(ResidualBlock(width), nn.GlobalAvgPool2D(), nn.Flatten(), nn.Dense(1, in_units=width))
    return critic


def main(gen_iters=3, d_iters=5):
    mx.random.seed(0)
    generator = DCGANGenerator(IMAGE_SIZE, nz=NZ, ngf=8, nc=3, norm="batch")
    critic = my_critic()
    check_penalty_support(critic)                  # before training: refuses what it cannot do
    generator.initialize(DCGANInit())
    critic.initialize(mx.init.Xavier())
    for net in (generator, critic):
        net.hybridize()
    adam = {"learning_rate": 1e-4, "beta1": 0.0, "beta2": 0.9}
    g_trainer = gluon.Trainer(generator.collect_params(), "adam", adam)
    d_trainer = gluon.Trainer(critic.collect_params(), "adam", adam)
    data = BatchStream(get_dataset("shapes", image_size=IMAGE_SIZE), BATCH, seed=0)
    for gen_iter in range(1, gen_iters + 1):
        for _ in range(d_iters):
            real = nd.array(next(data))
            with autograd.train_mode():
                fake = generator(nd.random.normal(shape=(BATCH, NZ)))
            with autograd.record():
                w_loss = losses.wasserstein_d(critic(real), critic(fake))
                penalty = gradient_penalty(critic, real, fake, weight=10.0)
                loss = w_loss + penalty
            loss.backward()
            d_trainer.step(1)
        with autograd.record():
            g_loss = losses.wasserstein_g(critic(generator(nd.random.normal(shape=(BATCH, NZ)))))
        g_loss.backward()
        g_trainer.step(1)
        print(f"generator iteration {gen_iter}: W estimate {-w_loss.asscalar():.4f}, penalty {penalty.asscalar():.4f}")

    with autograd.record():
        one_sided = gradient_penalty(critic, real, fake, mode="one-sided")
        r1 = 5.0 * nd.mean(nd.sum(nd.square(input_gradient(critic, real)), axis=(1, 2, 3)))
    print(f"one-sided penalty {one_sided.asscalar():.4f}, R1 {r1.asscalar():.4f}")

    try:
        check_penalty_support(my_critic(norm=nn.BatchNorm(in_channels=16)))
    except ValueError as refused:
        print(f"refused: {refused}")


if __name__ == "__main__":
    main()
