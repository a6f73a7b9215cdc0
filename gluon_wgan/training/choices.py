"""The names the training package accepts besides the methods (`methods.METHODS`), for the config and
the command lines to offer.

No imports, so that reading them loads no MXNet (`--help` answers at once).
"""
# evaluate.make_extractor(inception=): the network behind FID and IS (docs/metrics.md).
INCEPTIONS = ("gluoncv", "fid-inception")
# toy.train_toy(method=): the toy runs compare the penalty with clipping.
TOY_METHODS = ("wgan-gp", "wgan")
# critic_step(gp_mode=) -> penalty.gradient_penalty(mode=): which norms the penalty pulls towards 1.
GP_MODES = ("two-sided", "one-sided")
# schedule.lr_factor(decay=): the learning rate constant, or decayed linearly to 0 (the WGAN-GP ResNets).
LR_DECAYS = ("none", "linear")
# The exact W1 of a toy evaluation solves an assignment problem between --eval-samples points: its
# cost matrix takes 8 n**2 bytes (800 MB at this bound) and its solution O(n**3) time.
MAX_TOY_EVAL_SAMPLES = 10000


def toy_problems(gen_iters=1, gp_weight=0.1, critic_iters=5, batch_size=256, hidden=512, eval_every=None,
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
