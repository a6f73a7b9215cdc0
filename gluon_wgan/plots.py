"""Figures from plain numpy arrays and metric records. matplotlib is imported lazily, with Agg."""
import io

import numpy as np
from PIL import Image

from .utils.files import atomic_write


def image_grid(images, nrow=8, padding=2):
    """(N, C, H, W) floats in [-1, 1] -> one uint8 (H', W', 3) image, `nrow` images per row."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, 1 or 3, H, W), got shape {images.shape}")
    n, c, h, w = images.shape
    ncol = min(nrow, n)
    nrows = -(-n // ncol)
    pixels = np.clip((images + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    if c == 1:
        pixels = np.repeat(pixels, 3, axis=1)
    grid = np.zeros((nrows * (h + padding) + padding, ncol * (w + padding) + padding, 3), np.uint8)
    for i, img in enumerate(pixels):
        r, col = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[top:top + h, left:left + w] = img.transpose(1, 2, 0)
    return grid


def save_image_grid(images, path, nrow=8):
    """Write `image_grid(images, nrow)` to `path` as a PNG, atomically."""
    buffer = io.BytesIO()
    Image.fromarray(image_grid(images, nrow)).save(buffer, format="PNG")
    atomic_write(path, buffer.getvalue())


def median_filter(values, window):
    """Running median over a centred window (shrunk at the ends), as the WGAN paper smooths its curves."""
    values = np.asarray(values, dtype=np.float64)
    half = max(int(window), 1) // 2
    return np.array([np.median(values[max(0, i - half):i + half + 1]) for i in range(len(values))])


def loss_curve(records, path, window=1, title=None):
    """Plot the Wasserstein estimate (-loss_d) against generator iterations, and save it as a PNG.

    For a non-Wasserstein objective, where there is no estimate, the critic loss itself is drawn.
    """
    _save(loss_figure(records, window, title), path)


def loss_figure(records, window=1, title=None):
    """The figure of `loss_curve`."""
    plt = _pyplot()
    gen_iters = [r["gen_iter"] for r in records]
    use_w = bool(records) and records[0].get("w_estimate") is not None
    values = [r["w_estimate"] if use_w else r["loss_d"] for r in records]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    if records:
        ax.plot(gen_iters, values, color="0.75" if window > 1 else "C0", linewidth=0.8,
                label="every generator iteration")
        if window > 1:
            ax.plot(gen_iters, median_filter(values, window), color="C0", label=f"median of {window}")
        ax.legend(loc="best")
    ax.xaxis.set_major_locator(integer_ticks())   # iterations: no 2.5 on a short run's axis
    ax.set_xlabel("generator iterations")
    ax.set_ylabel("Wasserstein estimate (-loss_d)" if use_w else "critic loss (loss_d)")
    ax.set_title(title or "Critic's estimate over training")
    ax.grid(alpha=0.3)
    return fig


def integer_ticks():
    """Tick positions at integers only (iterations: no 2.5 on a short run's axis)."""
    from matplotlib.ticker import MaxNLocator
    return MaxNLocator(integer=True)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path):
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    _pyplot().close(fig)
    atomic_write(path, buffer.getvalue())


# Toy experiments of the WGAN-GP paper (Gulrajani et al. 2017, Figure 1); see gluon_wgan.training.toy.

def _save_palette(fig, path, suptitle=False):
    """`_save`, with the PNG reduced to a 256-colour palette: contour plots shrink about 3x."""
    buffer = io.BytesIO()
    fig.tight_layout(rect=(0, 0, 1, 0.93) if suptitle else None)   # room above the panels' titles
    fig.savefig(buffer, format="png")
    _pyplot().close(fig)
    buffer.seek(0)
    image = Image.open(buffer).convert("RGB").quantize(colors=256)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    atomic_write(path, out.getvalue())


def _scatter_lim(ax, lim):
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)


def toy_samples_and_critic(real, fake, xs, ys, values, path, title=None, lim=None):
    """Three panels: real points, generated points, and the critic's contours over both.

    Parameters
    ----------
    real, fake : ndarray, shape (N, 2) and (M, 2)
    xs, ys : ndarray, shapes (P,) and (Q,)
        Grid coordinates of `values`.
    values : ndarray, shape (Q, P)
        Critic values, ``values[j, i]`` at (xs[i], ys[j]).
    path : str
        PNG written atomically.
    """
    plt = _pyplot()
    real, fake, values = np.asarray(real), np.asarray(fake), np.asarray(values)
    lim = lim or float(max(abs(xs[0]), abs(xs[-1])))
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.7), dpi=80)
    axes[0].scatter(real[:, 0], real[:, 1], s=2, c="C1")
    axes[0].set_title("real samples")
    axes[1].scatter(fake[:, 0], fake[:, 1], s=2, c="C2")
    axes[1].set_title("generated samples")
    axes[2].contour(xs, ys, values, levels=20, linewidths=0.8, cmap="viridis")
    axes[2].scatter(real[:, 0], real[:, 1], s=2, c="C1", marker="+", label="real")
    axes[2].scatter(fake[:, 0], fake[:, 1], s=2, c="C2", marker="+", label="generated")
    axes[2].legend(loc="lower right", fontsize=8, markerscale=4)
    axes[2].set_title("critic value contours")
    for ax in axes:
        _scatter_lim(ax, lim)
    if title:
        fig.suptitle(title)
    _save_palette(fig, path, suptitle=bool(title))


def w1_curve(curve, path, floor=None, title=None):
    """Exact W1 (generated vs real points) against generator iterations, log scale.

    Parameters
    ----------
    curve : sequence of (gen_iter, w1)
    floor : float, optional
        W1 between two independent real sets of the same size, drawn as a dashed line: sampling
        noise alone, the value a perfect generator would reach.
    """
    plt = _pyplot()
    curve = np.asarray(curve, dtype=np.float64).reshape(-1, 2)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=80)
    ax.plot(curve[:, 0], curve[:, 1], marker="o", markersize=3, label="generated vs real")
    if floor is not None:
        ax.axhline(floor, color="0.5", linestyle="--", label="real vs real (sampling floor)")
    ax.set_yscale("log")
    ax.set_xlabel("generator iterations")
    ax.set_ylabel("exact W1")
    ax.set_title(title or "Exact 1-Wasserstein distance over training", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper right")
    _save_palette(fig, path)


def toy_value_surfaces(surfaces, points, row_labels, col_labels, path):
    """A grid of critic value surfaces (Gulrajani et al. 2017, Figure 1(a)): rows x columns.

    Parameters
    ----------
    surfaces : dict
        ``(row_label, col_label) -> (xs, ys, values)`` as `toy_samples_and_critic` takes them.
    points : dict
        ``col_label -> (N, 2) ndarray`` of real points drawn over that column's surfaces.
    row_labels, col_labels : list of str
    """
    plt = _pyplot()
    fig, axes = plt.subplots(len(row_labels), len(col_labels), squeeze=False,
                             figsize=(3.3 * len(col_labels), 3.3 * len(row_labels)), dpi=80)
    for r, row in enumerate(row_labels):
        for c, col in enumerate(col_labels):
            ax = axes[r, c]
            xs, ys, values = surfaces[row, col]
            ax.contour(xs, ys, values, levels=20, linewidths=0.8, cmap="viridis")
            pts = np.asarray(points[col])
            ax.scatter(pts[:, 0], pts[:, 1], s=1, c="C1")
            _scatter_lim(ax, float(max(abs(xs[0]), abs(xs[-1]))))
            if r == 0:
                ax.set_title(col)
            if c == 0:
                ax.set_ylabel(row, fontsize=9)
    _save_palette(fig, path)


def layer_grad_norms_and_weights(norms, weights, path):
    """Gulrajani et al. 2017, Figure 1(b): per-layer critic gradient norms, and weight histograms.

    Parameters
    ----------
    norms : dict
        ``label -> (L,) ndarray``: norm of the critic loss's gradient w.r.t. layer k's activations
        (k = 0 is the input), drawn on a log scale.
    weights : dict
        ``label -> 1-D ndarray`` of critic weights, one histogram each.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 1 + len(weights), figsize=(5 + 3.5 * len(weights), 4), dpi=80)
    ax = axes[0]
    for label, values in norms.items():
        ax.plot(np.arange(len(values)), values, marker="o", markersize=3, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("critic layer (0 = input)")
    ax.set_ylabel("gradient norm (log scale)")
    ax.set_title("Gradient of the critic loss w.r.t. activations", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    for ax, (label, values) in zip(axes[1:], weights.items()):
        values = np.asarray(values).ravel()
        # The central 99.8%: a few large first-layer weights (fan-in 2) would squash the bulk.
        low, high = np.percentile(values, [0.1, 99.9])
        ax.hist(values, bins=100, range=(low, high) if high > low else None, color="C0")
        ax.set_title(f"critic weights, {label}", fontsize=10)
        ax.set_xlabel("weight value (central 99.8%)")
    _save_palette(fig, path)
