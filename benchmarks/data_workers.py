"""How many `--workers` keep the device fed: images/s that `BatchStream` delivers per worker count (issue 14).

    python benchmarks/data_workers.py --make-standin 3000          # once: a stand-in LSUN lmdb
    python benchmarks/data_workers.py --workers 0 1 2 --rounds 5   # ~3 min on 2 cores

What is measured: the sustained rate, in images per second, at which ``BatchStream`` over
``get_dataset('lsun', ...)`` hands 64x64 float32 batches (batch 64, Pillow bicubic by default) to a
consumer that does nothing else, for each worker count given. Each stream is first warmed up
(worker processes started, the dataset pickled to them, their prefetch queue filled: ``2 x workers``
batches plus ``--warmup`` more), then ``--batches`` batches are timed. The worker counts take turns
within each round, in an order rotated from round to round, so slow drift in the machine's load hits
every count alike; the report is the median over rounds and its ratio to workers=0. Also recorded
per count: the CPU seconds the consuming (training) process itself spends per batch, which is what
the loader takes away from training when the training computes on the CPU; the CPU seconds per
image of the consumer and its workers together (the cost of an image, which changes little with
the machine's load, unlike images/s); how many cores other jobs kept busy during the window
(/proc/stat minus our processes); and the load average.

The consumer here is idle, so these are upper bounds of what the loader gives a training process on
the same machine: on a CPU context the training's own threads compete with the workers for the
same cores. With a GPU the training process mostly waits on the device, and the bound applies.

What training consumes: each critic iteration takes one batch of real images, a generator iteration
none. A GPU's rate cannot be measured on a machine without one, so it is a parameter,
``--gpu-critic-iters-per-s`` (critic iterations per second of wall time, averaged over the loop
including the generator iterations); the default and its derivation are in `GPU_RATE_NOTE`. The
report gives the images/s that rate consumes and the smallest measured worker count that delivers it.

The data: the paper runs read LSUN bedrooms: an lmdb of encoded images with the shorter side 256,
JPEG at quality 75 by the LSUN README, WebP as copies are commonly found (the release's own export
script names the files .webp; `gluon_wgan.data.lsun` decodes either by content). A stand-in with
the same record format is built by ``--make-standin N`` from the photographs that
ship with matplotlib (grace_hopper.jpg) and, when present, scikit-learn's china.jpg and flower.jpg:
random crops (a quarter to all of the photo's area, aspect ratios of LSUN's common landscape and
portrait shapes), flips and slight colour changes, resized to shorter side 256 with Pillow
(Lanczos) and encoded as WebP (quality 80, Pillow's default) or, with ``--codec jpeg``, JPEG
(quality 75, as the LSUN README describes the release). Decoding cost depends mostly on the pixel
count and codec, little on the picture, so these time much as real LSUN records do. WebP decodes
about twice as slowly as JPEG in Pillow, so measure the codec your copy holds.

With ``--cpu-loop-rounds R`` the script also times what matters on a CPU context: DCGAN 64x64 WGAN
training loops (5 critic + 1 generator iterations, `benchmarks/run.py`'s set-up) on this machine's
CPU, fed from memory and by a stream with each worker count, interleaved over R rounds.

Not collected by pytest (``testpaths = ["tests"]``).
"""
import argparse
import hashlib
import io
import json
import math
import os
import platform
import statistics
import sys
import time

DEFAULT_ROOT = "/tmp/workers/lsun"
PHOTOS = ("/tmp/skl/china.jpg", "/tmp/skl/flower.jpg")   # scikit-learn's sample images, if unpacked there
# LSUN bedroom records: shorter side 256; most are landscape 4:3 (256x341), others 3:2, 16:9, portrait.
SHAPES = ((256, 341), (256, 341), (256, 341), (256, 384), (256, 455), (256, 320), (341, 256), (384, 256))

# Default GPU rate and where it comes from: see the module docstring and the report printed by `main`.
GPU_CRITIC_ITERS_PER_S = 100.0
GPU_RATE_NOTE = (
    "FLOP-based estimate, no published figure found: DCGAN 64x64 (ngf = ndf = 64, nz = 100) is about "
    "0.10 GMAC per image through the generator and 0.10 through the critic. A WGAN critic iteration "
    "(generator forward on 64 noise vectors, critic forward and backward on 64 real + 64 fake) is "
    "about 64 x (0.10 + 2 x 3 x 0.10) GMAC = 45 GMAC = 90 GFLOP; a generator iteration about "
    "64 x 3 x (0.10 + 0.10) GMAC = 77 GFLOP; one loop of 5 + 1 about 530 GFLOP for 320 real images. "
    "(Check: benchmarks/results/latest.md times a critic iteration at 0.53 s on 2 AVX-512 cores, "
    "170 GFLOP/s, about half their fp32 peak: the count is of the right size.) "
    "A V100 (15.7 TFLOP/s fp32 peak) at a conservative 30% on these small convolutions runs about "
    "4.7 TFLOP/s: 110 ms per loop, ~45 critic iterations/s; at 60%, ~90/s. An A100 with TF32 is "
    "several times faster, where per-operator launch and optimizer overhead (tens of ops per "
    "iteration) starts to bound it at a few hundred iterations/s. 100 critic iterations/s "
    "(6,400 images/s) is a round, mid figure for a current GPU; pass your own measurement")


def photo_paths():
    """The real photographs to cut records from: matplotlib's grace_hopper.jpg and any of `PHOTOS`."""
    import matplotlib.cbook
    paths = [matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)]
    return paths + [p for p in PHOTOS if os.path.isfile(p)]


def make_standin(root, n, codec="webp", seed=0):
    """Write ``root/bedroom_train_lmdb`` with `n` records cut from real photographs; return its path.

    `codec` 'webp' (quality 80, Pillow's default) or 'jpeg' (quality 75, what the LSUN README states).

    Keys are SHA-1 hex digests (40 ASCII bytes) as in the LSUN release. Each record is a random crop
    of one photo (a quarter to all of its area, the aspect ratio of a `SHAPES` entry), maybe flipped,
    with brightness and colour scaled by up to 15%, resized to that shape (Pillow Lanczos).
    """
    import lmdb
    import numpy as np
    from PIL import Image, ImageEnhance

    rng = np.random.default_rng(seed)
    photos = [Image.open(p).convert("RGB") for p in photo_paths()]
    path = os.path.join(root, "bedroom_train_lmdb")
    os.makedirs(root, exist_ok=True)
    env = lmdb.open(path, map_size=1 << 32)
    total = 0
    with env.begin(write=True) as txn:
        for i in range(n):
            photo = photos[i % len(photos)]
            out_h, out_w = SHAPES[rng.integers(len(SHAPES))]
            width, height = photo.size
            aspect = out_w / out_h
            area = rng.uniform(0.25, 1.0) * width * height
            crop_w = int(min(width, np.sqrt(area * aspect)))
            crop_h = int(min(height, crop_w / aspect))
            crop_w = int(min(crop_w, crop_h * aspect))
            left = int(rng.integers(0, width - crop_w + 1))
            top = int(rng.integers(0, height - crop_h + 1))
            image = photo.crop((left, top, left + crop_w, top + crop_h))
            if rng.random() < 0.5:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.85, 1.15))
            image = ImageEnhance.Color(image).enhance(rng.uniform(0.85, 1.15))
            image = image.resize((out_w, out_h), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            image.save(buffer, format=codec.upper(), quality=80 if codec == "webp" else 75)
            data = buffer.getvalue()
            total += len(data)
            txn.put(hashlib.sha1(f"standin-{seed}-{i}".encode()).hexdigest().encode(), data)
    env.close()
    print(f"wrote {n} {codec} records (mean {total / n / 1024:.1f} KiB) from {len(photos)} photographs to {path}")
    return path


def loadavg():
    return round(os.getloadavg()[0], 2)


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu(pid):
    """CPU seconds (user + system) that process `pid` has used so far, from /proc; 0 if unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_cpu():
    """CPU seconds all CPUs of the machine have been busy so far (/proc/stat); None off Linux."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)   # idle + iowait
    return (sum(values[:8]) - idle) / _TICK


def time_stream(dataset, workers, batch_size, batches, warmup, start):
    """One timed window of a fresh stream: dict of images/s, CPU use and start-up time.

    CPU is counted for the consuming process and its worker processes (``/proc``), and for the
    whole machine; the difference, ``others_cores``, is how many cores other jobs kept busy meanwhile.
    """
    from gluon_wgan.data import BatchStream
    from gluon_wgan.data.stream import PREFETCH

    begin = time.perf_counter()
    with BatchStream(dataset, batch_size, seed=start, workers=workers, start=start) as stream:
        for _ in range(warmup + PREFETCH * workers):
            next(stream)
        startup = time.perf_counter() - begin
        pids = [p.pid for p in stream._pool._pool] if workers else []   # Pool's processes, as stream.py reads them
        own0, workers0, all0 = time.process_time(), sum(map(process_cpu, pids)), machine_cpu()
        t0 = time.perf_counter()
        for _ in range(batches):
            batch = next(stream)
        seconds = time.perf_counter() - t0
        own, spent = time.process_time() - own0, sum(map(process_cpu, pids)) - workers0
        total = machine_cpu()
    assert batch.shape[0] == batch_size
    images = batches * batch_size
    others = None if all0 is None else max(0.0, (total - all0) - own - spent) / seconds
    return dict(rate=images / seconds, cpu=own / batches, cpu_per_image=(own + spent) / images,
                others=others, startup=startup)


def time_cpu_loop(setup, dataset, workers, loops, d_iters, start):
    """Seconds per training loop (`d_iters` critic + 1 generator iteration) on the CPU, the critic fed
    real batches from a fresh stream with `workers` (None: from memory, no loading). Two untimed loops
    first; ``mx.nd.waitall()`` closes each timed window, as in benchmarks/run.py."""
    import mxnet as mx
    from gluon_wgan.data import BatchStream

    stream = None if workers is None else BatchStream(dataset, setup.batch, seed=start, workers=workers, start=start)

    def loop():
        for _ in range(d_iters):
            if stream is not None:
                setup.real = next(stream)
            setup.critic_iteration()
        setup.generator_iteration()
    try:
        for _ in range(2):
            loop()
        mx.nd.waitall()
        t0 = time.perf_counter()
        for _ in range(loops):
            loop()
        mx.nd.waitall()
        return (time.perf_counter() - t0) / loops
    finally:
        if stream is not None:
            stream.close()


def cpu_loop_comparison(dataset, counts, rounds, loops, d_iters, log=print):
    """Median seconds per CPU training loop fed from memory and by each worker count, interleaved."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import mxnet as mx
    from run import FULL, Setup   # benchmarks/run.py: the DCGAN 64x64 WGAN set-up of issue 5

    setup = Setup("dcgan", "wgan", mx.cpu(), FULL)
    settings = [None] + list(counts)
    samples = {w: [] for w in settings}
    for r in range(rounds):
        order = settings[r % len(settings):] + settings[:r % len(settings)]
        for i, w in enumerate(order):
            seconds = time_cpu_loop(setup, dataset, w, loops, d_iters, start=1000 + 100 * (r * len(settings) + i))
            samples[w].append(seconds)
            log(f"cpu loop round {r + 1}/{rounds} {'memory' if w is None else f'workers {w}'}: {seconds:.3f} s/loop, "
                f"load {loadavg()}")
    return {w: statistics.median(v) for w, v in samples.items()}, samples


def required_rate(critic_iters_per_s, batch_size):
    """Real images per second a run consumes at `critic_iters_per_s` (one batch per critic iteration)."""
    return critic_iters_per_s * batch_size


def summarize(samples, counts, need):
    """Rows per worker count: median images/s, ratio to the first count, consumer CPU, load, meets need."""
    rows = []
    base = statistics.median(samples[counts[0]]["rate"])
    for w in counts:
        s = samples[w]
        rate = statistics.median(s["rate"])
        others = [o for o in s["others"] if o is not None]
        rows.append(dict(workers=w, images_per_s=round(rate), min=round(min(s["rate"])), max=round(max(s["rate"])),
                         ratio=round(rate / base, 2),
                         consumer_cpu_ms_per_batch=round(1e3 * statistics.median(s["cpu"]), 1),
                         cpu_ms_per_image=round(1e3 * statistics.median(s["cpu_per_image"]), 2),
                         others_cores=round(statistics.median(others), 2) if others else None,
                         startup_s=round(statistics.median(s["startup"]), 2),
                         load=round(statistics.median(s["load"]), 2), covers_gpu=rate >= need))
    return rows


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Images/s that BatchStream delivers from an LSUN-format lmdb for each --workers count, "
                    "against what a GPU training run consumes (issue 14).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataroot", default=DEFAULT_ROOT, help="folder holding bedroom_train_lmdb")
    parser.add_argument("--make-standin", type=int, metavar="N", default=0,
                        help="first write a stand-in LSUN lmdb of N WebP records under --dataroot, then measure")
    parser.add_argument("--codec", choices=("webp", "jpeg"), default="webp",
                        help="encoding of the --make-standin records: WebP q80 (as the official lmdb's records "
                             "are commonly found) or JPEG q75 (as the LSUN README describes them)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="worker counts to compare")
    parser.add_argument("--rounds", type=int, default=5, help="timed windows per worker count")
    parser.add_argument("--batches", type=int, default=30, help="batches per timed window")
    parser.add_argument("--warmup", type=int, default=3, help="untimed batches per window after the prefetch fill")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--resize-backend", default="pillow")
    parser.add_argument("--interpolation", default="bicubic")
    parser.add_argument("--gpu-critic-iters-per-s", type=float, default=GPU_CRITIC_ITERS_PER_S,
                        help="critic iterations per second of wall time of the GPU run to feed (not measurable "
                             "here; the default is an estimate, see the module docstring)")
    parser.add_argument("--cpu-loop-rounds", type=int, default=0, metavar="R",
                        help="also time R rounds of DCGAN WGAN training loops on the CPU (5 critic + 1 generator "
                             "iterations), fed from memory and by each worker count; 0 skips it")
    parser.add_argument("--cpu-loops", type=int, default=2, help="timed loops per CPU window")
    parser.add_argument("--d-iters", type=int, default=5, help="critic iterations per generator iteration")
    parser.add_argument("--out", help="write the samples and the summary as JSON to this file")
    from gluon_wgan.utils.threads import add_threads_flag
    add_threads_flag(parser, "one per physical core")
    args = parser.parse_args(argv)
    if any(w < 0 for w in args.workers) or args.rounds < 1 or args.batches < 1:
        parser.error("--workers must be >= 0, --rounds and --batches >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    from gluon_wgan.utils.threads import use_threads
    use_threads(args.threads)   # as the training scripts do, before MXNet loads
    if args.make_standin:
        make_standin(args.dataroot, args.make_standin, args.codec)
    from gluon_wgan.data import get_dataset
    dataset = get_dataset("lsun", root=args.dataroot, image_size=args.image_size,
                          resize_backend=args.resize_backend, interpolation=args.interpolation)
    counts = list(dict.fromkeys(args.workers))
    need = required_rate(args.gpu_critic_iters_per_s, args.batch_size)
    print(f"{len(dataset)} records in {args.dataroot}; {os.cpu_count()} CPUs; load {os.getloadavg()}")
    samples = {w: dict(rate=[], cpu=[], cpu_per_image=[], others=[], startup=[], load=[]) for w in counts}
    n = len(dataset)
    per_window = (args.batches + args.warmup + 2 * max(counts)) * args.batch_size
    for r in range(args.rounds):
        order = counts[r % len(counts):] + counts[:r % len(counts)]
        for i, w in enumerate(order):
            # A different part of the dataset for every window, so no window re-reads another's records.
            start = ((r * len(counts) + i) * per_window % n) // args.batch_size
            before = loadavg()
            window = time_stream(dataset, w, args.batch_size, args.batches, args.warmup, start)
            window["load"] = before
            for key, value in window.items():
                samples[w][key].append(value)
            others = "?" if window["others"] is None else f"{window['others']:.2f}"
            print(f"round {r + 1}/{args.rounds} workers {w}: {window['rate']:7.0f} images/s, consumer CPU "
                  f"{1e3 * window['cpu']:5.1f} ms/batch, all CPU {1e3 * window['cpu_per_image']:.2f} ms/image, "
                  f"other jobs {others} cores, load {before}", flush=True)
    rows = summarize(samples, counts, need)
    print(f"\nBatchStream, {args.image_size}x{args.image_size}, batch {args.batch_size}, {args.resize_backend} "
          f"{args.interpolation}; median of {args.rounds} windows of {args.batches} batches")
    print("| workers | images/s (min-max) | ratio to workers={} | consumer CPU ms/batch | CPU ms/image (all "
          "processes) | other jobs (cores) | load 1 min | covers {:.0f} img/s |".format(counts[0], need))
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['workers']} | {row['images_per_s']} ({row['min']}-{row['max']}) | {row['ratio']} | "
              f"{row['consumer_cpu_ms_per_batch']} | {row['cpu_ms_per_image']} | {row['others_cores']} | "
              f"{row['load']} | {'yes' if row['covers_gpu'] else 'no'} |")
    enough = [row["workers"] for row in rows if row["covers_gpu"]]
    print(f"\nA GPU run at {args.gpu_critic_iters_per_s:g} critic iterations/s consumes {need:.0f} real images/s "
          f"(batch {args.batch_size}; generator iterations take none).")
    if args.gpu_critic_iters_per_s == GPU_CRITIC_ITERS_PER_S:
        print("Default rate: " + GPU_RATE_NOTE + ".")
    pooled = [row for row in rows if row["workers"] > 0]
    if pooled:
        # What a worker costs per image does not depend on how many cores are free; the rate does.
        per_image = statistics.median(row["cpu_ms_per_image"] for row in pooled) / 1e3
        print(f"A worker process spends {1e3 * per_image:.2f} CPU ms per image (consumer included), so it delivers at "
              f"most {1 / per_image:.0f} images/s on a core of its own; {need:.0f} images/s needs about "
              f"{math.ceil(need * per_image)} workers, each on a free core.")
    if enough:
        print(f"Smallest measured worker count that delivers it: {enough[0]}.")
    else:
        best = max(rows, key=lambda row: row["images_per_s"])
        print(f"No measured count delivers it: the best, workers={best['workers']}, gives {best['images_per_s']} "
              f"images/s ({best['images_per_s'] / need:.0%}), so this machine would hold the GPU to about "
              f"{best['images_per_s'] / args.batch_size:.0f} critic iterations/s.")
    cpu = None
    if args.cpu_loop_rounds:
        medians, cpu_samples = cpu_loop_comparison(dataset, counts, args.cpu_loop_rounds, args.cpu_loops,
                                                   args.d_iters)
        base = medians[None]
        print(f"\nTraining on the CPU (DCGAN 64x64 WGAN, batch {args.batch_size}, {args.d_iters} critic + 1 generator "
              f"iterations per loop); median of {args.cpu_loop_rounds} windows of {args.cpu_loops} loops")
        print("| real batches | s/loop | vs from memory | images/s consumed |")
        print("| --- | --- | --- | --- |")
        for w, seconds in medians.items():
            name = "from memory (no loading)" if w is None else f"BatchStream, workers={w}"
            print(f"| {name} | {seconds:.3f} | {seconds / base:.2f} | {args.d_iters * args.batch_size / seconds:.0f} |")
        cpu = dict(medians={str(w): v for w, v in medians.items()},
                   samples={str(w): v for w, v in cpu_samples.items()})
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(dict(args=vars(args), cpus=os.cpu_count(), python=platform.python_version(),
                           required_images_per_s=need, rows=rows, cpu_loop=cpu,
                           samples={str(w): s for w, s in samples.items()}), f, indent=1)
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
