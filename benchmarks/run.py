"""Time gluon_wgan on one device: training iterations, penalty, clipping and data loading (issue 5).

    python benchmarks/run.py --ctx cpu --repeats 7 --out benchmarks/results/
    python benchmarks/run.py --quick          # smoke check: tiny sizes, 2 repeats, ~1 minute

Every figure is the median of `--repeats` timed runs after `--warmup` untimed ones; a timed run
ends with `mx.nd.waitall()`, so the device's queue is drained inside it. Comparisons are taken in
the same process, one after the other, and reported as ratios: on a shared machine the absolute
seconds move with the load, the ratios much less. Writes ``latest.json`` and ``latest.md`` in
`--out`. Not collected by pytest (``testpaths = ["tests"]``).
"""
import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time

from gluon_wgan.utils.threads import add_threads_flag, threads_from_argv, use_threads

use_threads(threads_from_argv(sys.argv[1:]))   # as the scripts do; before MXNet loads, which reads it once
import mxnet as mx  # noqa: E402
import numpy as np
from mxnet import autograd, gluon

from gluon_wgan.models import DCGANInit, get_model
from gluon_wgan.models.precision import set_compute_dtype
from gluon_wgan import native
from gluon_wgan.optim import make_optimizer
from gluon_wgan.penalty import gradient_penalty
from gluon_wgan.training import steps
from gluon_wgan.training.constraints import clip_
from gluon_wgan.training.methods import METHODS

# The sizes of the issue: DCGAN 64x64 at batch 64 with ngf = ndf = 64; the toy MLP (WGAN-GP paper,
# section 5.1: 3 hidden layers of 512 ReLU units, 2-D data) at batch 256.
FULL = dict(image_size=64, width=64, batch=64, nz=100, mlp_batch=256, mlp_hidden=512, lmdb_images=768,
            loader_batches=8)
QUICK = dict(image_size=16, width=8, batch=8, nz=8, mlp_batch=32, mlp_hidden=32, lmdb_images=48,
             loader_batches=3)
PLAIN_WASSERSTEIN = METHODS["wgan"]._replace(clip=False)   # a critic step with neither clip nor penalty


# ----------------------------------------------------------------------------------------- timing

def measure(fn, repeats=5, warmup=2, number=1):
    """Median seconds per call of `fn` over `repeats` timed runs of `number` calls each.

    Each run is followed by `mx.nd.waitall()` inside the timing, so asynchronous work is counted.
    Returns dict(median=, min=, max=, samples=[...]) in seconds per call.
    """
    for _ in range(warmup):
        fn()
    mx.nd.waitall()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        mx.nd.waitall()
        samples.append((time.perf_counter() - start) / number)
    return dict(median=statistics.median(samples), min=min(samples), max=max(samples),
                samples=[round(s, 6) for s in samples])


def machine(ctx):
    """The CPU model, core count and MXNet build that the numbers come from."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    features = mx.runtime.Features()
    return dict(cpu=model, cores=os.cpu_count(), ctx=str(ctx), mxnet=mx.__version__, numpy=np.__version__,
                python=platform.python_version(), mkldnn=features.is_enabled("MKLDNN"),
                blas=next((k for k in ("BLAS_MKL", "BLAS_OPEN", "BLAS_ATLAS", "BLAS_APPLE")
                           if features.is_enabled(k)), None),
                omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
                fused_layer_norm=native.used_on([ctx]),
                mxnet_env={k: v for k, v in os.environ.items() if k.startswith("MXNET_")})


# ----------------------------------------------------------------------------------------- models

class Setup:
    """A generator, a critic, their trainers and a batch of real data, as `training.loop` builds them."""

    def __init__(self, model, method, ctx, sizes, hybridize=True, static=True, seed=0, n_hidden=3,
                 critic_norm=None, dtype="float32"):
        mx.random.seed(seed)
        rng = np.random.default_rng(seed)
        self.method_name, self.ctx = method, ctx
        self.method = METHODS[method]
        penalty = self.method.penalty
        if model == "dcgan":
            size, width = sizes["image_size"], sizes["width"]
            self.generator = get_model("dcgan_generator", image_size=size, nz=sizes["nz"], ngf=width)
            self.critic = get_model("dcgan_critic", image_size=size, ndf=width,
                                    norm=critic_norm or ("layer" if penalty else "batch"))
            self.batch, self.nz = sizes["batch"], sizes["nz"]
            self.real = rng.uniform(-1, 1, (self.batch, 3, size, size)).astype(np.float32)
        else:   # the toy MLP of the WGAN-GP paper: 2-D samples from 2-D noise
            hidden = sizes["mlp_hidden"]
            self.generator = get_model("mlp_generator", out_shape=(2,), nz=2, hidden=hidden)
            self.critic = get_model("mlp_critic", in_shape=(2,), hidden=hidden, n_hidden=n_hidden)
            self.batch, self.nz = sizes["mlp_batch"], 2
            self.real = rng.standard_normal((self.batch, 2)).astype(np.float32)
        for net in (self.generator, self.critic):
            set_compute_dtype(net, dtype)
            net.initialize(DCGANInit(), ctx=ctx)
            if hybridize:
                net.hybridize(static_alloc=static, static_shape=static)
        if penalty:   # WGAN-GP paper, Algorithm 1
            opt = dict(name="adam", lr=1e-4, beta1=0.0, beta2=0.9)
        else:         # WGAN paper, Algorithm 1
            opt = dict(name="rmsprop", lr=5e-5)
        self.d_trainer = gluon.Trainer(self.critic.collect_params(), make_optimizer(**opt))
        self.g_trainer = gluon.Trainer(self.generator.collect_params(), make_optimizer(**opt))

    def noise(self):
        return mx.nd.random.normal(0, 1, shape=(self.batch, self.nz), ctx=self.ctx)

    def critic_iteration(self, method=None):
        """One critic iteration as the training loop runs it: batch to the device, noise, update."""
        real = mx.nd.array(self.real, ctx=self.ctx)
        return steps.critic_step(self.critic, self.generator, self.d_trainer, real, self.noise(),
                                 method or self.method)

    def generator_iteration(self):
        return steps.generator_step(self.generator, self.critic, self.g_trainer, self.noise(), self.method)


def autograd_penalty_critic_iteration(setup, path):
    """A WGAN-GP critic update with `gradient_penalty(path=path)` (imperative critics only for 'autograd')."""
    real = mx.nd.array(setup.real, ctx=setup.ctx)
    with autograd.train_mode():
        fake = setup.generator(setup.noise())
    with autograd.record():
        loss = setup.method.loss_d(setup.critic(real), setup.critic(fake))
        loss = loss + gradient_penalty(setup.critic, real, fake, weight=10.0, path=path)
    loss.backward()
    setup.d_trainer.step(1)
    return loss


def clip_gluoncv(params, c):
    """Clipping as GluonCV's WGAN script does it: a new clipped array per parameter, then set_data."""
    for param in params.values():
        if param.grad_req != "null":   # the script clips running statistics too; see test_constraints
            param.set_data(mx.nd.clip(param.data(), -c, c))


def clip_multi_sgd(params, c):
    """One fused multi-array op for all parameters: `multi_sgd_update` with the weight as its own
    gradient, lr = wd = -1 and clip_gradient = c gives w - lr (clip(w, c) + wd w) = clip(w, c), up
    to rounding. The candidate for "one fused clip" on MXNet 1.9.1, which has no multi-array clip;
    not exact (w + clip(w) - w rounds; infinite weights become NaN) and measured slower than one
    in-place nd.clip per parameter, so the package does not use it."""
    arrays = [d for p in params.values() if p.grad_req != "null" for d in p.list_data()]
    for i in range(0, len(arrays), 50):
        chunk = arrays[i:i + 50]
        k = len(chunk)
        mx.nd.multi_sgd_update(*[a for x in chunk for a in (x, x)], lrs=(-1.0,) * k, wds=(-1.0,) * k,
                               clip_gradient=c, rescale_grad=1.0, num_weights=k, out=chunk)


# ----------------------------------------------------------------------------------------- groups

def bench_iterations(ctx, sizes, repeats, warmup, model, method, hybridize=True, static=True, cycle=False):
    """Seconds per critic iteration and per generator iteration; with `cycle`, also per loop
    iteration of 5 critic + 1 generator iterations (the networks alternate, as in training)."""
    s = Setup(model, method, ctx, sizes, hybridize=hybridize, static=static)
    out = dict(critic_iter=measure(s.critic_iteration, repeats, warmup),
               gen_iter=measure(s.generator_iteration, repeats, warmup))
    if cycle:
        def loop_iteration():   # what the training loop does per generator iteration (d_iters = 5)
            for _ in range(5):
                s.critic_iteration()
            s.generator_iteration()
        out["loop_iter_5c1g"] = measure(loop_iteration, max(1, repeats // 2), 1)
    return out


def bench_penalty_conv(ctx, sizes, repeats, warmup):
    """The same layer-norm DCGAN critic: a WGAN-GP critic step against a plain Wasserstein one;
    and the WGAN-GP critic and generator steps with the layer norm in plain MXNet operators
    instead of the fused kernels (`gluon_wgan.native`), when those are in use."""
    s = Setup("dcgan", "wgan-gp", ctx, sizes)
    out = dict(plain_critic_iter=measure(lambda: s.critic_iteration(PLAIN_WASSERSTEIN), repeats, warmup),
               gp_critic_iter=measure(s.critic_iteration, repeats, warmup))
    if native.used_on([ctx]):
        with native.plain_operators():   # networks built, hybridized and run inside
            p = Setup("dcgan", "wgan-gp", ctx, sizes)
            out["gp_critic_iter_plain_layer_norm"] = measure(p.critic_iteration, repeats, warmup)
            out["gp_gen_iter_plain_layer_norm"] = measure(p.generator_iteration, repeats, warmup)
        out["gp_gen_iter"] = measure(s.generator_iteration, repeats, warmup)
    return out


def bench_penalty_mlp(ctx, sizes, repeats, warmup):
    """MLP critic step with the penalty through autograd.grad against the explicit path.

    On MXNet 1.9.1 the autograd path is exact only for a 1-hidden-layer MLP (docs/gradient_penalty.md);
    for the 3-hidden-layer toy critic it is timed only (its parameter gradients are wrong).
    """
    out = {}
    for n_hidden in (1, 3):
        s = Setup("mlp", "wgan-gp", ctx, sizes, hybridize=False, n_hidden=n_hidden)
        for path in ("autograd", "explicit"):
            out[f"h{n_hidden}_{path}"] = measure(lambda: autograd_penalty_critic_iteration(s, path),
                                                 repeats, warmup)
        h = Setup("mlp", "wgan-gp", ctx, sizes, hybridize=True, n_hidden=n_hidden)
        out[f"h{n_hidden}_explicit_hybridized"] = measure(h.critic_iteration, repeats, warmup)
    return out


def bench_clip(ctx, sizes, repeats, warmup):
    """Clipping the BatchNorm DCGAN critic: the package (one in-place nd.clip per parameter), one fused
    multi-array op, GluonCV's loop; and a critic iteration with and without clipping."""
    s = Setup("dcgan", "wgan", ctx, sizes)
    params = s.critic.collect_params()
    number = 20   # a clip is short: time 20 per run
    out = dict(package=measure(lambda: clip_(params, 0.01), repeats, warmup, number),
               fused_multi_sgd=measure(lambda: clip_multi_sgd(params, 0.01), repeats, warmup, number),
               gluoncv=measure(lambda: clip_gluoncv(params, 0.01), repeats, warmup, number))
    out["critic_iter"] = measure(s.critic_iteration, repeats, warmup)
    out["critic_iter_unclipped"] = measure(lambda: s.critic_iteration(PLAIN_WASSERSTEIN), repeats, warmup)
    return out


def make_lmdb(path, n, size=256, seed=0):
    """An LSUN-like lmdb at `path`: `n` JPEGs (quality 75) of `size` x `size`, keyed by SHA-1 hex."""
    import hashlib

    import lmdb
    from PIL import Image
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    env = lmdb.open(path, map_size=1 << 30)
    with env.begin(write=True) as txn:
        for i in range(n):
            # smooth colour fields plus noise: compresses like a photo (about 15-25 kB), not like noise
            a, b, c = rng.uniform(0, 6, 3)
            img = np.stack([np.sin(a * xx + b * yy + c + k) for k in range(3)], -1) * 90 + 128
            img += rng.normal(0, 12, img.shape)
            buf = io.BytesIO()
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=75)
            txn.put(hashlib.sha1(str(i).encode()).hexdigest().encode(), buf.getvalue())
    env.close()


def bench_loader(sizes, repeats, warmup, workers=(0, 1, 2), image_size=None, ctx=None):
    """Images per second from an lmdb of 256x256 JPEGs resized to `image_size` (Pillow bicubic);
    with `ctx`, also seconds per WGAN critic iteration fed by the stream (0 and 2 workers)."""
    from gluon_wgan.data import BatchStream, get_dataset
    image_size = image_size or sizes["image_size"]
    batch, n_batches = sizes["batch"], sizes["loader_batches"]
    out = {}
    with tempfile.TemporaryDirectory() as root:
        make_lmdb(os.path.join(root, "bedroom_train_lmdb"), sizes["lmdb_images"])
        dataset = get_dataset("lsun", root=root, image_size=image_size)
        for w in workers:
            with BatchStream(dataset, batch, seed=0, workers=w) as stream:
                # Gluon's DataLoader prefetches 2 batches per worker: drain that queue first, so
                # the timed windows (back to back) see the rate the workers sustain.
                for _ in range(max(warmup, 1) + 2 * w):
                    next(stream)
                samples = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    for _ in range(n_batches):
                        next(stream)
                    samples.append(n_batches * batch / (time.perf_counter() - start))
            out[f"workers_{w}"] = dict(median=statistics.median(samples), min=min(samples),
                                       max=max(samples), samples=[round(s, 1) for s in samples])
        if ctx is not None:
            # On a small machine the workers compete with training for the cores: time WGAN critic
            # iterations fed from the stream (as the loop is) against ones fed from memory.
            s = Setup("dcgan", "wgan", ctx, sizes)
            out["critic_iter_from_memory"] = measure(s.critic_iteration, repeats, warmup)
            for w in (0, 2):
                with BatchStream(dataset, batch, seed=0, workers=w) as stream:
                    def fed():
                        s.real = next(stream)
                        return s.critic_iteration()
                    out[f"critic_iter_fed_workers_{w}"] = measure(fed, repeats, warmup + 2 * w)
    return out


GROUPS = ("iterations", "hybridize", "penalty_conv", "penalty_mlp", "clip", "loader")


def run(ctx, sizes, repeats, warmup, groups=GROUPS, log=print):
    """All the benchmark groups named in `groups`; returns the results dict written to latest.json."""
    results = dict(machine=machine(ctx), sizes=sizes, repeats=repeats, warmup=warmup, results={})
    r = results["results"]

    def done(name, value):
        r[name] = value
        log(f"{name}: " + json.dumps({k: round(v["median"], 4) if "median" in v else v
                                      for k, v in _flat(value).items()}))

    if "iterations" in groups:
        for model in ("dcgan", "mlp"):
            for method in ("wgan", "wgan-gp"):
                done(f"{model}_{method}", bench_iterations(ctx, sizes, repeats, warmup, model, method,
                                                           cycle=True))
    if "hybridize" in groups:
        for model in ("dcgan", "mlp"):
            for method in ("wgan", "wgan-gp"):
                done(f"{model}_{method}_imperative",
                     bench_iterations(ctx, sizes, repeats, warmup, model, method, hybridize=False))
                done(f"{model}_{method}_hybridized_dynamic",
                     bench_iterations(ctx, sizes, repeats, warmup, model, method, static=False))
    if "penalty_conv" in groups:
        done("penalty_conv", bench_penalty_conv(ctx, sizes, repeats, warmup))
    if "penalty_mlp" in groups:
        done("penalty_mlp", bench_penalty_mlp(ctx, sizes, repeats, warmup))
    if "clip" in groups:
        done("clip", bench_clip(ctx, sizes, repeats, warmup))
    if "loader" in groups:
        done("loader", bench_loader(sizes, repeats, warmup, ctx=ctx))
    return results


def _flat(value, prefix=""):
    out = {}
    for k, v in value.items():
        if isinstance(v, dict) and "median" not in v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


# ----------------------------------------------------------------------------------------- report

def ratios(r, batch_size=64):
    """The comparisons of the issue as ratios of medians (groups not run are left out)."""
    def m(*path):
        v = r
        for p in path:
            if p not in v:
                return None
            v = v[p]
        return v["median"]

    def div(a, b):
        return None if a is None or b is None else a / b

    out = {
        "dcgan gp / clipping critic iter": div(m("dcgan_wgan-gp", "critic_iter"), m("dcgan_wgan", "critic_iter")),
        "dcgan gp critic iter / plain critic iter (same critic)":
            div(m("penalty_conv", "gp_critic_iter"), m("penalty_conv", "plain_critic_iter")),
        "dcgan gp critic iter, layer norm in plain operators / fused kernels":
            div(m("penalty_conv", "gp_critic_iter_plain_layer_norm"), m("penalty_conv", "gp_critic_iter")),
        "dcgan gp generator iter, layer norm in plain operators / fused kernels":
            div(m("penalty_conv", "gp_gen_iter_plain_layer_norm"), m("penalty_conv", "gp_gen_iter")),
        "package clip / critic iter": div(m("clip", "package"), m("clip", "critic_iter")),
        "fused multi_sgd_update clip / package clip": div(m("clip", "fused_multi_sgd"), m("clip", "package")),
        "gluoncv clip loop / package clip": div(m("clip", "gluoncv"), m("clip", "package")),
        "mlp(1 hidden) autograd penalty / explicit":
            div(m("penalty_mlp", "h1_autograd"), m("penalty_mlp", "h1_explicit")),
        "mlp(3 hidden) autograd penalty / explicit (timing only)":
            div(m("penalty_mlp", "h3_autograd"), m("penalty_mlp", "h3_explicit")),
    }
    for model in ("dcgan", "mlp"):
        for method in ("wgan", "wgan-gp"):
            critic_, gen_ = m(f"{model}_{method}", "critic_iter"), m(f"{model}_{method}", "gen_iter")
            if critic_ and gen_:
                out[f"{model} {method} loop iter / (5 critic + 1 gen iter timed alone)"] = \
                    div(m(f"{model}_{method}", "loop_iter_5c1g"), 5 * critic_ + gen_)
            for step in ("critic_iter", "gen_iter"):
                base = m(f"{model}_{method}", step)
                out[f"{model} {method} {step}: imperative / hybridized static"] = \
                    div(m(f"{model}_{method}_imperative", step), base)
                out[f"{model} {method} {step}: hybridized dynamic / static"] = \
                    div(m(f"{model}_{method}_hybridized_dynamic", step), base)
    critic, gen = m("dcgan_wgan", "critic_iter"), m("dcgan_wgan", "gen_iter")
    if critic and gen and "loader" in r:
        # WGAN takes one real batch per critic iteration and none per generator iteration: with
        # d_iters = 5, five batches per 5 critic + 1 generator iterations.
        consumed = 5 * batch_size / (5 * critic + gen)
        out["training consumes (images/s; dcgan wgan, 5 critic + 1 gen iter)"] = consumed
        for key, value in r["loader"].items():
            if key.startswith("workers_"):
                out[f"loader {key.replace('_', ' ')} / training consumption"] = value["median"] / consumed
    if "loader" in r:
        for w in (0, 2):
            out[f"critic iter fed by the loader ({w} workers) / fed from memory"] = \
                div(m("loader", f"critic_iter_fed_workers_{w}"), m("loader", "critic_iter_from_memory"))
    return {k: v for k, v in out.items() if v is not None}


def markdown(results):
    """The results as Markdown: the machine, then one table of medians and one of ratios."""
    mach, r = results["machine"], results["results"]
    lines = [f"Machine: {mach['cpu']}, {mach['cores']} cores; MXNet {mach['mxnet']} "
             f"(MKL-DNN {'on' if mach['mkldnn'] else 'off'}, {mach['blas']}), ctx {mach['ctx']}, "
             f"OMP_NUM_THREADS={mach['omp_num_threads']}, fused layer-norm kernels "
             f"{'on' if mach.get('fused_layer_norm') else 'off'}. "
             f"Medians of {results['repeats']} runs after {results['warmup']} warm-up runs.", "",
             "| measurement | median | min | max |", "| --- | ---: | ---: | ---: |"]
    for name, value in _flat(r).items():
        if name.startswith("_"):
            continue
        unit = "images/s" if name.startswith("loader.workers") else "s"
        fmt = (lambda x: f"{x:.0f}") if unit == "images/s" else (lambda x: f"{x:.4f}")
        lines.append(f"| {name} ({unit}) | {fmt(value['median'])} | {fmt(value['min'])} | {fmt(value['max'])} |")
    lines += ["", "| ratio (same run) | value |", "| --- | ---: |"]
    for name, value in ratios(r, results["sizes"]["batch"]).items():
        lines.append(f"| {name} | {value:.3g} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_threads_flag(parser, "one per physical core")   # read before MXNet loads, at import
    parser.add_argument("--ctx", default="cpu", help="device, e.g. cpu or gpu(0) (default: cpu)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure (default: 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (default: 2)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"),
                        help="folder for latest.json and latest.md (default: benchmarks/results)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 2 repeats: a smoke check")
    parser.add_argument("--only", nargs="+", choices=GROUPS, default=list(GROUPS), help="groups to run")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be >= 1 and --warmup >= 0")
    from gluon_wgan.utils.context import parse_ctx
    ctx = parse_ctx(args.ctx)[0]
    sizes, repeats = (QUICK, 2) if args.quick else (FULL, args.repeats)
    results = run(ctx, sizes, repeats, args.warmup, args.only)
    save(args.out, "latest", dict(results, ratios=ratios(results["results"], results["sizes"]["batch"])),
         markdown(results))
    return 0


def save(folder, stem, data, table):
    """Write `stem`.json (`data`) and `stem`.md (`table`) into `folder`, and print the table."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{stem}.json"), "w") as f:
        json.dump(data, f, indent=1)
    with open(os.path.join(folder, f"{stem}.md"), "w") as f:
        f.write(table)
    print(table)


if __name__ == "__main__":
    sys.exit(main())
