"""The same DCGAN-64 and toy MLP iterations in PyTorch, for the reference column of the Performance table.

    python benchmarks/torch_reference.py --repeats 5          # needs torch; not a dependency

Same models (WGAN reference code's DCGAN, batch 64, nz 100, ngf = ndf = 64; the WGAN-GP critic with
layer normalization over (C, H, W), i.e. GroupNorm(1, C)), same optimizers, same timing rule as
`run.py`: median of `--repeats` runs after `--warmup`. Prints JSON; torch is never imported by the
package or the tests.
"""
import argparse
import contextlib
import json
import os
import statistics
import time

import numpy as np
import torch
from torch import nn


def generator(nz=100, ngf=64):
    return nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh())


def critic(ndf=64, norm="batch"):
    def n(c):
        return nn.BatchNorm2d(c) if norm == "batch" else nn.GroupNorm(1, c)
    return nn.Sequential(
        nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), n(ndf * 2), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), n(ndf * 4), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), n(ndf * 8), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False))


def measure(fn, repeats, warmup):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def autocast(dtype):
    """PyTorch's mixed precision on the CPU for `dtype` 'bfloat16' (what a PyTorch user writes around
    the forward passes and the penalty's gradient), nothing for 'float32'."""
    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=torch.bfloat16)


def iterations(method, batch=64, nz=100, dtype="float32"):
    """(critic_iter, gen_iter): one critic and one generator update of `method` ('wgan' clipping or
    'wgan-gp'), as `gluon_wgan.training.steps` does them, on a fixed real batch; under `autocast(dtype)`."""
    real = torch.rand(batch, 3, 64, 64) * 2 - 1
    G, D = generator(), critic(norm="batch" if method == "wgan" else "layer")
    if method == "wgan":
        opt_d = torch.optim.RMSprop(D.parameters(), lr=5e-5)
        opt_g = torch.optim.RMSprop(G.parameters(), lr=5e-5)
    else:
        opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.0, 0.9))
        opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.0, 0.9))

    def critic_iter():
        if method == "wgan":
            with torch.no_grad():
                for p in D.parameters():
                    p.clamp_(-0.01, 0.01)
        with torch.no_grad(), autocast(dtype):
            fake = G(torch.randn(batch, nz, 1, 1)).float()
        opt_d.zero_grad(set_to_none=True)
        with autocast(dtype):
            loss = D(fake).float().mean() - D(real).float().mean()
            if method == "wgan-gp":
                loss = loss + gradient_penalty(D, real, fake, torch.rand(batch, 1, 1, 1), 10)
        loss.backward()
        opt_d.step()

    def gen_iter():
        generator_update(G, D, opt_g, torch.randn(batch, nz, 1, 1), dtype)
    return critic_iter, gen_iter


def gradient_penalty(D, real, fake, alpha, weight):
    """weight * mean (||grad D(x_hat)|| - 1)^2 at the interpolates, by double backprop (under the
    caller's autocast); the norms in float32."""
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    return weight * ((grad.float().flatten(1).norm(dim=1) - 1) ** 2).mean()


def generator_update(G, D, opt_g, z, dtype):
    """One generator update on noise z, the critic's weights not differentiated."""
    for p in D.parameters():
        p.requires_grad_(False)
    opt_g.zero_grad(set_to_none=True)
    with autocast(dtype):
        loss = -D(G(z)).float().mean()
    loss.backward()
    opt_g.step()
    for p in D.parameters():
        p.requires_grad_(True)


def mlp(in_units, out_units, hidden=512, n_hidden=3):
    """The WGAN-GP toy code's MLP (gan_toy.py): `n_hidden` Linear + ReLU layers, then a Linear output."""
    layers = []
    for _ in range(n_hidden):
        layers += [nn.Linear(in_units, hidden), nn.ReLU(True)]
        in_units = hidden
    return nn.Sequential(*layers, nn.Linear(in_units, out_units))


def toy_iterations(batch=256, hidden=512, n_hidden=3, nz=2, gp_weight=0.1, seed=0, dtype="float32"):
    """(critic_iter, gen_iter) of the WGAN-GP toy run (`gluon_wgan.training.toy`): 2-D noise and data,
    Adam(1e-4, 0.5, 0.9), lambda 0.1; a fixed real batch (8 Gaussians) and fresh numpy noise, copied in
    each iteration as the package's toy loop does."""
    rng = np.random.RandomState(seed)
    centers = np.array([(np.cos(a), np.sin(a)) for a in np.arange(8) * np.pi / 4]) * 2
    real_np = ((centers[rng.randint(8, size=batch)] + 0.02 * rng.standard_normal((batch, 2))) / 1.414
               ).astype(np.float32)
    G, D = mlp(nz, 2, hidden, n_hidden), mlp(2, 1, hidden, n_hidden)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.5, 0.9))

    def noise():
        return torch.from_numpy(rng.standard_normal((batch, nz)).astype(np.float32))

    def critic_iter():
        with torch.no_grad(), autocast(dtype):
            fake = G(noise()).float()
        real = torch.tensor(real_np)
        opt_d.zero_grad(set_to_none=True)
        with autocast(dtype):
            loss = D(fake).float().mean() - D(real).float().mean()
            loss = loss + gradient_penalty(D, real, fake, torch.rand(batch, 1), gp_weight)
        loss.backward()
        opt_d.step()

    def gen_iter():
        generator_update(G, D, opt_g, noise(), dtype)
    return critic_iter, gen_iter


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    torch.manual_seed(0)
    out = dict(torch=torch.__version__, threads=torch.get_num_threads(), cores=os.cpu_count())
    for method in ("wgan", "wgan-gp"):
        critic_iter, gen_iter = iterations(method, args.batch)
        out[f"{method}_critic_iter"] = measure(critic_iter, args.repeats, args.warmup)
        out[f"{method}_gen_iter"] = measure(gen_iter, args.repeats, args.warmup)
    critic_iter, gen_iter = toy_iterations()
    out["toy_wgan-gp_critic_iter"] = measure(critic_iter, args.repeats, args.warmup)
    out["toy_wgan-gp_gen_iter"] = measure(gen_iter, args.repeats, args.warmup)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
