"""A WGAN-GP critic iteration of the CIFAR-10 ResNet critic (gan_cifar_resnet.py, DIM 128), batch 64:
this package against PyTorch's double backprop, on the same CPU, interleaved.

    python benchmarks/resnet_gp.py --torch-python /path/to/venv-with-torch/bin/python --rounds 5
    python benchmarks/resnet_gp.py --only torch --torch-python ...   # one side alone

One iteration is what the penalty changes: D(real), D(fake), the penalty lambda (||grad D(x_hat)|| - 1)^2
at the interpolates, the backward pass to every critic parameter, one Adam(2e-4, 0, 0.9) step. The fake
images are fixed random images (the generator's forward costs the same with or without a penalty).
Each round starts one process per framework in turn (alternating which goes first), which builds the
critic, warms up with `--warmup` iterations and times `--number`; the result is the median over rounds
of each side's seconds per iteration and of the per-round ratio MXNet / PyTorch, printed as JSON.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

BATCH, DIM, SIZE = 64, 128, 32


def mxnet_seconds(number, warmup):
    from gluon_wgan.utils.threads import use_physical_cores
    use_physical_cores()   # before MXNet loads, as the scripts do
    import mxnet as mx
    from mxnet import autograd, gluon
    from gluon_wgan.losses import wasserstein_d
    from gluon_wgan.models import CIFARResNetCritic, DCGANInit
    from gluon_wgan.optim import make_optimizer
    from gluon_wgan.penalty import gradient_penalty
    mx.random.seed(0)
    critic = CIFARResNetCritic(dim=DIM, norm="none")
    critic.initialize(DCGANInit())
    critic.hybridize(static_alloc=True, static_shape=True)
    trainer = gluon.Trainer(critic.collect_params(), make_optimizer("adam", 2e-4, beta1=0.0, beta2=0.9))
    real = mx.nd.random.uniform(-1, 1, shape=(BATCH, 3, SIZE, SIZE))
    fake = mx.nd.random.uniform(-1, 1, shape=(BATCH, 3, SIZE, SIZE))

    def iteration():
        with autograd.record():
            loss = wasserstein_d(critic(real), critic(fake)) + gradient_penalty(critic, real, fake, weight=10.0)
        loss.backward()
        trainer.step(1)
    return _time(iteration, mx.nd.waitall, number, warmup), mx.__version__


def torch_seconds(number, warmup):
    import torch
    from torch import nn
    torch.manual_seed(0)

    class Block(nn.Module):
        """Pre-activation residual block without normalization; 'down' mean-pools after conv2 and
        before the 1x1 shortcut."""

        def __init__(self, down):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(DIM, DIM, 3, padding=1), nn.Conv2d(DIM, DIM, 3, padding=1)
            self.down = down
            self.shortcut = nn.Conv2d(DIM, DIM, 1) if down else None

        def forward(self, x):
            out = self.conv2(torch.relu(self.conv1(torch.relu(x))))
            if self.down:
                return self.shortcut(nn.functional.avg_pool2d(x, 2)) + nn.functional.avg_pool2d(out, 2)
            return x + out

    class Critic(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(3, DIM, 3, padding=1), nn.Conv2d(DIM, DIM, 3, padding=1)
            self.shortcut = nn.Conv2d(3, DIM, 1)
            self.blocks = nn.Sequential(Block(True), Block(False), Block(False))
            self.out = nn.Linear(DIM, 1)

        def forward(self, x):
            out = nn.functional.avg_pool2d(self.conv2(torch.relu(self.conv1(x))), 2)
            out = out + self.shortcut(nn.functional.avg_pool2d(x, 2))
            return self.out(torch.relu(self.blocks(out)).mean(dim=(2, 3))).reshape(-1)

    critic = Critic()
    optimizer = torch.optim.Adam(critic.parameters(), lr=2e-4, betas=(0.0, 0.9))
    real = torch.rand(BATCH, 3, SIZE, SIZE) * 2 - 1
    fake = torch.rand(BATCH, 3, SIZE, SIZE) * 2 - 1

    def iteration():
        optimizer.zero_grad(set_to_none=True)
        alpha = torch.rand(BATCH, 1, 1, 1)
        x_hat = (real + alpha * (fake - real)).requires_grad_(True)
        grad, = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        penalty = 10.0 * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        loss = critic(fake).mean() - critic(real).mean() + penalty
        loss.backward()
        optimizer.step()
    return _time(iteration, lambda: None, number, warmup), torch.__version__


def _time(iteration, sync, number, warmup):
    for _ in range(warmup):
        iteration()
    sync()
    start = time.perf_counter()
    for _ in range(number):
        iteration()
    sync()
    return (time.perf_counter() - start) / number


def _one(framework, python, number, warmup):
    """Seconds per iteration from a fresh process of `python`, or the error it reported."""
    done = subprocess.run([python, os.path.abspath(__file__), "--serve", framework, "--number", str(number),
                           "--warmup", str(warmup)], capture_output=True, text=True)
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["exit code %d" % done.returncode])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torch-python", help="python of an environment with torch")
    parser.add_argument("--only", choices=("mxnet", "torch"), help="time one side only")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default: 5)")
    parser.add_argument("--number", type=int, default=5, help="timed iterations per round (default: 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first (default: 2)")
    parser.add_argument("--serve", choices=("mxnet", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        seconds, version = (mxnet_seconds if args.serve == "mxnet" else torch_seconds)(args.number, args.warmup)
        print(json.dumps({"seconds": seconds, "version": version}))
        return
    if args.only != "mxnet" and not args.torch_python:
        parser.error("--torch-python is needed for the PyTorch side")
    pythons = {"mxnet": sys.executable, "torch": args.torch_python}
    sides = [args.only] if args.only else ["mxnet", "torch"]
    samples = {side: [] for side in sides}
    for r in range(args.rounds):
        for side in (sides if r % 2 == 0 else sides[::-1]):
            samples[side].append(_one(side, pythons[side], args.number, args.warmup))
    result = {"batch": BATCH, "dim": DIM, "rounds": args.rounds, "number": args.number,
              "threads": os.environ.get("OMP_NUM_THREADS")}
    for side, runs in samples.items():
        times = [s["seconds"] for s in runs if "seconds" in s]
        result[side] = ({"median_s": statistics.median(times), "version": runs[0]["version"]} if times
                        else {"error": runs[0]["error"]})
    if len(sides) == 2 and all("seconds" in s for side in sides for s in samples[side]):
        result["ratio_mxnet_over_torch"] = statistics.median(
            m["seconds"] / t["seconds"] for m, t in zip(samples["mxnet"], samples["torch"]))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
