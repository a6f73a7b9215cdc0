"""Catching Ctrl-C and SIGTERM for the length of a `with` block."""
import signal
from contextlib import contextmanager


@contextmanager
def handling_signals(handler, signals=(signal.SIGINT, signal.SIGTERM)):
    """While inside, `handler(signum, frame)` handles `signals`; the previous handlers come back after.

    Outside the main thread Python cannot catch signals: then nothing is installed.
    """
    previous = {}
    try:
        for sig in signals:
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
