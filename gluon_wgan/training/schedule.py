"""How many critic iterations precede each generator iteration, and the learning rate's decay."""
from .choices import LR_DECAYS


def critic_iters(gen_iter, d_iters=5, warmup=25, burst=100, burst_every=500):
    """Critic updates before generator update number `gen_iter` (0-based).

    The WGAN reference code trains the critic 100 times for each of the first 25 generator
    iterations and for every 500th one, so that the critic is close to optimal when its gradient is
    used (Arjovsky et al. 2017, section 3 and Algorithm 1); otherwise `d_iters` times. `warmup=0`
    and `burst_every=0` switch the two bursts off (WGAN-GP's schedule).
    """
    if gen_iter < warmup or (burst_every and gen_iter % burst_every == 0):
        return burst
    return d_iters


def lr_factor(gen_iter, gen_iters, decay="none"):
    """The learning rate's multiplier at generator iteration `gen_iter` (0-based) of `gen_iters`.

    'linear' is the WGAN-GP code's ResNets' schedule, max(0, 1 - gen_iter / gen_iters): its
    iteration t runs the critic's updates at that factor, and its generator update (which opens
    iteration t + 1 there) at the factor of t + 1. A function of the iteration only, so that a
    resumed run continues the schedule exactly.
    """
    if decay not in LR_DECAYS:
        raise ValueError(f"lr decay must be one of {LR_DECAYS}, got {decay!r}")
    return max(0.0, 1.0 - gen_iter / gen_iters) if decay == "linear" else 1.0
