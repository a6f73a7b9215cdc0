"""The ways a training run ends early, each an exception that scripts/train_wgan.py turns into a
message and an exit code. EventsUnwritable stays beside the event files it is about (tensorboard.py);
a refused run folder is utils/files.py's RunFolderError."""
import signal

from .resume import resume_advice


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the latest checkpoint on disk predates it."""


class EvaluationUnavailable(ValueError):
    """--eval-every was asked for but InceptionV3 or the real-data statistics cannot be had."""


class WorkersDisagree(ValueError):
    """The workers of a dist_sync job found checkpoints of different generator iterations to resume."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM stopped the run: in the loop, after a checkpoint, so that it resumes exactly;
    during the set-up (`state` None), at once, and the folder's checkpoint, if any, is as it was."""

    def __init__(self, signal_name, state, outdir=None):
        signal_name_ = signal_name or "a signal to another worker"
        if state is None:
            message = f"stopped by {signal_name_} during the start-up; {resume_advice(outdir)}"
        else:
            message = f"stopped by {signal_name_} at generator iteration {state.gen_iter}, after a checkpoint; " \
                      "continue with --resume"
        super().__init__(message)
        self.signal_name, self.state = signal_name, state

    @property
    def exit_code(self):
        """128 + the signal's number, as a shell reports a process that the signal ended (SIGTERM's
        for a worker that stopped because another one was signalled)."""
        return 128 + int(getattr(signal, self.signal_name or "SIGTERM"))
