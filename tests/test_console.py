"""gluon_wgan.training.console: the progress a run reports, on a terminal and elsewhere."""
import io
import logging
import os
import subprocess
import sys

from gluon_wgan.training.console import PlainProgress, progress_bar

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_plain_progress_logs_a_line_per_interval_and_at_the_end(caplog):
    now = [0.0]
    bar = PlainProgress(total=100, initial=10, every=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="gluon_wgan.training.console"):
        bar.set_postfix(gen_iter="3/20")
        for _ in range(30):      # 30 updates within a minute: no line
            now[0] += 1.0
            bar.update(1)
        assert caplog.messages == []
        now[0] += 30.0
        bar.update(2)
        bar.close()
    assert caplog.messages == ["42/100 critic iterations (42%), 0.533/s, gen_iter 3/20"] * 2


def test_no_terminal_gets_no_redraws():
    stream = io.StringIO()   # not a TTY
    assert isinstance(progress_bar(10, stream=stream), PlainProgress)


def test_train_wgan_into_a_file_writes_plain_lines(tmp_path):
    """A run whose stderr is a file or pipe: no carriage-return redraws, a plain line at the end."""
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train_wgan.py"), "--image-size", "16",
                             "--ngf", "8", "--ndf", "8", "--nz", "8", "--batch-size", "8", "--warmup-iters", "1",
                             "--burst-d-iters", "2", "--d-iters", "1", "--gen-iters", "3",
                             "--outdir", str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    assert result.stderr.splitlines()[-2].startswith("4/4 critic iterations (100%)")
