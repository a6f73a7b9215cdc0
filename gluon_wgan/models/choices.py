"""The names the models accept, for the config and the command line to offer.

No imports, so that reading them loads no MXNet (`scripts/train_wgan.py --help` answers at once).
"""
# --generator, --critic: the architectures `registry.get_model` builds, as '<name>_generator' and
# '<name>_critic' (`training.build` passes each its arguments).
ARCHITECTURES = ("dcgan", "mlp", "cifar", "cifar_resnet", "resnet", "resnet101")
# The WGAN-GP code's residual networks (models.resnet): fixed to one image size each.
RESNETS = {"cifar_resnet": 32, "resnet": 64, "resnet101": 64}
# DCGANGenerator(norm=...): BatchNorm or none (WGAN paper Fig. 6: "no BN").
GENERATOR_NORMS = ("batch", "none")
# DCGANCritic(norm=...): layer norm or none for the gradient penalty, whose per-sample gradients
# BatchNorm mixes (WGAN-GP paper, section 4).
CRITIC_NORMS = ("batch", "layer", "none")
# DCGANGenerator(filters=...): widths doubling towards 4x4 (reference code) or constant (WGAN paper Fig. 6).
FILTERS = ("doubling", "constant")
# Both DCGAN networks' hidden nonlinearity (WGAN-GP paper Fig. 2 rows): DCGAN's, tanh, gated units.
ACTIVATIONS = ("dcgan", "tanh", "gated")
# --init: the networks' weight initialisation. dcgan: N(0, 0.02) everywhere (models.init.DCGANInit);
# tflib: the WGAN-GP code's uniform He/Glorot per layer (models.init.TFLibUniform), ResNets only.
INITS = ("dcgan", "tflib")
# --dtype: what the convolutions, transposed convolutions and dense layers compute in
# (models.precision); parameters, gradients and everything else stay float32.
COMPUTE_DTYPES = ("float32", "bfloat16")

# MXNet 1.9.1 indexes a tensor's elements with 32-bit signed integers unless built with large-tensor
# support (USE_INT64_TENSOR_SIZE, off in the pip wheels): a larger weight or activation fails at the
# first forward pass, after the setup, or is miscomputed.
MAX_TENSOR_ELEMENTS = 2 ** 31 - 1
# The WGAN-GP code's CIFAR-10 networks (cifar.py) are built for one size.
CIFAR_IMAGE_SIZE = 32


# largest_tensor's coefficients for the ResNets: (conv weight / dim**2, dense weight / (nz dim),
# activation / (batch dim)).
_RESNET_TENSORS = {"cifar_resnet": (9, 16, 1024), "resnet": (576, 128, 8192), "resnet101": (144, 128, 2048)}


def image_size_problems(architecture, image_size, flag="--generator/--critic"):
    """Messages for an `image_size` that `architecture`'s networks (chosen by `flag`) cannot be built
    for ([] if fine)."""
    if architecture in RESNETS and image_size != RESNETS[architecture]:
        size = RESNETS[architecture]
        return [f"{flag} {architecture} is built for {size}x{size} images: use --image-size {size}, "
                f"not {image_size}"]
    if architecture == "cifar" and image_size != CIFAR_IMAGE_SIZE:
        return [f"--generator/--critic cifar are the WGAN-GP code's {CIFAR_IMAGE_SIZE}x{CIFAR_IMAGE_SIZE} "
                f"networks: use --image-size {CIFAR_IMAGE_SIZE}, not {image_size}"]
    if not isinstance(image_size, int) or image_size < 16 or image_size & (image_size - 1):
        return [f"--image-size must be a power of two >= 16 (16, 32, 64, 128, ...) so that the stride-2 "
                f"pyramid reaches 4x4, got {image_size!r}"]
    return []


def network_problems(role, architecture, image_size=64, nz=100, width=64, n_extra_layers=0, mlp_hidden=512,
                     batch_size=1, activation="dcgan", gen_filters="doubling"):
    """One-line messages, named by flag, for each option of one network out of range ([] when all are fine).

    The one statement of the models' bounds: `model_problems` (for `TrainConfig.problems`) gathers them
    for both networks, and the networks' constructors raise the first (`check_network`). Besides the
    sizes' own ranges, the largest weight or activation (`largest_tensor`) must have fewer than 2**31
    elements; a constructor, which does not know the batch size, checks the weights only.
    """
    name_flag, width_flag = ("--generator", "--ngf") if role == "generator" else ("--critic", "--ndf")
    if architecture not in ARCHITECTURES:
        return [f"{name_flag} must be one of {', '.join(ARCHITECTURES)}, got {architecture!r}"]
    found = image_size_problems(architecture, image_size, name_flag)
    sizes = (("--nz", nz),) if role == "generator" else ()
    sizes += ((width_flag, width),) if architecture != "mlp" else (("--mlp-hidden", mlp_hidden),)
    found += [f"{flag} must be at least 1, got {value}" for flag, value in sizes if not value >= 1]
    if not n_extra_layers >= 0:
        found.append(f"--n-extra-layers must be >= 0, got {n_extra_layers}")
    if activation not in ACTIVATIONS:
        found.append(f"--activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    if gen_filters not in FILTERS:
        found.append(f"--gen-filters must be one of {', '.join(FILTERS)}, got {gen_filters!r}")
    if activation != "dcgan" and architecture != "dcgan":
        found.append(f"--activation {activation} applies to the DCGAN networks; the others keep their own")
    if found:
        return found
    elements = largest_tensor(role, architecture, image_size, nz, width, n_extra_layers, mlp_hidden, batch_size,
                              activation, gen_filters)
    if elements > MAX_TENSOR_ELEMENTS:
        return [f"the {role} would hold a tensor of {elements:,} elements, more than MXNet's limit of 2**31 - 1: "
                f"lower {'--nz, ' if role == 'generator' else ''}{width_flag if architecture != 'mlp' else '--mlp-hidden'}"
                f"{'' if batch_size == 1 else ' or --batch-size'}"]
    return []


def model_problems(generator="dcgan", critic="dcgan", image_size=64, nz=100, ngf=64, ndf=64, n_extra_layers=0,
                   mlp_hidden=512, batch_size=64, activation="dcgan", gen_filters="doubling"):
    """`network_problems` of both networks, each message once."""
    shared = dict(image_size=image_size, n_extra_layers=n_extra_layers, mlp_hidden=mlp_hidden,
                  batch_size=batch_size, activation=activation, gen_filters=gen_filters)
    found = network_problems("generator", generator, nz=nz, width=ngf, **shared)
    found += network_problems("critic", critic, width=ndf, **shared)
    return list(dict.fromkeys(found))


def check_network(role, architecture, **options):
    """Raise ValueError with the first of `network_problems(role, architecture, **options)`."""
    found = network_problems(role, architecture, **options)
    if found:
        raise ValueError(found[0])


def largest_tensor(role, architecture, image_size, nz, width, n_extra_layers=0, mlp_hidden=512, batch_size=1,
                   activation="dcgan", gen_filters="doubling"):
    """Elements of the largest weight or activation of a network, from its options alone (no MXNet).

    The convolutional pyramids (DCGAN, and the CIFAR-10 networks, whose 4x4 layer is a dense layer of
    the same size) count each layer's weight ``c_in * c_out * kernel area`` and each output
    ``batch * channels * height * width``; the MLPs each dense layer's weight and output.
    """
    pixels = 3 * image_size * image_size
    if architecture == "mlp":
        first, last = (nz, pixels) if role == "generator" else (pixels, 1)
        return max(first * mlp_hidden, mlp_hidden * mlp_hidden, mlp_hidden * last,
                   batch_size * max(mlp_hidden, pixels))
    if architecture in RESNETS:
        # Per width: the largest convolution weight is a * dim**2, the generator's dense layer
        # nz * b * dim, the largest activation batch * c * dim (read off MXNet's shape inference of
        # models/resnet.py; the test compares them again).
        a, b, c = _RESNET_TENSORS[architecture]
        weights = [a * width * width] + ([b * nz * width] if role == "generator" else [])
        return max(weights + [batch_size * c * width, batch_size * pixels])
    if architecture not in ("dcgan", "cifar"):
        raise ValueError(f"largest_tensor: no estimate for the {architecture!r} networks")
    gate = 2 if activation == "gated" else 1     # a gate's layer computes twice the channels it passes on
    depth = image_size.bit_length() - 4          # stride-2 layers between 4x4 and image_size / 2
    doubling = role == "critic" or gen_filters == "doubling"
    # (channels, side) of each hidden layer, from 4x4 up to image_size / 2.
    layers = [(width * 2 ** (depth - i) if doubling else width, 4 * 2 ** i) for i in range(depth + 1)]
    area = 25 if architecture == "cifar" else 16  # kernel: 5x5 (TensorFlow's code) or 4x4 (DCGAN)
    outer = nz if role == "generator" else 3      # the generator's 4x4 input, the critic's image input
    weights = [outer * gate * layers[0 if role == "generator" else -1][0] * 16, layers[0][0] * 16]
    weights += [a * gate * b * area for (a, _), (b, _) in zip(layers, layers[1:])]
    weights += [layers[-1][0] * gate * layers[-1][0] * 9] if n_extra_layers else []
    activations = [batch_size * gate * c * side * side for c, side in layers] + [batch_size * pixels]
    return max(weights + activations)
