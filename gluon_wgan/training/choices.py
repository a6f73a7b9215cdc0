"""The names, bounds and defaults of the training package's options (the methods' names and the
penalty's are in `gluon_wgan/objectives.py`, which the penalty reads too), for the config and the
command lines to offer.

No imports, so that reading them loads no MXNet (`--help` answers at once).
"""
# evaluate.make_extractor(inception=): the network behind FID and IS (docs/metrics.md).
INCEPTIONS = ("gluoncv", "fid-inception")
# toy.train_toy(method=): the toy runs compare the penalty with clipping.
TOY_METHODS = ("wgan-gp", "wgan")
# schedule.lr_factor(decay=): the learning rate constant, or decayed linearly to 0 (the WGAN-GP ResNets).
LR_DECAYS = ("none", "linear")
# The exact W1 of a toy evaluation solves an assignment problem between --eval-samples points: its
# cost matrix takes 8 n**2 bytes (800 MB at this bound) and its solution O(n**3) time.
MAX_TOY_EVAL_SAMPLES = 10000
# The WGAN-GP paper's toy runs use lambda = 10 in its text; the released toy code (gan_toy.py) uses 0.1,
# "faster for toy tasks", and so do the toy runs here (training/toy.py, reproduce_toy.py --gp-weight).
TOY_GP_WEIGHT = 0.1
# schedule.critic_iters(): the WGAN reference code's schedule, n_critic = 5 with 100 critic iterations
# for each of the first 25 generator iterations and every 500th (Arjovsky et al. 2017, Algorithm 1).
D_ITERS, WARMUP_ITERS, BURST_D_ITERS, BURST_EVERY = 5, 25, 100, 500


def schedule_problems(d_iters=D_ITERS, warmup=WARMUP_ITERS, burst=BURST_D_ITERS, burst_every=BURST_EVERY,
                      gen_iters=1):
    """One-line messages, named by flag, for each schedule option out of range ([] when all are fine).

    The one statement of the schedule's bounds: `TrainConfig.problems` reports them, `critic_iters`
    and `total_critic_iters` (training/schedule.py) raise the first.
    """
    found = [f"{flag} must be at least 1, got {value}"
             for flag, value in (("--d-iters", d_iters), ("--burst-d-iters", burst), ("--gen-iters", gen_iters))
             if not value >= 1]
    return found + [f"{flag} must be >= 0, got {value}"
                    for flag, value in (("--warmup-iters", warmup), ("--burst-every", burst_every))
                    if not value >= 0]


def toy_problems(gen_iters=1, gp_weight=TOY_GP_WEIGHT, critic_iters=5, batch_size=256, hidden=512, eval_every=None,
                 eval_samples=1000, depth=2):
    """One-line messages, named by flag, for each toy-run option out of range ([] when all are fine).

    The one statement of these bounds: `tools.toy.parse_args` reports the first, and the toy runs
    (`training.toy.check_toy_args`) raise it.
    """
    found = [f"{flag} must be an integer >= {low}, got {value!r}"
             for flag, value, low in (("--gen-iters", gen_iters, 1), ("--critic-iters", critic_iters, 1),
                                      ("--batch-size", batch_size, 1), ("--hidden", hidden, 1),
                                      ("--eval-samples", eval_samples, 2), ("--depth", depth, 2))
             if int(value) != value or value < low]
    if eval_samples > MAX_TOY_EVAL_SAMPLES:
        found.append(f"--eval-samples must be at most {MAX_TOY_EVAL_SAMPLES} (the exact W1 of n points needs "
                     f"8 n**2 bytes and n**3 steps), got {eval_samples}")
    if eval_every is not None and (int(eval_every) != eval_every or eval_every < 1):
        found.append(f"--eval-every must be a positive integer, got {eval_every!r}")
    if not gp_weight >= 0:
        found.append(f"--gp-weight must be >= 0, got {gp_weight!r}")
    return found


def sample_count_problems(flag, n):
    """Messages for a number of images `n` (given by `flag`) that FID cannot use ([] when it can).

    The one statement of this bound: `TrainConfig.problems` (--eval-samples), scripts/evaluate.py
    (--n-samples, --n-real) and `evaluate.evaluate_generator` / `real_statistics`.
    """
    if int(n) != n or n < 2:
        return [f"{flag} must be at least 2 (a covariance needs two images), got {n}"]
    return []
