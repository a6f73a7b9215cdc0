"""gluon_wgan.tools.runs on run folders synthesized in tmp_path (the file layout of training/loop.py)."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from gluon_wgan.plots import median_filter
from gluon_wgan.tools.runs import load_run, load_scores, plot_w_estimates, run_label, sample_grids, save_progress_gif

from conftest import make_run


def test_a_run_counting_from_zero_reads_one_based(tmp_path):
    """metrics.jsonl counted 0..N-1 before issue 24: such a folder's curve and scores read 1..N."""
    folder = tmp_path / "old"
    os.makedirs(folder)
    with open(folder / "metrics.jsonl", "w") as f:
        for i in range(3):
            f.write(json.dumps(dict(gen_iter=i, loss_d=-0.5, loss_g=0.1, w_estimate=0.5, seconds=float(i),
                                    **(dict(is_mean=2.0, is_std=0.1) if i == 2 else {}))) + "\n")
    np.testing.assert_array_equal(load_run(str(folder)).gen_iters, [1, 2, 3])
    assert load_scores(str(folder)).gen_iters.tolist() == [3]


def test_median_filter_known_series():
    # window 3 around each point, shrunk to 2 points at the ends (np.median of an even count averages)
    values = [5, 1, 9, 2, 8, 3]
    np.testing.assert_array_equal(median_filter(values, 3), [3.0, 5.0, 2.0, 8.0, 3.0, 5.5])
    np.testing.assert_array_equal(median_filter(values, 1), values)


def test_load_run_reads_curve_label_and_samples(tmp_path):
    run_dir = make_run(tmp_path / "a", [0.5, 0.4, 0.3], sample_iters=(1000, 500, 20),
                       config=dict(method="wgan", generator="mlp", critic="dcgan"),
                       extra_lines=['{"gen_iter": 3, "loss_d"'])          # cut short by a kill: skipped
    run = load_run(run_dir)
    np.testing.assert_array_equal(run.gen_iters, [1, 2, 3])
    np.testing.assert_array_equal(run.values, [0.5, 0.4, 0.3])
    assert run.estimate and run.label == "wgan (mlp generator)"
    assert [g for g, _ in run.samples] == [20, 500, 1000]                  # numeric order; real.png left out
    assert load_run(run_dir, label="mine").label == "mine"


def test_load_run_later_record_wins_and_old_logs_use_minus_loss_d(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    lines = [dict(gen_iter=1, loss_d=-2.0), dict(gen_iter=0, loss_d=-1.0), dict(gen_iter=1, loss_d=-3.0)]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    run = load_run(str(run_dir))
    np.testing.assert_array_equal(run.gen_iters, [0, 1])
    np.testing.assert_array_equal(run.values, [1.0, 3.0])
    assert run.label == "r"                                                # no config.json: folder name


def test_objective_without_estimate_plots_loss_d(tmp_path):
    run_dir = tmp_path / "gan"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text(json.dumps(dict(gen_iter=0, loss_d=1.3, w_estimate=None)) + "\n")
    run = load_run(str(run_dir))
    assert not run.estimate and run.values.tolist() == [1.3]


def test_run_label_prefers_preset():
    assert run_label("/x/run", dict(preset="wgan-lsun64", method="wgan")) == "wgan-lsun64"
    assert run_label("/x/run", dict(method="wgan-gp")) == "wgan-gp"
    assert run_label("/x/run/", {}) == "run"


@pytest.mark.parametrize("setup,message", [
    (lambda d: None, "not a run folder"),
    (lambda d: d.mkdir(), "no metrics.jsonl"),
    (lambda d: (d.mkdir(), (d / "metrics.jsonl").write_text("")), "no records"),
])
def test_load_run_bad_folder(tmp_path, setup, message):
    folder = tmp_path / "bad"
    setup(folder)
    with pytest.raises(ValueError, match=message):
        load_run(str(folder))


def test_plot_w_estimates_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    runs = [load_run(make_run(tmp_path / "a", rng.normal(1.0, 0.1, 300), (100, 200), dict(method="wgan"))),
            load_run(make_run(tmp_path / "b", rng.normal(0.5, 0.1, 50), (), dict(method="wgan-gp")))]
    path = str(tmp_path / "fig3.png")
    plot_w_estimates(runs, path, window=101)
    image = Image.open(path)
    assert image.format == "PNG" and image.size[0] > image.size[1] > 0


def test_progress_gif_frames_in_gen_iter_order(tmp_path):
    iters = (2000, 100, 0, 500)
    run_dir = make_run(tmp_path / "a", [1.0], sample_iters=iters)
    path = str(tmp_path / "progress.gif")
    assert save_progress_gif(run_dir, path) == len(iters)
    gif = Image.open(path)
    assert gif.n_frames == len(iters)
    shades = []
    for index in range(gif.n_frames):
        gif.seek(index)
        frame = np.asarray(gif.convert("RGB"))
        shades.append(int(frame[-5, 5, 0]))        # a pixel of the grid, below the caption strip
    assert shades == [(g * 37) % 256 for g in sorted(iters)]
    assert [g for g, _ in sample_grids(run_dir)] == sorted(iters)


def test_progress_gif_identical_grids_stay_separate_frames(tmp_path):
    run_dir = make_run(tmp_path / "a", [1.0], sample_iters=(256, 512))   # same shade: (g * 37) % 256 == 0
    assert save_progress_gif(run_dir, str(tmp_path / "p.gif")) == 2
    assert Image.open(str(tmp_path / "p.gif")).n_frames == 2


def test_progress_gif_without_samples(tmp_path):
    with pytest.raises(ValueError, match="no sample grids"):
        save_progress_gif(make_run(tmp_path / "a", [1.0]), str(tmp_path / "p.gif"))
