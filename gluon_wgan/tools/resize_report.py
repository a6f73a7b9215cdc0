"""compare_resize.py's report: `run(source, size, limit, outdir)` measures the resize backends on the
images of `source` (resize_compare.py) and writes ``report.md``, ``report.csv``, ``heatmap.png`` and
``crops.png`` to `outdir`. docs/resize.md explains the numbers.
"""
import csv
import io
import os

import numpy as np
from PIL import Image

from ..data.transforms import BACKENDS, FILTERS, INTERPOLATIONS, BadRecord, check_pixels
from ..utils.files import atomic_write, check_writable_dir
from .resize_compare import (METRICS, PAIRS, REFERENCE, Report, Source, check_memory, measure, resize_variants,
                             summarise)

COLUMNS = ("image", "backend_a", "backend_b", "interpolation") + METRICS + ("constant_a", "constant_b")
# Variants with a story, named in the reference table of report.md.
NOTES = {("pillow", "bicubic"): "this project's default (--interpolation bicubic)",
         ("mxnet", "area"): "GluonCV's WGAN script (imresize interp=3)",
         ("mxnet", "bilinear"): "Gluon transforms.Resize default (interp=1)"}


def run(source, size=64, limit=None, outdir=".", progress=None):
    """Compare the three resize backends on the images of `source` and write the report to `outdir`.

    Parameters
    ----------
    source : str
        An image file, a folder of images (searched recursively), or an lmdb database folder.
    size : int, default 64
        Output height = width (shorter side resized to `size`, then centre crop, as in training).
    limit : int, optional
        Compare at most this many images.
    outdir : str, default '.'
        Folder for report.md, report.csv, heatmap.png and crops.png (created if missing).
    progress : callable, optional
        Wraps the image loop, called as ``progress(iterable, total=n)``; e.g. ``tqdm.tqdm``.

    Returns
    -------
    Report

    Raises
    ------
    ValueError
        One line naming the argument: input missing, empty or unreadable; size or limit below 1.
    """
    if int(size) != size or size < 1:
        raise ValueError(f"--size must be a positive integer, got {size!r}")
    if limit is not None and (int(limit) != limit or limit < 1):
        raise ValueError(f"--limit must be a positive integer, got {limit!r}")
    check_memory(size)
    try:
        check_pixels(size, size, f"--size {size} is too large: resized images of")
    except BadRecord as err:
        raise ValueError(str(err)) from None
    images = Source(source, limit)
    try:
        check_writable_dir(outdir)
    except ValueError as err:
        raise ValueError(f"--outdir: {err}") from None
    rows, reference, gluoncv, bad, figure_index, converted = measure(images, size, progress)
    if not rows:
        reason = f" ({bad[0][1]})" if len(bad) == 1 else ""
        raise ValueError(f"input {source!r}: none of its {len(images)} records is a readable image{reason}")
    figure_image = images.load(figure_index)
    paths = {k: os.path.join(outdir, v) for k, v in
             dict(md="report.md", csv="report.csv", heatmap="heatmap.png", crops="crops.png").items()}
    variants = resize_variants(figure_image, size)
    _save_figure(heatmap_figure(variants, images.name(figure_index)), paths["heatmap"])
    _save_figure(crops_figure(figure_image, variants, images.name(figure_index)), paths["crops"])
    summary = summarise(rows)
    report = Report(rows, summary, reference, gluoncv, len(rows) // (len(INTERPOLATIONS) * len(PAIRS)), bad,
                    images.name(figure_index), paths, converted)
    atomic_write(paths["csv"], to_csv(rows))
    atomic_write(paths["md"], to_markdown(report, source, size))
    return report



def to_csv(rows):
    """The rows as CSV text with a header of `COLUMNS`; PSNR of identical images is written 'inf'."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row[k]) for k in COLUMNS})
    return buffer.getvalue()



def _csv_value(value):
    if isinstance(value, float):
        return "inf" if np.isinf(value) else f"{value:.6g}"
    return value



def _fmt(value, digits=2):
    if isinstance(value, float) and np.isinf(value):
        return "inf (identical)"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)



def _versions():
    import cv2
    import mxnet as mx
    import PIL
    return f"Pillow {PIL.__version__}, OpenCV (cv2) {cv2.__version__}, MXNet {mx.__version__}"



def filter_table():
    """Markdown table: each interpolation name and the constant (with its integer) of each library."""
    lines = ["| interpolation | Pillow | OpenCV (cv2.resize) | mx.image.imresize |", "|---|---|---|---|"]
    for name in INTERPOLATIONS:
        cells = [f"`{FILTERS[b][name].constant}`" + (f" = {FILTERS[b][name].code}" if b != "mxnet" else "")
                 for b in BACKENDS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)



def _pair_label(a, b, name):
    return f"`{FILTERS[a][name].constant}` vs `{FILTERS[b][name].constant}`"



def to_markdown(report, source, size):
    """The text of report.md."""
    single = report.images == 1
    lines = [
        "# Resize comparison: Pillow vs OpenCV vs mx.image.imresize", "",
        f"Input: `{source}`: {report.images} image{'s' if report.images != 1 else ''} compared"
        + (f", {len(report.skipped)} unreadable record(s) skipped" if report.skipped else "") + ". "
        f"Each image is resized with its shorter side to {size} px and centre-cropped to {size} x {size}, "
        f"as in training. {_versions()}.", "",
        "## The filters: names, and each library's constant", "",
        filter_table(), "",
        "**The integer 3 is `PIL.Image.Resampling.BICUBIC` to Pillow but `cv2.INTER_AREA` to OpenCV and to "
        "`mx.image.imresize` (which forwards its `interp` to OpenCV).** Never pass a bare number: this "
        "project takes filter names and looks up each library's constant.", "",
        "## Differences", "",
        "d = |a - b| per channel value: max_abs = max d, mean_abs = mean d, l1 = sum d, share_gt10 = share of "
        "pixels whose largest channel difference exceeds 10, PSNR in dB (inf: identical).", "",
        *differences_table(report), "",
        *reference_table(report.reference, single), "",
        *_gluoncv_section(report.gluoncv), "",
        "## Figures", "",
        f"Image shown: `{report.figure_image}`"
        + ("" if single else " (the largest Pillow-vs-OpenCV bicubic mean_abs)") + ".", "",
        "![Absolute differences, largest channel, per pair and filter](heatmap.png)", "",
        "![Central crops of each backend's output, enlarged without smoothing](crops.png)", "",
    ]
    if report.converted:
        lines += ["## Images converted to RGB before resizing", "",
                  "Transparent images are composited on white (the alpha channel itself is not compared); "
                  "grayscale is copied to three channels.", ""]
        lines += [f"- `{name}`: {mode}" for name, mode in report.converted[:50]]
        if len(report.converted) > 50:
            lines.append(f"- ... and {len(report.converted) - 50} more")
        lines.append("")
    if report.skipped:
        lines += ["## Unreadable records skipped", ""]
        lines += [f"- `{name}`: {reason}" for name, reason in report.skipped[:50]]
        if len(report.skipped) > 50:
            lines.append(f"- ... and {len(report.skipped) - 50} more")
        lines.append("")
    return "\n".join(lines)



def differences_table(report):
    """Markdown lines: library pairs per filter; the values for one image, else their distribution."""
    if report.images == 1:
        lines = ["| interpolation | compared | max_abs | mean_abs | l1 | share_gt10 | PSNR (dB) |",
                 "|---|---|---:|---:|---:|---:|---:|"]
        for r in report.rows:
            lines.append(f"| {r['interpolation']} | {_pair_label(r['backend_a'], r['backend_b'], r['interpolation'])} "
                         f"| {r['max_abs']} | {_fmt(r['mean_abs'], 3)} | {r['l1']} | {_fmt(r['share_gt10'], 4)} "
                         f"| {_fmt(r['psnr'])} |")
    else:
        lines = ["| interpolation | compared | max_abs median | max_abs p95 | mean_abs median | mean_abs p95 "
                 "| PSNR median (dB) | worst image (mean_abs) |", "|---|---|---:|---:|---:|---:|---:|---|"]
        for s in report.summary:
            lines.append(f"| {s['interpolation']} | {_pair_label(s['backend_a'], s['backend_b'], s['interpolation'])} "
                         f"| {_fmt(s['max_abs_median'], 1)} | {_fmt(s['max_abs_p95'], 1)} "
                         f"| {_fmt(s['mean_abs_median'], 3)} | {_fmt(s['mean_abs_p95'], 3)} "
                         f"| {_fmt(s['psnr_median'])} | `{s['worst_image']}` ({_fmt(s['worst_mean_abs'], 3)}) |")
    return lines



def _gluoncv_section(rows):
    """Markdown lines: what GluonCV's WGAN script meant (Pillow BICUBIC, 3) against what it ran (imresize 3)."""
    def median(metric):
        return float(np.median([r[metric] for r in rows]))
    return ["## GluonCV's WGAN script: the filter it meant and the one it ran", "",
            f"Meant: `{FILTERS['pillow']['bicubic'].constant}` (3). Ran: `mx.image.imresize(..., interp=3)`, "
            f"i.e. `{FILTERS['mxnet']['area'].constant}`. Difference over {len(rows)} image(s): mean_abs median "
            f"{_fmt(median('mean_abs'), 3)}, max_abs median {_fmt(median('max_abs'), 1)}, PSNR median "
            f"{_fmt(median('psnr'))} dB."]



def reference_table(rows, single):
    """Markdown lines: every variant against the reference pipeline, closest first (medians over images)."""
    groups = {}
    for row in rows:
        groups.setdefault((row["backend"], row["interpolation"]), []).append(row)
    median = {key: {m: float(np.median([r[m] for r in group])) for m in ("mean_abs", "max_abs", "psnr")}
              for key, group in groups.items()}
    head = "" if single else " median"
    lines = ["## Against the PyTorch reference pipeline", "",
             f"The WGAN reference code resizes with torchvision `transforms.Scale` on PIL images, whose default "
             f"is `{FILTERS[REFERENCE[0]][REFERENCE[1]].constant}`. Each variant against that output, closest "
             "first:", "",
             f"| variant | mean_abs{head} | max_abs{head} | PSNR{head} (dB) | note |", "|---|---:|---:|---:|---|"]
    for key in sorted(median, key=lambda k: median[k]["mean_abs"]):
        m = median[key]
        lines.append(f"| `{FILTERS[key[0]][key[1]].constant}` | {_fmt(m['mean_abs'], 3)} | {_fmt(m['max_abs'], 1)} "
                     f"| {_fmt(m['psnr'])} | {NOTES.get(key, '')} |")
    return lines



def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt



def _save_figure(fig, path):
    """Write `fig` as an RGB PNG: dropping matplotlib's opaque alpha channel keeps the file ~10% smaller."""
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    buffer.seek(0)
    rgb = io.BytesIO()
    Image.open(buffer).convert("RGB").save(rgb, format="PNG", optimize=True)
    atomic_write(path, rgb.getvalue())



def _label(backend, name):
    """A figure label: the library's constant, keeping OpenCV's name beside imresize's integer code."""
    return FILTERS[backend][name].constant.replace("mx.image.imresize ", "imresize ").replace("(OpenCV ", "(")



def heatmap_figure(variants, title):
    """Figure: |a - b| (largest channel) for each interpolation (rows) and backend pair (columns)."""
    plt = _pyplot()
    diffs = {(n, a, b): np.abs(variants[a, n].astype(np.int32) - variants[b, n].astype(np.int32))
             for n in INTERPOLATIONS for a, b in PAIRS}
    vmax = max(1, max(int(d.max()) for d in diffs.values()))
    fig, axes = plt.subplots(len(INTERPOLATIONS), len(PAIRS), figsize=(3.2 * len(PAIRS), 2.9 * len(INTERPOLATIONS)),
                             squeeze=False, constrained_layout=True)
    for i, name in enumerate(INTERPOLATIONS):
        for j, (a, b) in enumerate(PAIRS):
            d = diffs[name, a, b]
            shown = axes[i][j].imshow(d.max(axis=-1), cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
            axes[i][j].set_title(f"{_label(a, name)}\nvs {_label(b, name)}\nmax_abs {d.max()}, mean_abs {d.mean():.2f}",
                                 fontsize=7)
            axes[i][j].set_xticks([])
            axes[i][j].set_yticks([])
    fig.colorbar(shown, ax=axes, shrink=0.6, label="|difference| (0-255, largest channel)")
    fig.suptitle(f"Resize differences: {title}", fontsize=9)
    return fig



def crops_figure(image, variants, title):
    """Figure: the source (left) and the central crop of each backend's output per interpolation."""
    plt = _pyplot()
    size = next(iter(variants.values())).shape[0]
    crop = max(8, size // 2)
    top = (size - crop) // 2
    fig = plt.figure(figsize=(2.2 * (len(BACKENDS) + 1.5), 2.2 * len(INTERPOLATIONS)), constrained_layout=True)
    grid = fig.add_gridspec(len(INTERPOLATIONS), len(BACKENDS) + 1, width_ratios=[1.5] + [1] * len(BACKENDS))
    source = fig.add_subplot(grid[:, 0])
    source.imshow(np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image))
    source.set_title("source (full)", fontsize=8)
    source.axis("off")
    for i, name in enumerate(INTERPOLATIONS):
        for j, backend in enumerate(BACKENDS):
            ax = fig.add_subplot(grid[i, j + 1])
            ax.imshow(variants[backend, name][top:top + crop, top:top + crop], interpolation="nearest")
            ax.set_title(_label(backend, name), fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"{title}: central {crop} x {crop} of the {size} x {size} outputs", fontsize=9)
    return fig
