"""The training objectives' names and the papers' defaults for clipping and the penalty, written once.

No imports, so that reading them loads no MXNet (`--help` answers at once). The config offers them
(`--method`, `--gp-mode`, the defaults of `--clamp` and `--gp-weight`); the library reads its
defaults here: `penalty.gradient_penalty` (weight, mode), `training/steps.py:critic_step` (clamp,
penalty weight), and `training/methods.py`'s `METHODS` has one row per name.
"""
# training/methods.py: METHODS, one row of losses and constraints per name.
METHOD_NAMES = ("wgan", "wgan-gp", "gan", "lsgan")
# penalty.gradient_penalty(mode=): two-sided pulls every norm towards 1 (WGAN-GP eq. 3), one-sided only
# those above 1 (its section 4).
GP_MODES = ("two-sided", "one-sided")
# WGAN paper (Arjovsky et al. 2017), Algorithm 1: critic parameters clipped to [-c, c], c = 0.01.
CLAMP = 0.01
# WGAN-GP paper (Gulrajani et al. 2017), Algorithm 1: lambda = 10. (The released toy code's 0.1 is
# the toy runs' own default: training/choices.py:TOY_GP_WEIGHT.)
GP_WEIGHT = 10.0
