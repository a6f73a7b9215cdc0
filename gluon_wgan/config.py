"""TrainConfig: every option of a training run, its default, its help text, and the paper presets.

Only `gluon_wgan.cli` and `gluon_wgan.training` read a TrainConfig; every other module takes plain
arguments. The defaults are the WGAN paper's LSUN run (Arjovsky et al. 2017, section 4 and the
reference code): DCGAN generator and critic with BatchNorm, RMSprop at lr 5e-5, clipping at 0.01,
batch 64, nz 100, ngf = ndf = 64, 64x64 images, 5 critic iterations (100 for the first 25 generator
iterations and every 500th).
"""
import math
import os
from dataclasses import asdict, dataclass, field, fields

# Each list of choices, bound and default is the component's own, in a module that imports nothing
# (the choices.py modules, objectives.py), so that --help loads neither numpy nor MXNet and no import
# here reaches up into the library or training.
from .data.choices import BACKENDS, DATASETS, INTERPOLATIONS, data_problems, loader_problems
from .models.choices import (ACTIVATIONS, ARCHITECTURES, COMPUTE_DTYPES, CRITIC_NORMS, FILTERS, GENERATOR_NORMS,
                             INITS, RESNETS, model_problems)
from .objectives import CLAMP, GP_MODES, GP_WEIGHT, METHOD_NAMES
from .optim.choices import (ADAM_BETA1, ADAM_BETA2, OPTIMIZERS, RMSPROP_ALPHA, RMSPROP_EPS, RMSPROP_EPS_MODES,
                            optimizer_problems)
from .training.choices import (BURST_D_ITERS, BURST_EVERY, D_ITERS, INCEPTIONS, LR_DECAYS, WARMUP_ITERS,
                               sample_count_problems, schedule_problems)
from .utils.cpu import bfloat16_problem
from .utils.threads import thread_count_problems

MAX_SEED = 2 ** 31 - 1


def opt(default, help, **argparse_kw):
    """A config field whose help text (and choices) travel with it to the CLI."""
    return field(default=default, metadata=dict(help=help, **argparse_kw))


@dataclass(frozen=True)
class TrainConfig:
    # Data.
    dataset: str = opt("shapes", "training images; 'shapes' and 'shapes-simple' (one large shape on a flat "
                                 "background) are embedded and need no download",
                       choices=DATASETS)
    dataroot: str = opt(None, "folder of images, LSUN root holding <category>_train_lmdb, or CIFAR-10 cache")
    lsun_category: str = opt("bedroom", "LSUN category (reads <dataroot>/<category>_train_lmdb)")
    image_size: int = opt(64, "height = width of the images; a power of two >= 16")
    resize_backend: str = opt("pillow", "library that resizes the images (the paper's code used Pillow)",
                              choices=BACKENDS)
    interpolation: str = opt("bicubic", "resize filter, by name", choices=INTERPOLATIONS)
    workers: int = opt(None, "data loading worker processes; 0 loads in the training process. Default: 0 on "
                             "CPUs, where workers take cores from the computation, and for CIFAR-10 (decoded in "
                             "memory); on a GPU min(16, cores - 1), at least 2, as LSUN's decoding needs "
                             "(benchmarks/data_workers.py)")

    # Models.
    generator: str = opt("dcgan", "generator architecture: the WGAN code's DCGAN, an MLP, or one of the WGAN-GP "
                                  "code's: the 32x32 CIFAR-10 network, its 32x32 ResNet (cifar_resnet), the 64x64 "
                                  "ResNet (resnet) or the 101-layer one (resnet101); width --ngf", choices=ARCHITECTURES)
    critic: str = opt("dcgan", "critic architecture, as --generator; width --ndf", choices=ARCHITECTURES)
    nz: int = opt(100, "size of the latent noise z")
    ngf: int = opt(64, "DCGAN generator width (filters of the last hidden layer)")
    ndf: int = opt(64, "DCGAN critic width (filters of the first layer)")
    n_extra_layers: int = opt(0, "extra 3x3 layers in both DCGAN networks")
    gen_norm: str = opt("batch", "generator normalization", choices=GENERATOR_NORMS)
    gen_filters: str = opt("doubling", "DCGAN generator widths: doubling towards 4x4 (reference code) "
                           "or ngf at every layer (WGAN paper Fig. 6)", choices=FILTERS)
    activation: str = opt("dcgan", "hidden nonlinearity of the DCGAN networks: ReLU in the generator and "
                                   "LeakyReLU(0.2) in the critic, or in both tanh or gated units "
                                   "sigmoid(a) * tanh(b) after layers of twice the width (WGAN-GP paper, "
                                   "Fig. 2)", choices=ACTIVATIONS)
    critic_norm: str = opt("batch", "critic normalization (the gradient penalty needs layer or none)",
                           choices=CRITIC_NORMS)
    critic_bias: bool = opt(False, "biases on the critic's convolutions")
    mlp_hidden: int = opt(512, "units per hidden layer of the MLP generator/critic")
    init: str = opt("dcgan", "weight initialisation: dcgan, N(0, 0.02); tflib, the WGAN-GP code's uniform "
                             "He/Glorot per layer (the ResNets only)", choices=INITS)

    # Objective and schedule.
    method: str = opt("wgan", "objective: WGAN with clipping, WGAN-GP, DCGAN's GAN, least squares GAN",
                      choices=METHOD_NAMES)
    gen_iters: int = opt(100000, "generator iterations to train")
    batch_size: int = opt(64, "images per critic iteration, and per generator iteration unless --gen-batch-size")
    gen_batch_size: int = opt(None, "noise samples per generator iteration (default: --batch-size; the WGAN-GP "
                                    "code's CIFAR-10 ResNet uses twice the critic's)")
    dequantize: bool = opt(False, "real images as the WGAN-GP code's CIFAR-10 ResNet feeds them: pixel values "
                                  "x in 0..255 become (x + u) / 128 - 1, u ~ U[0, 1) per value (instead of "
                                  "x / 127.5 - 1)")
    d_iters: int = opt(D_ITERS, "critic iterations per generator iteration (n_critic)")
    warmup_iters: int = opt(WARMUP_ITERS, "the first this-many generator iterations get --burst-d-iters critic "
                            "iterations (0: no warm-up)")
    burst_d_iters: int = opt(BURST_D_ITERS, "critic iterations during warm-up and every --burst-every-th generator "
                             "iteration")
    burst_every: int = opt(BURST_EVERY, "every this-many generator iterations get --burst-d-iters (0: never)")
    clamp: float = opt(CLAMP, "wgan: clip critic parameters to [-clamp, clamp]")
    clip_when: str = opt("before", "wgan: clip before each critic update (reference code; the generator "
                         "then sees an unclipped critic) or after it (MXNet's clip_weights)",
                         choices=("before", "after"))
    gp_weight: float = opt(GP_WEIGHT, "wgan-gp: lambda, the gradient penalty weight")
    gp_mode: str = opt("two-sided", "wgan-gp: two-sided pulls every interpolate's gradient norm towards 1 "
                       "(the paper's eq. 3); one-sided penalizes only norms above 1, max(0, norm - 1)^2 "
                       "(the alternative its section 4 discusses)", choices=GP_MODES)
    epoch_boundaries: str = opt("continuous", "continuous: full batches across epoch ends; official: as the "
                                "WGAN reference code, an epoch's last batch may be short and ends that "
                                "generator iteration's critic loop", choices=("continuous", "official"))
    bn_stats: str = opt("mxnet", "BatchNorm running statistics (used in predict mode only): mxnet, updated by "
                        "each backward pass, biased variance; reference, updated by every train-mode forward "
                        "as in PyTorch, unbiased variance in checkpoints (one more generator backward per "
                        "critic iteration)", choices=("mxnet", "reference"))

    # Optimizer.
    optimizer: str = opt("rmsprop", "optimizer of both networks; adam adds epsilon as TensorFlow (the "
                         "WGAN-GP reference), torch-adam as PyTorch", choices=OPTIMIZERS)
    lr_d: float = opt(5e-5, "critic learning rate")
    lr_g: float = opt(5e-5, "generator learning rate")
    rmsprop_eps: float = opt(RMSPROP_EPS, "RMSprop epsilon")
    rmsprop_eps_mode: str = opt("torch", "where RMSprop's epsilon sits: outside the square root "
                                "(PyTorch, the reference code) or inside (MXNet)", choices=RMSPROP_EPS_MODES)
    rmsprop_alpha: float = opt(RMSPROP_ALPHA, "RMSprop decay of the squared-gradient average (PyTorch's alpha)")
    beta1: float = opt(ADAM_BETA1, "Adam beta1")
    beta2: float = opt(ADAM_BETA2, "Adam beta2")
    lr_decay: str = opt("none", "learning-rate schedule of both networks: none, or linear, lr * (1 - t / "
                                "--gen-iters) at generator iteration t (the WGAN-GP code's ResNets)",
                        choices=LR_DECAYS)

    # Run.
    ctx: str = opt("cpu", "device: cpu or gpu(0); several, e.g. gpu(0,1,2,3), train data parallel (the "
                           "batch split evenly, gradients summed; BatchNorm statistics per device)")
    kvstore: str = opt("device", "gradient reduction across processes: 'device' (this process only) or "
                                 "'dist_sync' (workers started by scripts/launch_dist.py, each with its own "
                                 "data; see docs/distributed.md)", choices=("device", "dist_sync"))
    seed: int = opt(0, "seed of weights, noise and data order; a run is a function of it")
    outdir: str = opt("runs/wgan", "run folder: metrics.jsonl, samples/, loss.png, checkpoints/")
    sample_every: int = opt(500, "write a sample grid every this-many generator iterations")
    checkpoint_every: int = opt(1000, "write a checkpoint every this-many generator iterations")
    log_every: int = opt(10, "read the losses from the device and append to metrics.jsonl this often")
    tensorboard: bool = opt(False, "also write TensorBoard event files to OUTDIR/tensorboard: the values of "
                                   "metrics.jsonl and the sample grids")
    hybridize: bool = opt(True, "compile the networks with hybridize()")
    dtype: str = opt("float32", "what the convolutions, transposed convolutions and dense layers compute in, "
                                "the penalty's transposes of them included: bfloat16 on CPUs that compute it "
                                "natively (avx512_bf16 or AMX); parameters, gradients, optimizer states, "
                                "normalizations and losses stay float32 (docs/performance.md)",
                     choices=COMPUTE_DTYPES)
    threads: int = opt(0, "compute threads per process, set before MXNet loads (0: one for images of at most "
                          "32x32, else one per physical core); OMP_NUM_THREADS, when set, wins")
    eval_every: int = opt(0, "FID and Inception Score every this-many generator iterations, logged in "
                             "metrics.jsonl (0: never; see docs/metrics.md)")
    eval_samples: int = opt(5000, "generated images, and real images, per FID/IS evaluation")
    inception: str = opt("gluoncv", "network of --eval-every's FID and IS: 'fid-inception' (the papers' "
                                    "TensorFlow graph, comparable with published numbers; needs --inception-"
                                    "weights pt_inception-2015-12-05-6726825d.pth, docs/metrics.md) or "
                                    "'gluoncv' (ImageNet InceptionV3: compares runs of this package only)",
                         choices=INCEPTIONS)
    inception_weights: str = opt(None, "--inception's weights: the .pth for fid-inception, a .params file for "
                                       "gluoncv (default: gluoncv's pretrained weights, downloaded once)")
    # Set by --preset (the command line's own flag), recorded so that plots can name the run by it.
    preset: str = opt(None, "the preset the run started from")

    def problems(self, files=True):
        """Yield a one-line message, named by its flag, for each invalid option; with ``files=False``
        (a dry run) not those about files this machine must hold (--inception-weights)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if _kind(f) is float and not math.isfinite(value):
                yield f"{flag(f.name)} must be a finite number, got {value}"
        if not 0 <= self.seed <= MAX_SEED:
            yield f"--seed must be in 0..{MAX_SEED} (MXNet's seeds are 32-bit signed), got {self.seed}"
        # Each component's bounds, stated once in its own module and checked there too.
        yield from schedule_problems(self.d_iters, self.warmup_iters, self.burst_d_iters, self.burst_every,
                                     self.gen_iters)
        yield from model_problems(self.generator, self.critic, self.image_size, self.nz, self.ngf, self.ndf,
                                  self.n_extra_layers, self.mlp_hidden, self.batch_size, self.activation,
                                  self.gen_filters)
        yield from optimizer_problems(self.optimizer, {"--lr-d": self.lr_d, "--lr-g": self.lr_g}, self.rmsprop_eps,
                                      self.rmsprop_eps_mode, self.rmsprop_alpha, self.beta1, self.beta2)
        yield from data_problems(self.dataset, self.dataroot, self.resize_backend, self.interpolation, located=files)
        yield from loader_problems(self.batch_size, self.workers)
        for name in ("sample_every", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                yield f"{flag(name)} must be at least 1, got {getattr(self, name)}"
        yield from sample_count_problems("--eval-samples", self.eval_samples)
        if files and self.inception == "fid-inception" and self.eval_every and not self.inception_weights:
            yield ("--inception fid-inception needs --inception-weights pt_inception-2015-12-05-6726825d.pth, "
                   "which you download yourself (docs/metrics.md)")
        if files and self.inception_weights and not os.path.isfile(self.inception_weights):
            yield f"--inception-weights {self.inception_weights!r} is not a file"
        yield from thread_count_problems(self.threads)
        if self.eval_every < 0:
            yield f"--eval-every must be >= 0, got {self.eval_every}"
        if not self.clamp > 0:
            yield f"--clamp must be > 0, got {self.clamp}"
        if self.gp_weight < 0:
            yield f"--gp-weight must be >= 0, got {self.gp_weight}"
        if self.init == "tflib" and not (self.generator in RESNETS and self.critic in RESNETS):
            yield (f"--init tflib is the ResNets' (--generator/--critic {', '.join(RESNETS)}), got --generator "
                   f"{self.generator} --critic {self.critic}")
        if self.gen_batch_size is not None and self.gen_batch_size < 1:
            yield f"--gen-batch-size must be at least 1, got {self.gen_batch_size}"
        if self.gen_batch_size not in (None, self.batch_size) and self.bn_stats == "reference":
            yield ("--bn-stats reference needs one batch size for both networks (its variance factor counts "
                   f"--batch-size), got --gen-batch-size {self.gen_batch_size}")
        if self.epoch_boundaries == "official" and self.method == "wgan-gp":
            yield ("--epoch-boundaries official cannot be used with --method wgan-gp: the penalty interpolates "
                   "between real and fake batches of one size, and an epoch's last batch is short")
        if self.epoch_boundaries == "official" and "," in self.ctx:
            yield (f"--epoch-boundaries official needs one device, got --ctx {self.ctx}: an epoch's short last "
                   "batch does not split evenly")
        if self.dtype == "bfloat16":
            yield from bfloat16_problems(self.ctx)
        if self.method == "wgan-gp" and self.critic_norm == "batch":
            yield ("--method wgan-gp cannot use --critic-norm batch: a BatchNorm critic's score of one "
                   "sample depends on the others, so the per-sample penalty is undefined; use layer or none")


def bfloat16_problems(ctx):
    """Why `--dtype bfloat16` cannot run on `ctx` (a --ctx string such as 'cpu' or 'gpu(0)') here,
    if it cannot."""
    if "gpu" in ctx:
        yield (f"--dtype bfloat16 runs on CPUs only (MXNet 1.9.1's bfloat16 operators are oneDNN's), got "
               f"--ctx {ctx}; use --dtype float32 on a GPU")
        return
    cpu_problem = bfloat16_problem()
    if cpu_problem:
        yield cpu_problem


def flag(name):
    """The command-line flag of config field `name`: lr_d -> --lr-d."""
    return "--" + name.replace("_", "-")


def field_names():
    return [f.name for f in fields(TrainConfig)]


# Defaults that follow from the method, applied under presets and explicit flags.
METHOD_DEFAULTS = {
    # WGAN paper, Algorithm 1 and the reference code: RMSprop 5e-5, c = 0.01, the 100-iteration bursts.
    "wgan": dict(),
    # WGAN-GP paper, Algorithm 1: Adam(1e-4, 0, 0.9), lambda = 10, n_critic = 5, no bursts, no clipping,
    # and no BatchNorm in the critic (section 4: "we use layer normalization as a drop-in replacement").
    "wgan-gp": dict(optimizer="adam", lr_d=1e-4, lr_g=1e-4, beta1=0.0, beta2=0.9, warmup_iters=0,
                    burst_every=0, critic_norm="layer"),
    # DCGAN (Radford et al. 2016): Adam(2e-4, 0.5), one critic step per generator step.
    "gan": dict(optimizer="adam", lr_d=2e-4, lr_g=2e-4, beta1=0.5, beta2=0.999, d_iters=1,
                warmup_iters=0, burst_every=0),
    # LSGAN (Mao et al. 2017) trained like DCGAN in the WGAN-GP paper's comparison.
    "lsgan": dict(optimizer="adam", lr_d=2e-4, lr_g=2e-4, beta1=0.5, beta2=0.999, d_iters=1,
                  warmup_iters=0, burst_every=0),
}

# Architectures of the WGAN-GP paper's Figure 2 (LSUN bedrooms 64x64), each trained with every method.
_WGANGP_FIG2_ARCHS = {
    "dcgan": dict(),                                                   # row 1: the DCGAN baseline
    "nobn-constant": dict(gen_norm="none", gen_filters="constant"),    # row 2: G without BN, constant filters
    "mlp": dict(generator="mlp"),                                      # row 3: G a 4-layer 512-unit ReLU MLP
    "nonorm": dict(gen_norm="none", critic_norm="none"),               # row 4: no normalization in G or D
    "gated": dict(activation="gated"),                                 # row 5: gated multiplicative units
    "tanh": dict(activation="tanh"),                                   # row 6: tanh nonlinearities everywhere
    # Row 7: the 101-layer ResNet (gan_64x64.py's ResnetGenerator/ResnetDiscriminator, DIM 64, nz 128),
    # initialised as there; BatchNorm in the critic, LayerNorm under WGAN-GP (its method default).
    "resnet101": dict(generator="resnet101", critic="resnet101", nz=128, init="tflib"),
}
# Figure 2's columns. The critic of 'gan', 'lsgan' and 'wgan' keeps BatchNorm, as in the DCGAN baseline;
# WGAN-GP's becomes LayerNorm (its method default), the paper's drop-in replacement.
_WGANGP_FIG2_METHODS = ("gan", "lsgan", "wgan", "wgan-gp")

# The WGAN reference code's LSUN pipeline: torchvision's Scale (Pillow, bilinear by default) and a
# centre crop (docs/resize.md). The package's own default filter is bicubic.
_WGAN_LSUN = dict(dataset="lsun", interpolation="bilinear")

# The WGAN-GP code's CIFAR-10 runs (gan_cifar.py): its 32x32 networks with DIM = 128 and nz = 128, batch
# 64, 200,000 generator iterations, no 100-iteration bursts, and the Inception Score of the papers'
# network every 1,000 iterations over 1,000 samples in 10 splits, as that code logs it (Table 3's
# final scores use 50,000: scripts/evaluate.py). Its RMSProp is TensorFlow's: decay 0.9, epsilon 1e-10
# inside the square root.
_WGANGP_CIFAR = dict(dataset="cifar10", image_size=32, generator="cifar", critic="cifar", nz=128, ngf=128,
                     ndf=128, critic_bias=True, gen_iters=200000, warmup_iters=0, burst_every=0,
                     eval_every=1000, eval_samples=1000, inception="fid-inception", sample_every=1000,
                     checkpoint_every=1000)
_TF_RMSPROP = dict(optimizer="rmsprop", lr_d=5e-5, lr_g=5e-5, rmsprop_alpha=0.9, rmsprop_eps=1e-10,
                   rmsprop_eps_mode="mxnet")
_WGANGP_FIG3_CURVES = {
    # Weight clipping at 0.01 after each critic update, BatchNorm in the critic.
    "wgan": dict(method="wgan", clip_when="after", critic_norm="batch", **_TF_RMSPROP),
    # The penalty with clipping's optimizer and learning rate ("to control for the optimizer").
    "wgan-gp-rmsprop": dict(method="wgan-gp", critic_norm="none", **_TF_RMSPROP),
    # The penalty as released: Adam(1e-4, 0.5, 0.9), no normalization in the critic.
    "wgan-gp-adam": dict(method="wgan-gp", critic_norm="none", optimizer="adam", lr_d=1e-4, lr_g=1e-4,
                         beta1=0.5, beta2=0.9),
    # DCGAN's objective with Adam(2e-4, 0.5) and one critic step (its method defaults), BatchNorm critic.
    "dcgan": dict(method="gan", critic_norm="batch"),
}

# The WGAN-GP code's 32x32 ResNet (gan_cifar_resnet.py, unconditional): DIM 128 in both networks, nz 128,
# BatchNorm in the generator and no normalization in the critic, Adam(2e-4, 0, 0.9) decayed linearly to
# 0 over 100,000 generator iterations, 5 critic iterations on batches of 64, generator batches of 128,
# dequantized real images, and the Inception Score over 50,000 samples every 1,000 iterations.
_WGANGP_CIFAR_RESNET = dict(dataset="cifar10", image_size=32, generator="cifar_resnet", critic="cifar_resnet",
                            nz=128, ngf=128, ndf=128, init="tflib", gen_norm="batch", critic_norm="none",
                            method="wgan-gp", optimizer="adam", lr_d=2e-4, lr_g=2e-4, beta1=0.0, beta2=0.9,
                            lr_decay="linear", batch_size=64, gen_batch_size=128, dequantize=True,
                            gen_iters=100000, eval_every=1000, eval_samples=50000, inception="fid-inception",
                            sample_every=1000, checkpoint_every=1000)

PRESETS = {
    # A few minutes on two CPU cores (README.md has the timing beside its command): WGAN (clipping,
    # RMSprop) on one large shape per image, until the samples show recognisable circles, squares and
    # rings. Chosen by measurement: 10x the paper's learning rate, 2 critic iterations per generator
    # iteration and no bursts (the paper's 5 and 100 reach that point later), 16 filters, and one
    # compute thread, which small networks run as fast as two and which does not spin against other
    # jobs on a shared machine.
    "quickstart": dict(dataset="shapes-simple", image_size=32, ngf=16, ndf=16, gen_iters=2500, lr_d=5e-4,
                       lr_g=5e-4, d_iters=2, warmup_iters=0, burst_every=0, sample_every=500,
                       checkpoint_every=1000, log_every=20, threads=1),
    # WGAN paper (Arjovsky et al. 2017) Fig. 3 upper right and Fig. 5 left: DCGAN generator and critic.
    "wgan-lsun64": dict(**_WGAN_LSUN, method="wgan"),
    # WGAN paper Fig. 5 right: the same DCGAN models with the standard GAN objective.
    "gan-lsun64": dict(**_WGAN_LSUN, method="gan"),
    # WGAN paper Fig. 6 left: generator without BatchNorm and with a constant number of filters (as the
    # paper describes it; the official code keeps the doubling filters: wgan-nobn-doubling-lsun64).
    "wgan-nobn-lsun64": dict(**_WGAN_LSUN, method="wgan", gen_norm="none", gen_filters="constant"),
    "wgan-nobn-doubling-lsun64": dict(**_WGAN_LSUN, method="wgan", gen_norm="none"),
    # WGAN paper Fig. 6 right: the same generator with the standard GAN objective.
    "gan-nobn-lsun64": dict(**_WGAN_LSUN, method="gan", gen_norm="none", gen_filters="constant"),
    # WGAN paper Fig. 3 upper left and Fig. 7 left: 4-layer ReLU MLP generator with 512 units, DCGAN critic.
    "wgan-mlp-lsun64": dict(**_WGAN_LSUN, method="wgan", generator="mlp"),
    # WGAN paper Fig. 7 right: the MLP generator with the standard GAN objective.
    "gan-mlp-lsun64": dict(**_WGAN_LSUN, method="gan", generator="mlp"),
    # WGAN paper Fig. 3 lower half: MLP generator and MLP critic with "substantially high learning
    # rates", so training fails. The paper gives no number: 1e-3 (20x the default) is this package's.
    "wgan-mlp-mlp-highlr-lsun64": dict(**_WGAN_LSUN, method="wgan", generator="mlp", critic="mlp",
                                       lr_d=1e-3, lr_g=1e-3),
    # WGAN-GP paper (Gulrajani et al. 2017) section 5: DCGAN architecture, Algorithm 1 hyperparameters.
    "wgan-gp-lsun64": dict(dataset="lsun", method="wgan-gp"),
    # WGAN-GP paper Fig. 2: every architecture row with every method column, e.g. wgangp-fig2-mlp-lsgan.
    **{f"wgangp-fig2-{arch}-{method}": dict(dataset="lsun", method=method, **options)
       for arch, options in _WGANGP_FIG2_ARCHS.items() for method in _WGANGP_FIG2_METHODS},
    # WGAN-GP paper Table 3, unsupervised: the CIFAR-10 ResNet's Inception Score (7.86).
    "wgangp-table3-cifar-resnet": _WGANGP_CIFAR_RESNET,
    # gan_64x64.py as released: its default ResNets (GoodGenerator, GoodDiscriminator), DIM 64, nz 128,
    # WGAN-GP with Adam(1e-4, 0, 0.9) and LayerNorm in the critic, 200,000 generator iterations on 64x64
    # ImageNet (a --dataset folder of its images).
    "wgangp-resnet64": dict(dataset="folder", generator="resnet", critic="resnet", nz=128, ngf=64, ndf=64,
                            init="tflib", method="wgan-gp", gen_iters=200000),
    # WGAN-GP paper Fig. 3: the four CIFAR-10 curves, e.g. wgangp-fig3-wgan-gp-adam (docs/reproducing.md).
    **{f"wgangp-fig3-{curve}": dict(_WGANGP_CIFAR, **options) for curve, options in _WGANGP_FIG3_CURVES.items()},
}


def resolve(explicit, preset=None):
    """TrainConfig from defaults < method defaults < preset < explicit options (a dict of field values).

    Raises
    ------
    ValueError
        For an unknown preset or field name.
    """
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown --preset {preset!r}; choose from {', '.join(sorted(PRESETS))}")
    chosen = {**PRESETS.get(preset, {}), **explicit}
    unknown = sorted(set(chosen) - set(field_names()))
    if unknown:
        raise ValueError(f"unknown option(s): {', '.join(unknown)}")
    method = chosen.get("method", TrainConfig.method)
    return TrainConfig(**{**METHOD_DEFAULTS[method], **chosen, "preset": preset})


def to_dict(cfg):
    return asdict(cfg)


def from_dict(saved):
    """The TrainConfig of a run's config.json; keys this version does not know are ignored.

    Raises
    ------
    ValueError
        Naming the first value that is not of its option's type or not one of its choices.
    """
    if not isinstance(saved, dict):
        raise ValueError(f"not a JSON object but {type(saved).__name__}")
    known = {f.name: f for f in fields(TrainConfig)}
    values = {k: v for k, v in saved.items() if k in known}
    for name, value in values.items():
        f, kind = known[name], _kind(known[name])
        choices = f.metadata.get("choices")
        if not (value is None and f.default is None or _is_a(value, kind)):
            raise ValueError(f"{name} is {value!r}, not {'a number' if kind is float else kind.__name__}")
        if choices and value not in choices:
            raise ValueError(f"{name} is {value!r}, not one of {', '.join(choices)}")
    return TrainConfig(**values)


def _kind(f):
    """The Python type of a TrainConfig field (annotations may be strings)."""
    names = {"int": int, "float": float, "bool": bool, "str": str}
    return names[f.type] if isinstance(f.type, str) else f.type


def _is_a(value, kind):
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


# Options that may change when a run is resumed; any other difference is refused.
RESUMABLE = ("gen_iters", "ctx", "outdir", "sample_every", "checkpoint_every", "log_every", "tensorboard", "threads",
             "workers",
             "eval_every", "eval_samples", "inception", "inception_weights",
             "hybridize")


def resume_differences(saved, requested):
    """Lines naming each option of `requested` (a dict) that differs from the `saved` config and may not."""
    return [f"{flag(k)}: run has {saved[k]!r}, asked {v!r}" for k, v in sorted(requested.items())
            if k not in RESUMABLE and k in saved and saved[k] != v]
