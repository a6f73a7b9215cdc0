"""TensorBoard event files (``--tensorboard``): the values of metrics.jsonl and the sample grids.

Written with MXNet's own event writer, mxboard (0.1.0, which needs protobuf 3.x: requirements.txt
pins 3.20.3), into ``<outdir>/tensorboard/``; view them with ``tensorboard --logdir
<outdir>/tensorboard`` from any TensorBoard installation.

Two departures from mxboard's `SummaryWriter`, both for the run folder's promises:

- Events are written in the training thread, not by mxboard's background thread (`SummaryWriter`
  is not used, only mxboard's protocol buffers and summaries). That thread dies
  on a write error (a full disk) without a word, and the training thread then blocks for ever on
  its full queue, deaf to Ctrl-C and SIGTERM. Here a failure is kept in `failure`; the loop stops
  at the next generator iteration with a checkpoint and reports it (`EventsUnwritable`).
- One event file per checkpoint interval, named by the generator iteration it starts at
  (``events.out.tfevents.<time>.<host>.from<gen_iter>``). Resuming at a checkpoint removes the
  files that start at or after it, as metrics.jsonl is cut back: after a ``kill -9`` the resumed run
  does not write the same steps twice.
"""
import os
import re
import socket
import struct
import time

import numpy as np

from .. import plots
from ..utils.files import RunFolderError

FOLDER = "tensorboard"
_SEGMENT = re.compile(r"^events\.out\.tfevents\..*\.from(\d+)$")


class EventsUnwritable(RunFolderError):
    """The event files of --tensorboard could not be written; the run stopped after a checkpoint."""


class EventLog:
    """Scalars at each logged generator iteration and the sample grids, as images, for TensorBoard.

    `start` is the generator iteration the run starts or resumes at: event files of an earlier
    session that begin there or later hold steps the run is about to redo, and are removed.
    """

    def __init__(self, outdir, start):
        try:
            from mxboard.proto import event_pb2
            from mxboard.record_writer import masked_crc32c
            from mxboard.summary import image_summary, scalar_summary
        except ImportError as err:   # a broken install: mxboard is in requirements.txt
            raise ValueError(f"--tensorboard needs mxboard ({err}); pip install -r requirements.txt") from None
        self._event, self._crc, self._image, self._scalar = event_pb2.Event, masked_crc32c, image_summary, \
            scalar_summary
        self.folder = os.path.join(outdir, FOLDER)
        self.failure = None          # the first write error, one line; nothing is written after it
        self._fd, self._start = None, start
        try:
            os.makedirs(self.folder, exist_ok=True)
            for name in os.listdir(self.folder):
                found = _SEGMENT.match(name)
                if found and int(found.group(1)) >= start:
                    os.remove(os.path.join(self.folder, name))
        except OSError as err:
            raise RunFolderError(f"--tensorboard: cannot prepare {self.folder} ({err.strerror or err})") from None

    def add_records(self, records):
        """Every number of each metrics.jsonl record, tagged by its key, at its gen_iter."""
        for record in records:
            for key, value in record.items():
                if key != "gen_iter" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._write(self._event(summary=self._scalar(key, value), step=record["gen_iter"]))

    def add_samples(self, images, gen_iter):
        """The grid `plots.save_image_grid` writes to samples/, pixel for pixel."""
        grid = plots.image_grid(images)
        self._write(self._event(summary=self._image("samples", np.ascontiguousarray(grid.transpose(2, 0, 1))),
                                step=gen_iter))

    def checkpointed(self, gen_iter):
        """A checkpoint at `gen_iter` is on disk: later events go to a new file starting there."""
        self.close()
        self._start = gen_iter

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _write(self, event):
        """One record (TensorBoard's format: length, its CRC, the Event, its CRC), straight to the
        operating system: a kill -9 loses nothing written, and an error is the caller's at once."""
        if self.failure is not None:
            return
        try:
            if self._fd is None:
                name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.from{self._start}"
                self._fd = os.open(os.path.join(self.folder, name),
                                   os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
                self._write_all(self._event(wall_time=time.time(), file_version="brain.Event:2"))
            event.wall_time = time.time()
            self._write_all(event)
        except OSError as err:
            self.failure = f"cannot write TensorBoard events in {self.folder} ({err.strerror or err})"
            self.close()

    def _write_all(self, event):
        data = event.SerializeToString()
        header = struct.pack("<Q", len(data))
        record = header + struct.pack("<I", self._crc(header)) + data + struct.pack("<I", self._crc(data))
        view = memoryview(record)
        while view:
            view = view[os.write(self._fd, view):]
