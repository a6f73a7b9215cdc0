#!/usr/bin/env python
"""Train a Wasserstein GAN: `python scripts/train_wgan.py --ctx gpu(0)` (see --help)."""
import logging
import sys

from gluon_wgan.cli import parse_config


def main(argv=None):
    cfg, run = parse_config(argv)   # sets the thread count (--threads) before MXNet loads
    # Imported after parsing, so that --help and bad flags answer without loading MXNet.
    from gluon_wgan.data import UnreadableData
    from gluon_wgan.utils.files import RunFolderError, is_disk_full
    from gluon_wgan.training.errors import EvaluationUnavailable, Interrupted, TrainingDiverged, WorkersDisagree
    from gluon_wgan.training.loop import train
    from gluon_wgan.training.resume import resume_advice

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import mxnet as mx

    from gluon_wgan.utils.context import parse_ctx
    problem = gpu_step_problem([c for c in parse_ctx(cfg.ctx) if c.device_type == "gpu"], mx.cpu())
    if problem:
        return _error(problem, 2)
    try:
        train(cfg, progress=run["progress"], resume=run["resume"],
                      trust_pickled_states=run["trust_pickled_states"])
    except Interrupted as stop:
        print(f"train_wgan.py: {stop}", file=sys.stderr)
        return stop.exit_code
    except TrainingDiverged as err:
        return _error(err, 1)
    except (RunFolderError, EvaluationUnavailable, WorkersDisagree, UnreadableData) as err:
        return _error(err, 2)
    except OSError as err:
        if not is_disk_full(err):
            raise
        return _error(f"no space left on {err.filename or cfg.outdir}; free some space: {resume_advice(cfg.outdir)}", 2)
    return 0


def gpu_step_problem(devices, reference):
    """Before any training on a GPU: does a small penalty step on each of `devices` equal the one on
    `reference` (the CPU)? The problem as one line, or None. (The other GPU checks ran when --ctx was
    parsed.)"""
    from gluon_wgan.cuda import GPUProblem
    from gluon_wgan.tools.doctor import check_step
    for device in devices:
        try:
            check_step(device, reference)
        except GPUProblem as err:
            return str(err)
    return None


def _error(message, code):
    print(f"train_wgan.py: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
