"""The names and ranges the optimizers accept, for the config and the command line to offer and check.

No imports, so that reading them loads no MXNet (`scripts/train_wgan.py --help` answers at once).
"""
# optimizers.make_optimizer(name): RMSprop (WGAN), Adam with TensorFlow's or PyTorch's epsilon (WGAN-GP), SGD.
OPTIMIZERS = ("rmsprop", "adam", "torch-adam", "sgd")
# make_optimizer(rmsprop_eps_mode=): RMSprop's epsilon outside the square root (PyTorch) or inside (MXNet).
RMSPROP_EPS_MODES = ("torch", "mxnet")
# The defaults of make_optimizer and the config. RMSprop's are PyTorch's, which the WGAN reference code
# trains with (TorchRMSProp's too); Adam's betas are DCGAN's (Radford et al. 2016), epsilon PyTorch's.
RMSPROP_EPS, RMSPROP_ALPHA = 1e-8, 0.99
ADAM_BETA1, ADAM_BETA2, ADAM_EPS = 0.5, 0.999, 1e-8


def optimizer_problems(name="rmsprop", learning_rates=None, rmsprop_eps=RMSPROP_EPS, rmsprop_eps_mode="torch",
                       rmsprop_alpha=RMSPROP_ALPHA, beta1=ADAM_BETA1, beta2=ADAM_BETA2, adam_eps=ADAM_EPS, wd=0.0):
    """One-line messages, named by flag, for each optimizer option out of range ([] when all are fine).

    The one statement of these bounds: `TrainConfig.problems` reports them and `make_optimizer` raises
    the first. `learning_rates` maps a flag (or a description) to its value. The comparisons are
    written `not x > 0` rather than `x <= 0` so that NaN is refused too.
    """
    found = []
    if name not in OPTIMIZERS:
        found.append(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    if rmsprop_eps_mode not in RMSPROP_EPS_MODES:
        found.append(f"--rmsprop-eps-mode must be one of {', '.join(RMSPROP_EPS_MODES)}, got {rmsprop_eps_mode!r}")
    found += [f"{flag} must be > 0, got {lr}" for flag, lr in (learning_rates or {}).items() if not lr > 0]
    found += [f"{flag} must be >= 0, got {value}" for flag, value in
              (("--rmsprop-eps", rmsprop_eps), ("adam_eps", adam_eps), ("wd", wd)) if not value >= 0]
    # alpha = 1 never updates the average (its square root stays 0: a division by epsilon); alpha = 0
    # is allowed by PyTorch but keeps no average at all.
    if not 0 < rmsprop_alpha < 1:
        found.append(f"--rmsprop-alpha must be in (0, 1), got {rmsprop_alpha}")
    # beta = 1: Adam's bias correction divides by 1 - beta ** t = 0.
    found += [f"{flag} must be in [0, 1), got {beta}" for flag, beta in (("--beta1", beta1), ("--beta2", beta2))
              if not 0 <= beta < 1]
    return found
