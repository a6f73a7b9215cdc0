"""Your own WGAN-GP loop with gluon_wgan's penalty: the ordinary Gluon record / backward / step.

    python docs/examples/custom_loop.py

Trains a small DCGAN WGAN-GP (Gulrajani et al. 2017, Algorithm 1: 5 critic updates per generator
update, Adam(1e-4, 0, 0.9), lambda = 10) on the embedded shapes dataset for a few iterations and
prints the Wasserstein estimate and the penalty. `critic_update` is the part to copy: the penalty
is one more term of the loss, and `backward()` fills every parameter's gradient exactly; there is
nothing to call between `backward()` and `trainer.step()` (tests/test_penalty_contract.py checks its
gradients against finite differences).
"""
import mxnet as mx
from mxnet import autograd, gluon, nd

from gluon_wgan import losses
from gluon_wgan.data import BatchStream, get_dataset
from gluon_wgan.models import DCGANCritic, DCGANGenerator, DCGANInit
from gluon_wgan.penalty import gradient_penalty

IMAGE_SIZE, NZ, BATCH = 16, 16, 16


def critic_update(critic, trainer, real, fake, alpha=None):
    """One critic update on a real and a generated batch; returns (Wasserstein estimate, penalty)."""
    with autograd.record():
        w_distance = -losses.wasserstein_d(critic(real), critic(fake))
        penalty = gradient_penalty(critic, real, fake, weight=10.0, alpha=alpha)
        loss = -w_distance + penalty
    loss.backward()
    if trainer is not None:
        trainer.step(1)          # the losses are batch means already
    return w_distance, penalty


def generator_update(generator, critic, trainer):
    with autograd.record():
        loss = losses.wasserstein_g(critic(generator(nd.random.normal(shape=(BATCH, NZ)))))
    loss.backward()
    trainer.step(1)


def critic_and_batch(dtype="float32", seed=0):
    """A layer-norm DCGAN critic (as WGAN-GP trains it) and one (real, fake, alpha) batch."""
    mx.random.seed(seed)
    critic = DCGANCritic(IMAGE_SIZE, ndf=8, nc=3, norm="layer")
    critic.initialize(DCGANInit())
    critic.cast(dtype)
    real = nd.array(next(BatchStream(get_dataset("shapes", image_size=IMAGE_SIZE), BATCH, seed=seed)),
                    dtype=dtype)
    fake = nd.random.normal(shape=real.shape, dtype=dtype)
    alpha = nd.random.uniform(shape=(BATCH,), dtype=dtype)
    return critic, real, fake, alpha


def main(gen_iters=4, d_iters=5):
    mx.random.seed(0)
    generator = DCGANGenerator(IMAGE_SIZE, nz=NZ, ngf=8, nc=3, norm="batch")
    critic = DCGANCritic(IMAGE_SIZE, ndf=8, nc=3, norm="layer")
    for net in (generator, critic):
        net.initialize(DCGANInit())
        net.hybridize()
    adam = {"learning_rate": 1e-4, "beta1": 0.0, "beta2": 0.9}
    g_trainer = gluon.Trainer(generator.collect_params(), "adam", adam)
    d_trainer = gluon.Trainer(critic.collect_params(), "adam", adam)
    data = BatchStream(get_dataset("shapes", image_size=IMAGE_SIZE), BATCH, seed=0)
    for gen_iter in range(gen_iters):
        for _ in range(d_iters):
            real = nd.array(next(data))
            with autograd.train_mode():
                fake = generator(nd.random.normal(shape=(BATCH, NZ)))
            w_distance, penalty = critic_update(critic, d_trainer, real, fake)
        generator_update(generator, critic, g_trainer)
        print(f"generator iteration {gen_iter + 1}: W estimate {w_distance.asscalar():.4f}, "
              f"penalty {penalty.asscalar():.4f}")


if __name__ == "__main__":
    main()
