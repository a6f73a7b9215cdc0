"""scripts/compare_resize.py: outputs, progress bar, --help, and one-line errors with exit code 2."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "compare_resize.py")


def cli(*argv):
    return subprocess.run([sys.executable, SCRIPT, *argv], capture_output=True, text=True, timeout=120)


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    rng = np.random.default_rng(0)
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, (40 + k, 48, 3), dtype=np.uint8)).save(root / f"{k}.png")
    return str(root)


def test_writes_all_outputs_with_a_progress_bar(images, tmp_path):
    out = tmp_path / "out"
    result = cli(images, "--size", "16", "--outdir", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out)) == ["crops.png", "heatmap.png", "report.csv", "report.md"]
    assert "3/3" in result.stderr                       # tqdm writes to stderr
    assert "3 image(s) compared" in result.stdout and "Pillow vs OpenCV bicubic" in result.stdout
    assert len((out / "report.csv").read_text().splitlines()) == 1 + 3 * 15


def load_script():
    from importlib import util
    spec = util.spec_from_file_location("compare_resize", SCRIPT)
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_limit(images, tmp_path):
    assert load_script().main([images, "--size", "8", "--limit", "2", "--no-progress",
                               "--outdir", str(tmp_path / "o")]) == 0
    assert len((tmp_path / "o" / "report.csv").read_text().splitlines()) == 1 + 2 * 15


def test_help_names_filters_and_the_integer_trap():
    result = cli("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for needle in ("--size", "--limit", "--outdir", "lmdb", "bicubic", "INTER_AREA", "the integer 3 is BICUBIC"):
        assert needle in text


@pytest.mark.parametrize("argv,message", [
    (["/no/such/image.jpg"], "input '/no/such/image.jpg' does not exist"),
    ([], "the following arguments are required: input"),
])
def test_bad_input_exits_2_with_one_line(argv, message, tmp_path):
    """In a real process: the exit code and the whole of stderr."""
    result = cli(*argv, "--outdir", str(tmp_path / "o"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"compare_resize.py: error: {message}"]
    assert not os.path.exists(tmp_path / "o")


@pytest.mark.parametrize("argv,message", [
    (["{images}", "--size", "0"], "--size must be a positive integer, got 0"),
    (["{images}", "--size", "big"], "argument --size: invalid int value: 'big'"),
    (["{images}", "--limit", "-3"], "--limit must be a positive integer, got -3"),
    (["{empty}"], "holds no images"),
    (["{images}/0.png", "--outdir", "{images}/0.png/sub"], "--outdir: output folder"),
])
def test_more_bad_input_in_process(argv, message, images, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    argv = [a.format(images=images, empty=tmp_path / "empty") for a in argv]
    with pytest.raises(SystemExit) as exit_:
        load_script().main(argv + ["--no-progress"] + ([] if "--outdir" in argv else ["--outdir", str(tmp_path / "o")]))
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("compare_resize.py: error: ") and message in lines[0]
    assert not os.path.exists(tmp_path / "o")


def test_a_transparent_image_is_named_in_the_report(tmp_path, capsys):
    """matplotlib's RGBA logo beside an RGB image: the report says which was composited on white."""
    import matplotlib.cbook
    root = tmp_path / "mixed"
    root.mkdir()
    logo = Image.open(matplotlib.cbook.get_sample_data("logo2.png", asfileobj=False))
    assert logo.mode == "RGBA"
    logo.save(root / "logo.png")
    Image.fromarray(np.zeros((40, 48, 3), dtype=np.uint8)).save(root / "plain.png")
    assert load_script().main([str(root), "--size", "16", "--no-progress", "--outdir", str(tmp_path / "o")]) == 0
    assert "1 converted to RGB first" in capsys.readouterr().out
    report = (tmp_path / "o" / "report.md").read_text()
    assert "## Images converted to RGB before resizing" in report and "- `logo.png`: RGBA" in report
    assert "plain.png`:" not in report
