"""The training side of a `dist_sync` job (the processes are started by `gluon_wgan.tools.launch`).

Two `gluon.Trainer`s with ``kvstore='dist_sync'`` in one process (the generator's and the critic's)
hang at the second one's first step on 1.9.1 (measured; both use the keys 0, 1, 2, ... on the same
servers, apache/mxnet#13054), and with ``update_on_kvstore=True`` the servers would hold unclipped
weights that overwrite the workers' clipped ones at every pull. So both networks share one kvstore
under string keys, only gradients travel, and each worker applies the same optimizer step locally
(`DistributedTrainer`): weight clipping and `Trainer.save_states` behave as on one machine.
`WorkerAgreement` is what the workers decide together (when to stop, where to resume), and
`leave_without_barrier` lets a failing worker exit alone.
"""
import mxnet as mx
from mxnet import gluon

from .. import compat
from .errors import WorkersDisagree


class DistributedTrainer:
    """A `gluon.Trainer` whose `step` first averages the gradients over the workers of `kvstore`.

    Every worker starts from rank 0's parameter values. `step` sums each trainable parameter's
    gradients (over this worker's devices and all workers) in `kvstore` under the key
    ``prefix + parameter name``, then runs the optimizer locally with the sum divided by the number of
    workers, as Horovod's `DistributedTrainer` does: with every worker's loss a mean over its own
    batch, the update is that of one machine whose batch is all the workers' batches together.
    Anything else (`save_states`, `load_states`, `learning_rate`, ...) is the wrapped Trainer's.

    Parameters
    ----------
    params : ParameterDict
        The network's `collect_params()`, already initialized (shapes known).
    optimizer : str or mx.optimizer.Optimizer
    kvstore : mx.kvstore.KVStore
        One ``mx.kv.create('dist_sync')`` shared by every DistributedTrainer of the process.
    prefix : str
        Unique per network (``"generator/"``, ``"critic/"``), so their keys never meet.
    optimizer_params : dict, optional

    Raises
    ------
    ValueError
        If a parameter is not initialized yet.
    """

    def __init__(self, params, optimizer, kvstore, prefix, optimizer_params=None):
        self.trainer = gluon.Trainer(params, optimizer, optimizer_params, kvstore=None)
        self.kvstore = kvstore
        self.num_workers = kvstore.num_workers
        self._keyed = []
        for name, param in sorted(params.items()):  # the same key order on every worker
            if compat.is_deferred(param):
                raise ValueError(f"parameter {name} is not initialized yet: run the network once first")
            key = prefix + name
            kvstore.init(key, param.list_data()[0])  # rank 0's value is kept; the others' are ignored
            kvstore.pull(key, out=param.list_data())
            if param.grad_req != "null":
                self._keyed.append((key, param))

    def step(self, batch_size, ignore_stale_grad=False):
        """Sum the gradients over devices and workers, then one optimizer step scaled by
        1 / (`batch_size` x number of workers)."""
        for key, param in self._keyed:
            grads = param.list_grad()
            self.kvstore.pushpull(key, grads, out=grads)
        self.trainer.step(batch_size * self.num_workers, ignore_stale_grad=ignore_stale_grad)

    def __getattr__(self, name):  # only for names not found on the wrapper itself
        if name == "trainer":      # not set yet: __init__ failed before it
            raise AttributeError(name)
        return getattr(self.trainer, name)


def leave_without_barrier(kvstore):
    """Let this worker's process exit without waiting for the other workers first.

    MXNet frees a `dist_sync` kvstore at exit by waiting for every worker at ps-lite's shutdown
    barrier. A worker that fails alone (an error only it meets, Ctrl-C during its setup) would wait
    there forever while the others wait for its next gradient push, and the launcher, which acts
    when a process exits, would never stop the job. Call this before re-raising such an error.
    """
    compat.leave_kvstore_without_barrier(kvstore)


class WorkerAgreement:
    """What the workers of a `dist_sync` job decide together: when to stop, and where they resume.

    Each worker catches Ctrl-C and SIGTERM by itself, at any point of its iteration; a worker that
    stopped alone would leave the others waiting in a gradient exchange forever, and their
    checkpoints at different iterations. So every worker asks `stop` once per generator iteration,
    at the same point of it: the answer is the same on every worker, and they stop together.
    Creating one is collective (every worker must, at the same point: `kvstore.init` is a barrier).
    """

    def __init__(self, kvstore):
        self.kvstore = kvstore
        self.rank, self.num_workers = kvstore.rank, kvstore.num_workers
        self._flag = mx.nd.zeros(1)
        self._iters = mx.nd.zeros(self.num_workers)
        kvstore.init("control/stop", self._flag)
        kvstore.init("control/gen_iter", self._iters)

    def stop(self, wanted):
        """True on every worker if any worker passed a true `wanted` in this round (a host sync)."""
        self._flag[:] = float(bool(wanted))
        self.kvstore.pushpull("control/stop", self._flag, out=self._flag)
        return bool(self._flag.asscalar() > 0)

    def gen_iters(self, gen_iter):
        """Every worker's `gen_iter`, by rank (exact below 2**24: float32 sums of one nonzero term)."""
        self._iters[:] = 0
        self._iters[self.rank] = gen_iter
        self.kvstore.pushpull("control/gen_iter", self._iters, out=self._iters)
        return [int(v) for v in self._iters.asnumpy()]


def check_same_iteration(gen_iters):
    """Raise WorkersDisagree unless every worker's checkpoint (or fresh start) is at one iteration."""
    if len(set(gen_iters)) > 1:
        found = ", ".join(f"worker {rank}: {it}" for rank, it in enumerate(gen_iters))
        raise WorkersDisagree(f"the workers' checkpoints hold different generator iterations ({found}); "
                              "a job killed while saving? Copy OUTDIR/checkpoints/latest to "
                              "OUTDIR/worker<r>/checkpoints/latest for every other worker r and resume, "
                              "or start afresh")
