"""A tiny dist_sync job for tests/test_distributed.py, run by scripts/launch_dist.py on 127.0.0.1.

`import mxnet` turns the scheduler and server processes into ps-lite nodes (they never get past it);
each worker then runs two parts with rank-dependent values and writes what it ends with to
OUTDIR/worker-<rank>.json:

1. the plain kvstore API: a vector x (rank 0's start value wins), 3 steps of
   push(grad = (rank + 1) * x), pull(sum over workers), x -= LR * sum;
2. the WGAN pattern through `DistributedTrainer`: a "generator" Dense(3) on one device and a clipped
   "critic" Dense(1) on two CPU devices, sharing one kvstore, critic, critic, generator, twice.

Usage: python tests/dist_worker.py OUTDIR
"""
import json
import os
import sys

import gluon_wgan  # noqa: F401  (first: numpy's removed aliases back before MXNet loads)
import mxnet as mx
from mxnet import autograd, gluon

from gluon_wgan.training.distributed import DistributedTrainer

LR = 0.1
CLAMP = 0.5


def dense(units, in_units, value, ctx):
    net = gluon.nn.Dense(units, in_units=in_units)
    net.initialize(mx.init.Constant(value), ctx=ctx)   # weights = value; biases keep their zeros
    return net


def main(outdir):
    kv = mx.kv.create("dist_sync")
    rank = kv.rank
    value = float(rank + 1)                            # differs per worker: start values and data

    x = mx.nd.full((4,), value)
    kv.init("x", x)                                    # rank 0's x is kept
    kv.pull("x", out=x)
    for _ in range(3):
        kv.push("x", value * x)
        grad = mx.nd.zeros_like(x)
        kv.pull("x", out=grad)
        x -= LR * grad

    critic_ctx = [mx.cpu(0), mx.cpu(1)]
    generator = dense(3, 2, value, mx.cpu())
    critic = dense(1, 4, value, critic_ctx)
    g_trainer = DistributedTrainer(generator.collect_params(), "sgd", kv, "generator/", {"learning_rate": LR})
    d_trainer = DistributedTrainer(critic.collect_params(), "sgd", kv, "critic/", {"learning_rate": LR})
    for _ in range(2):
        for _ in range(2):
            data = mx.nd.full((4, 4), value)
            shards = gluon.utils.split_and_load(data, critic_ctx)
            with autograd.record():
                losses = [critic(shard).mean() for shard in shards]   # a batch mean per device
            autograd.backward(losses)
            d_trainer.step(len(critic_ctx))
            for param in critic.collect_params().values():
                for arr in param.list_data():
                    mx.nd.clip(arr, -CLAMP, CLAMP, out=arr)
        with autograd.record():
            loss = generator(mx.nd.full((2, 2), value)).mean()
        loss.backward()
        g_trainer.step(1)
    d_trainer.save_states(os.path.join(outdir, f"critic-{rank}.states"))  # local optimizer: works

    result = dict(rank=rank, num_workers=kv.num_workers, x=x.asnumpy().tolist())
    for prefix, net in (("generator", generator), ("critic", critic)):
        for name, param in net.collect_params().items():
            kind = name.rsplit("_", 1)[1]
            result[f"{prefix}_{kind}"] = [arr.asnumpy().tolist() for arr in param.list_data()]
    with open(os.path.join(outdir, f"worker-{rank}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1])
