"""The one folder every cache of the package lives under.

``$GLUON_WGAN_CACHE`` if it is set, else ``$XDG_CACHE_HOME/gluon_wgan`` (the XDG Base Directory
convention), else ``~/.cache/gluon_wgan``; an empty variable counts as unset. Each cache takes a
subfolder of it (``inception/``, ``fid_inception/``, ``lsun/``) except the native kernels, which stay
at its top, where ``$GLUON_WGAN_CACHE`` has always put them (so its users keep their builds). Nothing
here creates the folder: each cache does so when it writes.
"""
import os


def cache_path(*parts):
    """The absolute path of the package's cache folder, joined with `parts` (e.g. ``cache_path("lsun")``)."""
    root = os.environ.get("GLUON_WGAN_CACHE")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "gluon_wgan")
    return os.path.abspath(os.path.join(root, *parts))
