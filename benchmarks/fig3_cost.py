#!/usr/bin/env python
"""What the WGAN-GP paper's Fig. 3 runs cost: the four `wgangp-fig3-*` presets at full width.

For each preset: the forward multiply-adds of its generator and critic per image (counted from the
layer shapes), the seconds per generator iteration on this machine (measured: the public `train` on
the embedded 32x32 shapes, evaluation off, the median of the iterations after the first two), and
from these the 200,000 iterations on this machine and, at an assumed sustained GPU rate, on a GPU;
then the multiply-adds of the evaluations (InceptionV3 at 299x299, 200 times 1,000 samples).
The GPU figure scales the measured seconds by (this machine's rate / the GPU's), where this
machine's rate is the FLOPs of a plain WGAN iteration (3x forward, forward plus backward) over its
measured seconds; the penalty's extra work is therefore counted as it is measured here.

Example: python benchmarks/fig3_cost.py --iters 6
"""
import argparse
import json
import os
import tempfile

import numpy as np

CURVES = ("wgan", "wgan-gp-rmsprop", "wgan-gp-adam", "dcgan")


def conv_macs(net, image_shape):
    """Forward multiply-adds per image of `net`'s Conv2D, Conv2DTranspose and Dense layers."""
    import mxnet as mx
    from mxnet.gluon import nn
    total = []

    def hook(block, inputs, output):
        x = inputs[0]
        if isinstance(block, nn.Dense):
            total.append(int(np.prod(block.weight.shape)))
        elif isinstance(block, nn.Conv2DTranspose):   # every input pixel meets the whole kernel
            total.append(int(np.prod(x.shape[1:])) * int(np.prod(block.weight.shape[1:])))
        elif isinstance(block, nn.Conv2D):            # every output pixel does
            total.append(int(np.prod(output.shape[2:])) * int(np.prod(block.weight.shape)))
    layers = []
    net.apply(lambda b: layers.append(b) if isinstance(b, (nn.Dense, nn.Conv2D, nn.Conv2DTranspose)) else None)
    handles = [layer.register_forward_hook(hook) for layer in layers]
    with mx.autograd.train_mode():
        net(mx.nd.zeros((2,) + image_shape))
    for h in handles:
        h.detach()
    return sum(total)


def measure(curve, iters, outdir):
    """(config, seconds per generator iteration) of preset wgangp-fig3-<curve> on this machine."""
    from gluon_wgan.config import resolve
    from gluon_wgan.training.loop import train
    from gluon_wgan.training.runlog import read_metrics
    cfg = resolve(dict(dataset="shapes", gen_iters=iters, eval_every=0, log_every=1, sample_every=10 ** 6,
                       checkpoint_every=10 ** 6, outdir=os.path.join(outdir, curve)), preset=f"wgangp-fig3-{curve}")
    train(cfg, progress=False)
    seconds = [r["seconds"] for r in read_metrics(os.path.join(cfg.outdir, "metrics.jsonl"))]
    return cfg, float(np.median(np.diff(seconds)[1:]))   # the first two iterations compile


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=6, help="generator iterations per preset (>= 4)")
    parser.add_argument("--gpu-tflops", type=float, default=5.0,
                        help="assumed sustained float32 TFLOP/s of a GPU on these layers (an assumption: "
                             "small 32x32 convolutions rarely reach a GPU's peak)")
    parser.add_argument("--out", default=None, help="also write the table as JSON here")
    args = parser.parse_args()
    from gluon_wgan.training.build import build_critic, build_generator
    rows = []
    with tempfile.TemporaryDirectory() as outdir:
        for curve in CURVES:
            cfg, seconds = measure(curve, args.iters, outdir)
            g, d = build_generator(cfg), build_critic(cfg)
            for net in (g, d):
                net.initialize()
            g_macs, d_macs = conv_macs(g, (cfg.nz,)), conv_macs(d, (3, 32, 32))
            rows.append(dict(curve=curve, d_iters=cfg.d_iters, g_gmacs=g_macs / 1e9, d_gmacs=d_macs / 1e9,
                             seconds=seconds))
    # A plain critic iteration: G forward on a batch, D forward and backward on two; a generator
    # iteration: G and D forward and backward on one. Backward ~ 2x forward.
    wgan = next(r for r in rows if r["curve"] == "wgan")
    b = 64
    wgan_flops = 2 * b * (wgan["d_iters"] * (wgan["g_gmacs"] + 2 * 3 * wgan["d_gmacs"])
                          + 3 * (wgan["g_gmacs"] + wgan["d_gmacs"])) * 1e9
    here_tflops = wgan_flops / wgan["seconds"] / 1e12
    print(f"this machine: {here_tflops:.3f} TFLOP/s on the plain WGAN iteration ({wgan_flops / 1e9:.0f} GFLOP); "
          f"GPU assumed {args.gpu_tflops:g} TFLOP/s")
    print("| preset | critic its per generator it | G / D forward GMAC per image | s per generator it here "
          "| 200,000 its here | 200,000 its on the GPU (estimate) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        r["days_here"] = r["seconds"] * 200000 / 86400
        r["gpu_hours"] = r["seconds"] * here_tflops / args.gpu_tflops * 200000 / 3600
        print(f"| wgangp-fig3-{r['curve']} | {r['d_iters']} | {r['g_gmacs']:.3f} / {r['d_gmacs']:.3f} | "
              f"{r['seconds']:.2f} | {r['days_here']:.0f} days | {r['gpu_hours']:.1f} h |")
    from gluoncv.model_zoo import get_model
    inception = get_model("inceptionv3", pretrained=False)
    inception.initialize()
    inception_gmacs = conv_macs(inception, (3, 299, 299)) / 1e9
    images = 200000 // 1000 * 1000   # 200 evaluations of 1,000 samples
    eval_pflop = 2 * inception_gmacs * images / 1e6
    print(f"evaluation: InceptionV3 forward {inception_gmacs:.2f} GMAC per image; {images:,} images over a run are "
          f"{eval_pflop:.2f} PFLOP, {eval_pflop * 1e3 / args.gpu_tflops / 60:.0f} min on the GPU (estimate)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(here_tflops=here_tflops, gpu_tflops=args.gpu_tflops, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
