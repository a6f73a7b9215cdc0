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
