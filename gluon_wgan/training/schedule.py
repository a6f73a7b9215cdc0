"""How many critic iterations precede each generator iteration, and in a whole run; the learning rate's decay."""
from .choices import BURST_D_ITERS, BURST_EVERY, D_ITERS, LR_DECAYS, WARMUP_ITERS, schedule_problems


def critic_iters(gen_iter, d_iters=D_ITERS, warmup=WARMUP_ITERS, burst=BURST_D_ITERS, burst_every=BURST_EVERY):
    """Critic updates before generator update number `gen_iter` (0-based).

    The WGAN reference code trains the critic 100 times for each of the first 25 generator
    iterations and for every 500th one, so that the critic is close to optimal when its gradient is
    used (Arjovsky et al. 2017, section 3 and Algorithm 1); otherwise `d_iters` times. `warmup=0`
    and `burst_every=0` switch the two bursts off (WGAN-GP's schedule).

    Raises
    ------
    ValueError
        For an option out of range (`schedule_problems`): a generator iteration needs a critic update.
    """
    _check(schedule_problems(d_iters, warmup, burst, burst_every))
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


def total_critic_iters(gen_iters, d_iters=D_ITERS, warmup=WARMUP_ITERS, burst=BURST_D_ITERS,
                       burst_every=BURST_EVERY):
    """The sum of `critic_iters(i, ...)` over generator iterations 0 .. gen_iters - 1, in closed form
    (a sum over the iterations would take hours for --gen-iters 1e12).

    Burst iterations: the first min(warmup, gen_iters), and after them the multiples of burst_every
    below gen_iters; multiples of k in [a, b) number ceil(b / k) - ceil(a / k).
    """
    _check(schedule_problems(d_iters, warmup, burst, burst_every, gen_iters))
    bursts = min(warmup, gen_iters)
    if burst_every:
        bursts += _ceil_div(gen_iters, burst_every) - _ceil_div(bursts, burst_every)
    return bursts * burst + (gen_iters - bursts) * d_iters


def _ceil_div(a, b):
    return -(-a // b)


def _check(problems):
    if problems:
        raise ValueError(problems[0])
