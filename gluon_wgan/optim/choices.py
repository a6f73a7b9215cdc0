"""The names the optimizers accept, for the config and the command line to offer.

No imports, so that reading them loads no MXNet (`scripts/train_wgan.py --help` answers at once).
"""
# optimizers.make_optimizer(name): RMSprop (WGAN), Adam with TensorFlow's or PyTorch's epsilon (WGAN-GP), SGD.
OPTIMIZERS = ("rmsprop", "adam", "torch-adam", "sgd")
# make_optimizer(rmsprop_eps_mode=): RMSprop's epsilon outside the square root (PyTorch) or inside (MXNet).
RMSPROP_EPS_MODES = ("torch", "mxnet")
