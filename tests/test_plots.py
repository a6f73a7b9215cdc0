import numpy as np
from PIL import Image

from gluon_wgan.plots import image_grid, loss_curve, median_filter, save_image_grid


def test_image_grid_layout_and_range():
    images = np.full((5, 3, 4, 4), -1.0, np.float32)
    images[1] = 1.0
    grid = image_grid(images, nrow=2, padding=1)
    assert grid.shape == (3 * 5 + 1, 2 * 5 + 1, 3)
    assert grid[1, 1, 0] == 0                     # image 0 is black
    assert grid[1, 6, 0] == 255                   # image 1 (row 0, column 1) is white


def test_save_image_grid_writes_png(tmp_path):
    path = str(tmp_path / "g.png")
    save_image_grid(np.zeros((4, 1, 8, 8)), path, nrow=2)
    assert Image.open(path).size == (2 * 10 + 2, 2 * 10 + 2)


def test_median_filter_removes_spike():
    np.testing.assert_array_equal(median_filter([1, 1, 9, 1, 1], 3), [1, 1, 1, 1, 1])


def test_loss_curve_png(tmp_path):
    records = [dict(gen_iter=i, loss_d=-1.0 / (i + 1), w_estimate=1.0 / (i + 1)) for i in range(20)]
    path = str(tmp_path / "loss.png")
    loss_curve(records, path, window=5)
    assert Image.open(path).format == "PNG"


def test_loss_figure_of_a_short_run_has_integer_ticks_and_a_legend():
    from gluon_wgan.plots import loss_figure
    records = [dict(gen_iter=i, w_estimate=0.1 * i, loss_d=-0.1 * i) for i in range(4)]
    for window in (1, 3):
        fig = loss_figure(records, window=window)
        ax = fig.axes[0]
        fig.canvas.draw()
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
        assert len(ax.get_legend().get_texts()) == (1 if window == 1 else 2)
