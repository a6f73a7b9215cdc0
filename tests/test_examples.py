"""The stand-ins of docs/reproducing.md's CPU Fig. 3 run: photo patches and random Inception weights."""
import os
import subprocess
import sys

import matplotlib.cbook
import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def example(name, *argv):
    return subprocess.run([sys.executable, os.path.join(ROOT, "docs", "examples", name), *argv],
                          capture_output=True, text=True, timeout=300)


def test_photo_patches_are_32x32_crops_of_the_photograph(tmp_path):
    photo = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    result = example("photo_patches.py", str(tmp_path), "--n", "6", "--images", photo)
    assert result.returncode == 0, result.stderr
    names = sorted(os.listdir(tmp_path))
    assert names == [f"{i:05d}.png" for i in range(6)]
    patches = [np.asarray(Image.open(tmp_path / name)) for name in names]
    assert all(p.shape == (32, 32, 3) for p in patches)
    assert len({p.tobytes() for p in patches}) == 6   # different crops


def test_random_inception_weights_load_as_weights_file(tmp_path):
    from gluon_wgan.training.evaluate import make_extractor
    out = tmp_path / "random.params"
    result = example("random_inception.py", str(out), "--seed", "3")
    assert result.returncode == 0, result.stderr
    from_file = make_extractor("gluoncv", str(out), dims=64)
    from_seed = make_extractor("gluoncv", random_init=True, seed=3, dims=64)
    images = np.random.RandomState(0).uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(from_file(images)[0], from_seed(images)[0])
