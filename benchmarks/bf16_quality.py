"""Does bfloat16 train as float32 does? Runs of the package's own commands in both, over seeds.

    python benchmarks/bf16_quality.py --out benchmarks/results/bf16_quality     # ~1.5 h on 2 cores
    python benchmarks/bf16_quality.py --quick --out /tmp/q                       # smoke check

Two experiments, each run with `--dtype float32` and `--dtype bfloat16` for every `--seeds`:

- toy: `reproduce_toy.py` on 8 Gaussians (WGAN-GP, the released toy code's settings): the exact
  W1 between 1,000 generated and 1,000 real points over training (its summary.json).
- images: `train_wgan.py --preset quickstart` (32x32 shapes) with weight clipping (the quickstart
  itself: the clipped critic's small weights) and with the gradient penalty (its norms near 1);
  at the end, the exact W1 in pixel space between 1,000 generated images (fixed noise) and 1,000
  real ones, and the critic's Wasserstein estimate over training (metrics.jsonl).

bfloat16 cannot follow float32 step by step, so the question is whether its results fall within
float32's spread over seeds. Each run is one process with one thread, one after the other; a
finished run (its folder holds the result) is not run again, so an interrupted call resumes.
Writes ``quality.json`` and ``quality.png`` to `--out`.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DTYPES = ("float32", "bfloat16")
IMAGE_METHODS = ("wgan", "wgan-gp")
W1_POINTS = 1000


def run_toy(folder, dtype, seed, gen_iters):
    if not os.path.isfile(os.path.join(folder, "summary.json")):
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "reproduce_toy.py"), "--dataset", "8gaussians",
                        "--gen-iters", str(gen_iters), "--dtype", dtype, "--seed", str(seed), "--outdir", folder,
                        "--no-progress", "--threads", "1"], check=True)
    with open(os.path.join(folder, "summary.json")) as f:
        summary = json.load(f)
    return dict(curve=summary["w1_curve"], w1=summary["w1"], floor=summary["w1_floor"], seconds=summary["seconds"])


def run_images(folder, method, dtype, seed, gen_iters):
    done = os.path.join(folder, "pixel_w1.json")
    if not os.path.isfile(done):
        script = os.path.join(ROOT, "scripts", "train_wgan.py")
        if os.path.isfile(os.path.join(folder, "config.json")):    # started before: finish it
            command = [script, "--resume", "--outdir", folder, "--quiet"]
        else:
            command = [script, "--preset", "quickstart", "--method", method, "--gen-iters", str(gen_iters),
                       "--checkpoint-every", str(gen_iters), "--dtype", dtype, "--seed", str(seed),
                       "--outdir", folder, "--quiet", "--threads", "1"]
        subprocess.run([sys.executable] + command, check=True)
        with open(done + ".tmp", "w") as f:
            json.dump(dict(pixel_w1=pixel_w1(folder)), f)
        os.replace(done + ".tmp", done)
    with open(done) as f:
        result = json.load(f)
    records = [json.loads(line) for line in open(os.path.join(folder, "metrics.jsonl")) if line.strip()]
    result["w_estimate"] = [[r["gen_iter"], r["w_estimate"]] for r in records]
    result["seconds"] = records[-1]["seconds"]   # since the start of the run
    return result


def pixel_w1(folder):
    """Exact W1 in pixel space between W1_POINTS samples of the run's generator and real images."""
    from gluon_wgan.utils.threads import use_threads
    use_threads(1)   # before MXNet loads (a no-op once it has)
    import mxnet as mx
    import numpy as np
    from gluon_wgan.metrics import wasserstein1
    from gluon_wgan.training.evaluate import load_generator
    generator, cfg = load_generator(folder)
    z = mx.nd.array(np.random.RandomState(1234).standard_normal((W1_POINTS, cfg["nz"])))
    with mx.autograd.predict_mode():
        fake = np.concatenate([generator(z[i:i + 100]).asnumpy() for i in range(0, W1_POINTS, 100)])
    real = real_images(cfg["dataset"], cfg["image_size"], seed=4321)
    return wasserstein1(fake.reshape(W1_POINTS, -1), real.reshape(W1_POINTS, -1))


def real_images(dataset, image_size, seed):
    """W1_POINTS images of `dataset` picked at random by `seed`, as numpy."""
    import numpy as np
    from gluon_wgan.data import get_dataset
    data = get_dataset(dataset, image_size=image_size)
    picks = np.random.RandomState(seed).choice(len(data), W1_POINTS, replace=False)
    return np.stack([np.asarray(data[int(i)]) for i in picks])


def pixel_w1_floor(dataset="shapes-simple", image_size=32):
    """Exact W1 between two independent real sets: what a perfect generator would score."""
    from gluon_wgan.metrics import wasserstein1
    a, b = (real_images(dataset, image_size, seed).reshape(W1_POINTS, -1) for seed in (4321, 8765))
    return wasserstein1(a, b)


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    colours = {"float32": "tab:blue", "bfloat16": "tab:orange"}
    panels = [("toy", None)] + [("images", m) for m in IMAGE_METHODS]
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(4.6 * (len(panels) + 1), 3.8))
    final = axes[-1]    # each image run's final pixel-space W1, float32 and bfloat16 side by side
    for i, method in enumerate(IMAGE_METHODS):
        for j, dtype in enumerate(DTYPES):
            values = [r["pixel_w1"] for r in results["images"] if r["method"] == method and r["dtype"] == dtype]
            final.plot([2 * i + 0.3 * j] * len(values), values, "o", color=colours[dtype],
                       label=dtype if i == 0 else None)
    if "pixel_w1_floor" in results:
        final.axhline(results["pixel_w1_floor"], color="gray", ls="--", lw=1, label="real vs real")
    final.set_xticks([2 * i + 0.15 for i in range(len(IMAGE_METHODS))], IMAGE_METHODS)
    final.set_ylabel("exact W1 in pixel space, 1,000 vs 1,000")
    final.set_title(f"32x32 shapes after {results['image_iters']} iterations")
    final.legend()
    for ax, (kind, method) in zip(axes, panels):
        for run in results[kind]:
            if method and run["method"] != method:
                continue
            xs, ys = zip(*(run["curve"] if kind == "toy" else run["w_estimate"]))
            ax.plot(xs, ys, color=colours[run["dtype"]], alpha=0.8, lw=1,
                    label=f"{run['dtype']}" if run["seed"] == results["seeds"][0] else None)
        ax.set_xlabel("generator iteration")
        ax.set_ylabel("exact W1 (generated vs real)" if kind == "toy" else "critic's W estimate")
        ax.set_title("toy 8 Gaussians, WGAN-GP" if kind == "toy" else f"32x32 shapes, {method}")
        ax.legend()
    fig.suptitle(f"float32 and bfloat16, seeds {', '.join(map(str, results['seeds']))}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(HERE, "results", "bf16_quality"), help="results folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of each setting")
    parser.add_argument("--toy-iters", type=int, default=1000, help="generator iterations of each toy run")
    parser.add_argument("--image-iters", type=int, default=2500, help="generator iterations of each image run")
    parser.add_argument("--only", choices=("toy", "images"), nargs="+", default=["toy", "images"])
    parser.add_argument("--dtypes", choices=DTYPES, nargs="+", default=list(DTYPES),
                        help="run these only (two calls, one per dtype, share two cores); gather with both")
    parser.add_argument("--quick", action="store_true", help="2 seeds, 10 iterations each: a smoke check")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.toy_iters, args.image_iters = [0, 1], 10, 10
    os.makedirs(args.out, exist_ok=True)
    results = dict(seeds=args.seeds, toy_iters=args.toy_iters, image_iters=args.image_iters, toy=[], images=[])
    for seed in args.seeds:
        for dtype in args.dtypes:
            if "toy" in args.only:
                folder = os.path.join(args.out, f"toy_{dtype}_seed{seed}")
                results["toy"].append(dict(dtype=dtype, seed=seed, **run_toy(folder, dtype, seed, args.toy_iters)))
            for method in IMAGE_METHODS if "images" in args.only else ():
                folder = os.path.join(args.out, f"images_{method}_{dtype}_seed{seed}")
                results["images"].append(dict(dtype=dtype, seed=seed, method=method,
                                              **run_images(folder, method, dtype, seed, args.image_iters)))
    if results["images"]:
        results["pixel_w1_floor"] = pixel_w1_floor()
    with open(os.path.join(args.out, "quality.json"), "w") as f:
        json.dump(results, f, indent=1)
    for kind in ("toy", "images"):
        for run in results[kind]:
            final = run["w1"] if kind == "toy" else run["pixel_w1"]
            print(f"{kind:6s} {run.get('method', 'wgan-gp'):7s} {run['dtype']:8s} seed {run['seed']}: "
                  f"final W1 {final:.4f}, {run['seconds']:.0f} s")
    plot(results, os.path.join(args.out, "quality.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
