"""Figures across finished or running runs, from their folders alone: the WGAN paper's Fig. 3, the
WGAN-GP paper's Fig. 3 (Inception Score against generator iterations and seconds) and a GIF.

A run folder holds ``metrics.jsonl`` (one record per generator iteration, see
`gluon_wgan.training.runlog`), ``config.json`` and ``samples/<gen_iter:07d>.png`` (the sample grid of
the fixed noise after that many generator iterations; ``samples/real.png`` is a real batch). Nothing
here needs MXNet or a checkpoint, so a run can be plotted while it trains, on another machine.
"""
import io
import json
import os
import re
from typing import List, NamedTuple, Tuple

import numpy as np
from PIL import Image, ImageDraw

from ..plots import integer_ticks, median_filter
from ..training.runlog import one_based
from ..utils.files import atomic_write, run_file_at

_GRID_NAME = re.compile(r"^(\d+)\.png$")


class Run(NamedTuple):
    """What the figure needs of one run folder."""
    path: str
    label: str
    gen_iters: np.ndarray        # (T,) generator iteration of each record, increasing
    values: np.ndarray           # (T,) the Wasserstein estimate -loss_d, or loss_d when `estimate` is False
    estimate: bool               # False for an objective without a Wasserstein estimate (gan, lsgan)
    samples: List[Tuple[int, str]]  # (gen_iter, path) of every sample grid, in gen_iter order


def sample_grids(run_dir):
    """(gen_iter, path) of each ``samples/<gen_iter>.png`` in `run_dir`, in gen_iter order (not name order)."""
    folder = os.path.join(run_dir, "samples")
    if not os.path.isdir(folder):
        return []
    grids = [(int(m.group(1)), os.path.join(folder, name))
             for name in os.listdir(folder) for m in [_GRID_NAME.match(name)] if m]
    return sorted(grids)


def run_label(run_dir, config=None):
    """A run's legend label: its preset, else its method (and non-DCGAN architectures), else its folder name."""
    config = config or {}
    if config.get("preset"):
        return str(config["preset"])
    if config.get("method"):
        archs = [f"{config[k]} {k}" for k in ("generator", "critic") if config.get(k, "dcgan") != "dcgan"]
        return config["method"] + (f" ({', '.join(archs)})" if archs else "")
    return os.path.basename(os.path.normpath(run_dir))


def load_run(run_dir, label=None):
    """Read one run folder into a `Run`.

    Records are ordered by ``gen_iter``; if a generator iteration appears twice (a log written
    before a resume truncated it), the later record wins. The curve is ``w_estimate``; older logs
    without that field get ``-loss_d``, its definition. A record whose ``w_estimate`` is null (an
    objective without one) makes the run's curve the critic loss ``loss_d`` instead, as
    `plots.loss_curve` does.

    Raises
    ------
    ValueError
        One line naming the folder, when it is not a folder, has no metrics.jsonl, or has no record;
        naming the file when a line is JSON but not a record, or a gen_iter or loss is not a number.
    """
    path, by_iter = _records_by_iter(run_dir)
    gen_iters = np.array(sorted(by_iter))
    records = [by_iter[i] for i in gen_iters]
    estimate = all(r.get("w_estimate", 0.0) is not None for r in records)
    try:
        if estimate:
            values = [r["w_estimate"] if "w_estimate" in r else -r["loss_d"] for r in records]
        else:
            values = [r["loss_d"] for r in records]
        values = np.asarray(values, np.float64)
    except (TypeError, ValueError) as err:   # a value edited into a string, list, ...
        raise ValueError(f"{path}: a loss is not a number ({err})") from None
    config = _read_json(os.path.join(run_dir, "config.json"))
    return Run(run_dir, label or run_label(run_dir, config), gen_iters, values, estimate, sample_grids(run_dir))


def _records_by_iter(run_dir):
    """(path of metrics.jsonl, {gen_iter: record}) of a run folder, the later record winning a
    repeated gen_iter; the ValueErrors `load_run` documents."""
    if not os.path.isdir(run_dir):
        raise ValueError(f"{run_dir}: not a run folder")
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        raise ValueError(f"{run_dir}: no metrics.jsonl (is this a run folder?)")
    by_iter = {}
    for record in one_based(_read_records(path)):   # older runs counted 0..N-1
        if "gen_iter" in record and "loss_d" in record:
            if not isinstance(record["gen_iter"], int):
                raise ValueError(f"{path}: gen_iter {json.dumps(record['gen_iter'])[:40]} is not an integer")
            by_iter[record["gen_iter"]] = record
    if not by_iter:
        raise ValueError(f"{run_dir}: metrics.jsonl has no records yet")
    return path, by_iter


class Scores(NamedTuple):
    """The Inception Scores of one run folder (records with --eval-every's `is_mean`)."""
    path: str
    label: str
    gen_iters: np.ndarray        # (K,) generator iterations done when each score was computed
    seconds: np.ndarray          # (K,) training seconds by then (evaluations not counted)
    is_mean: np.ndarray          # (K,)
    is_std: np.ndarray           # (K,) spread over the splits
    network: str                 # config.json's `inception`: 'fid-inception' or 'gluoncv'
    eval_excluded: bool          # `seconds` leaves the evaluations out (runs that log eval_seconds)


def load_scores(run_dir, label=None):
    """Read the Inception Scores of one run folder into `Scores`.

    Raises
    ------
    ValueError
        One line naming the folder, as `load_run` does, or when no record has an Inception Score.
    """
    _, records = _records_by_iter(run_dir)   # the folder and its records, checked as for the other figure
    by_iter = {gen_iter: r for gen_iter, r in records.items() if "is_mean" in r}
    if not by_iter:
        raise ValueError(f"{run_dir}: metrics.jsonl has no Inception Score yet (train with --eval-every N)")
    records = [by_iter[i] for i in sorted(by_iter)]
    try:
        columns = {key: np.asarray([r[key] for r in records], np.float64)
                   for key in ("seconds", "is_mean", "is_std")}
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{run_dir}/metrics.jsonl: a score record lacks a number ({err})") from None
    config = _read_json(os.path.join(run_dir, "config.json"))
    return Scores(run_dir, label or run_label(run_dir, config), np.array(sorted(by_iter)), columns["seconds"],
                  columns["is_mean"], columns["is_std"], str(config.get("inception", "gluoncv")),
                  all("eval_seconds" in r for r in records))


def plot_inception_scores(runs, path):
    """The WGAN-GP paper's Fig. 3: each run's Inception Score against generator iterations (left) and
    against training wall-clock seconds (right), the spread over splits shaded; a PNG at `path`.

    Raises
    ------
    ValueError
        When the runs' scores come from different Inception networks, which do not compare.
    """
    networks = sorted({run.network for run in runs})
    if len(networks) > 1:
        raise ValueError(f"the runs' scores come from different Inception networks ({', '.join(networks)}), "
                         "which do not compare; plot them separately")
    note = ("the papers' Inception network" if networks == ["fid-inception"] else
            "gluoncv's InceptionV3: compares this package's runs only, not papers'")
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100, sharey=True)
    for i, run in enumerate(runs):
        for ax, x in zip(axes, (run.gen_iters, run.seconds)):
            ax.plot(x, run.is_mean, color=f"C{i % 10}", marker="o", markersize=3, linewidth=1.4, label=run.label)
            ax.fill_between(x, run.is_mean - run.is_std, run.is_mean + run.is_std, color=f"C{i % 10}", alpha=0.15)
    axes[0].set_xlabel("generator iterations")
    # Runs written before `eval_seconds` existed count their evaluations in `seconds`.
    axes[1].set_xlabel("wall-clock seconds of training" + (" (evaluations not counted)" if all(
        run.eval_excluded for run in runs) else " (evaluations counted in some runs)"))
    axes[0].set_ylabel("Inception Score")
    for ax in axes:
        ax.xaxis.set_major_locator(integer_ticks())
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=9)
    fig.suptitle(f"Inception Score during training (WGAN-GP paper, Fig. 3)\nnetwork: {note}", fontsize=11)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format=check_output(path, FIGURE_FORMATS))
    plt.close(fig)
    atomic_write(path, buffer.getvalue())


FIGURE_FORMATS = ("png", "pdf", "svg")   # what matplotlib writes without further packages


def check_output(path, formats):
    """The format (extension) `path` names, one of `formats`; ValueError, before any work, when it
    names another, or when `path` is a run folder's own file (metrics.jsonl, loss.png, samples/ ...)."""
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    if extension not in formats:
        raise ValueError(f"{path}: the file name must end in " + " or ".join("." + f for f in formats)
                         + ", the format written")
    found = run_file_at(path)
    if found is not None:
        raise ValueError(f"{path} would overwrite {found}, a file of a run folder; write elsewhere")
    return extension


def default_window(runs):
    """A median filter about 1/40 of the longest run, odd, from 1 to the paper-length runs' 101: a
    200-iteration run keeps its shape, a 100,000-iteration one is smoothed as in the WGAN paper."""
    longest = max((len(run.gen_iters) for run in runs), default=0)
    return min(101, 2 * (longest // 80) + 1)


def plot_w_estimates(runs, path, window=101):
    """The WGAN paper's Fig. 3: each run's Wasserstein estimate against generator iterations, with its
    latest sample grid beside it, saved as a PNG at `path`.

    Arjovsky et al. 2017, section 4.2 and Fig. 3: the estimate -loss_d of the critic, median-filtered
    (`plots.median_filter`, centred `window`) because single estimates are noisy; the raw values are
    drawn faintly behind. One colour per run, shared by its curve and the title of its samples.

    Parameters
    ----------
    runs : list of Run
        From `load_run`; at least one.
    path : str
        Output PNG, written atomically.
    window : int, default 101
        Median filter width in records (generator iterations); 1 draws the raw values only.
    """
    plt = _pyplot()
    n = len(runs)
    fig = plt.figure(figsize=(11, max(4.0, 2.6 * n)), dpi=100)
    grid = fig.add_gridspec(n, 2, width_ratios=(1.7, 1.0))
    curves = fig.add_subplot(grid[:, 0])
    for i, run in enumerate(runs):
        color = f"C{i % 10}"
        label = run.label if run.estimate else f"{run.label} (loss_d: no W estimate)"
        if window > 1:
            curves.plot(run.gen_iters, run.values, color=color, alpha=0.2, linewidth=0.6)
            curves.plot(run.gen_iters, median_filter(run.values, window), color=color, linewidth=1.4,
                        label=label)
        else:
            curves.plot(run.gen_iters, run.values, color=color, linewidth=1.0, label=label)
        panel = fig.add_subplot(grid[i, 1])
        panel.set_axis_off()
        if run.samples:
            gen_iter, image = run.samples[-1]
            panel.imshow(np.asarray(_read_rgb(image)))
            panel.set_title(f"{run.label}: samples at gen_iter {gen_iter}", color=color, fontsize=9)
        else:
            panel.text(0.5, 0.5, f"{run.label}: no samples yet", color=color, ha="center", va="center")
    curves.xaxis.set_major_locator(integer_ticks())
    curves.set_xlabel("generator iterations (gen_iter)")
    curves.set_ylabel("Wasserstein estimate (-loss_d)")
    curves.set_title("Critic's estimate" + (f", median filter of {window}" if window > 1 else ""))
    curves.grid(alpha=0.3)
    curves.legend(loc="best", fontsize=9)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format=check_output(path, FIGURE_FORMATS))
    plt.close(fig)
    atomic_write(path, buffer.getvalue())


# A GIF stores each frame's duration in hundredths of a second as an unsigned 16-bit number.
MAX_FRAME_MS = 655350


def frame_ms_problems(duration_ms):
    """Messages for a GIF frame duration (--frame-ms) a GIF cannot hold ([] when it can)."""
    if not 1 <= duration_ms <= MAX_FRAME_MS:
        return [f"--frame-ms must be from 1 to {MAX_FRAME_MS} (a GIF holds up to 655.35 s per frame), "
                f"got {duration_ms}"]
    return []


def save_progress_gif(run_dir, path, duration_ms=250):
    """A looping GIF of `run_dir`'s sample grids in gen_iter order, one frame per grid, at `path`.

    Each frame gets a caption strip with its ``gen_iter`` (which also keeps Pillow from merging
    identical frames, so the frame count is the grid count). Returns the number of frames.

    Raises
    ------
    ValueError
        If the run has no sample grid, or `duration_ms` is out of `frame_ms_problems`' range.
    """
    check_output(path, ("gif",))
    for problem in frame_ms_problems(duration_ms):
        raise ValueError(problem)
    grids = sample_grids(run_dir)
    if not grids:
        raise ValueError(f"{run_dir}: no sample grids in samples/ for a GIF")
    images = [_read_rgb(image) for _, image in grids]
    size = images[0].size
    images = [image if image.size == size else image.resize(size) for image in images]
    frames = [_caption(image, gen_iter) for image, (gen_iter, _) in zip(images, grids)]
    width = max(frame.width for frame in frames)
    frames = [_pad(frame, width) for frame in frames]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=duration_ms,
                   loop=0)
    atomic_write(path, buffer.getvalue())
    return len(frames)


def _caption(image, gen_iter):
    """`image` under a white strip reading ``gen_iter N``, widened if the text is wider than the image."""
    text = f"gen_iter {gen_iter}"
    strip = 14
    width = max(image.width, int(ImageDraw.Draw(image).textlength(text)) + 6)
    frame = Image.new("RGB", (width, image.height + strip), "white")
    frame.paste(image, (0, strip))
    ImageDraw.Draw(frame).text((3, 1), text, fill="black")
    return frame


def _pad(frame, width):
    if frame.width == width:
        return frame
    padded = Image.new("RGB", (width, frame.height), "white")
    padded.paste(frame, (0, 0))
    return padded


def _read_rgb(path):
    with Image.open(path) as image:
        return image.convert("RGB")


def _read_records(path):
    """The records of a metrics.jsonl; a line cut short by a kill is skipped (a run may be writing it).

    Raises ValueError naming the file and line for a line that is JSON but not an object: no kill
    writes that, so the file was edited or is not a metrics log.
    """
    records = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(record, dict):
                raise ValueError(f"{path}: line {number} holds {json.dumps(record)[:40]}, not a record "
                                 "(a JSON object such as {\"gen_iter\": 1, \"loss_d\": ...})")
            records.append(record)
    return records


def _read_json(path):
    """The object in the JSON file `path`, or {} if it is missing, unreadable or not an object (the
    label then falls back to the folder name)."""
    try:
        with open(path) as f:
            value = json.load(f)
    except (OSError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt
