"""gluon_wgan/utils/cache.py: one folder for every cache, chosen by one rule."""
import os

import pytest

from gluon_wgan.data import lsun
from gluon_wgan.metrics import fid_weights
from gluon_wgan.training import evaluate
from gluon_wgan.utils.cache import cache_path


@pytest.mark.parametrize("ours,xdg,expected", [
    ("mine", "xdg", "mine"),                     # GLUON_WGAN_CACHE wins
    (None, "xdg", os.path.join("xdg", "gluon_wgan")),
    ("", "xdg", os.path.join("xdg", "gluon_wgan")),   # an empty variable counts as unset
    (None, None, os.path.join("home", ".cache", "gluon_wgan")),
    (None, "", os.path.join("home", ".cache", "gluon_wgan")),
])
def test_the_rule(tmp_path, monkeypatch, ours, xdg, expected):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name, value in (("GLUON_WGAN_CACHE", ours), ("XDG_CACHE_HOME", xdg)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, str(tmp_path / value) if value else "")
    assert cache_path() == str(tmp_path / expected)
    assert cache_path("lsun", "x.npz") == str(tmp_path / expected / "lsun" / "x.npz")


@pytest.mark.parametrize("variable", ["GLUON_WGAN_CACHE", "XDG_CACHE_HOME"])
def test_every_cache_follows_it(tmp_path, monkeypatch, variable):
    """Before: the LSUN key index ignored both variables, the statistics and converted weights ignored
    GLUON_WGAN_CACHE, the native kernels ignored XDG_CACHE_HOME."""
    from gluon_wgan import native
    monkeypatch.delenv("GLUON_WGAN_CACHE", raising=False)
    monkeypatch.setenv(variable, str(tmp_path))
    root = cache_path()
    assert root == (str(tmp_path) if variable == "GLUON_WGAN_CACHE" else str(tmp_path / "gluon_wgan"))
    assert evaluate.default_cache_dir() == os.path.join(root, "inception")
    assert fid_weights.default_cache_dir() == os.path.join(root, "fid_inception")
    assert os.path.dirname(lsun.cache_paths(str(tmp_path / "db" / "bedroom_train_lmdb"))[-1]) == \
        os.path.join(root, "lsun")
    assert os.path.dirname(native.cached_library()) == root    # at the top, where it always was
