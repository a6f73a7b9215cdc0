#!/usr/bin/env python
"""Train a Wasserstein GAN: `python scripts/train_wgan.py --ctx gpu(0)` (see --help)."""
import logging
import sys

from gluon_wgan.cli import parse_config
from gluon_wgan.threads import use_physical_cores


def main(argv=None):
    use_physical_cores()   # before anything loads MXNet, which reads OMP_NUM_THREADS once
    cfg, run = parse_config(argv)
    # Imported after parsing, so that --help and bad flags answer without loading MXNet.
    from gluon_wgan.training.loop import EvaluationUnavailable, TrainingDiverged, WorkersDisagree, train

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        state = train(cfg, progress=run["progress"])
    except TrainingDiverged as err:
        print(f"train_wgan.py: error: {err}", file=sys.stderr)
        return 1
    except (EvaluationUnavailable, WorkersDisagree) as err:
        print(f"train_wgan.py: error: {err}", file=sys.stderr)
        return 2
    print(f"{state.gen_iter} generator iterations, {state.critic_iters_total} critic iterations, "
          f"{state.seconds:.0f} s, {state.skipped_records} unreadable images skipped; run in {cfg.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
