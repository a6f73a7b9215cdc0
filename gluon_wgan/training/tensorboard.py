"""TensorBoard event files (``--tensorboard``): the values of metrics.jsonl and the sample grids.

Written with MXNet's own writer, mxboard (0.1.0, which needs protobuf 3.x: requirements.txt pins
3.20.3), into ``<outdir>/tensorboard/``, one event file per training session; view them with
``tensorboard --logdir <outdir>/tensorboard`` from any TensorBoard installation.
"""
import os

import numpy as np

from .. import plots

FOLDER = "tensorboard"


class EventLog:
    """Scalars at each logged generator iteration and the sample grids, as images, for TensorBoard."""

    def __init__(self, outdir):
        try:
            from mxboard import SummaryWriter
        except ImportError as err:   # a broken install: mxboard is in requirements.txt
            raise ValueError(f"--tensorboard needs mxboard ({err}); pip install -r requirements.txt") from None
        self.folder = os.path.join(outdir, FOLDER)
        # verbose=False: no "successfully opened events file" / "wrote N events to disk" log lines.
        self._writer = SummaryWriter(logdir=self.folder, verbose=False)

    def add_records(self, records):
        """Every number of each metrics.jsonl record, tagged by its key, at its gen_iter."""
        for record in records:
            for key, value in record.items():
                if key != "gen_iter" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._writer.add_scalar(key, value, global_step=record["gen_iter"])

    def add_samples(self, images, gen_iter):
        """The grid `plots.save_image_grid` writes to samples/, pixel for pixel."""
        grid = plots.image_grid(images)
        self._writer.add_image("samples", np.ascontiguousarray(grid.transpose(2, 0, 1)), global_step=gen_iter)

    def close(self):
        self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
