"""Refuses an unsupported Python in one line before pip builds or installs anything.

pip reads pyproject.toml's requires-python only once it has resolved every requirement, so on
another Python `pip install -r requirements.txt -e .` first fails on some pinned package with a
message that does not say why. pip prepares this project before the requirements (even when `-e .`
comes last), and preparing runs this file: it checks the same requires-python and stops with one
line. Everything else about the package is in pyproject.toml.
"""
import os
import re
import sys

from setuptools import setup


def supported_range(pyproject=os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyproject.toml")):
    """((3, 9), (3, 14)) from requires-python = ">=3.9,<3.14" in pyproject.toml."""
    with open(pyproject) as f:
        found = re.search(r'^requires-python\s*=\s*">=(\d+)\.(\d+),\s*<(\d+)\.(\d+)"', f.read(), re.MULTILINE)
    low_major, low_minor, high_major, high_minor = map(int, found.groups())
    return (low_major, low_minor), (high_major, high_minor)


low, high = supported_range()
if not low <= sys.version_info[:2] < high:
    sys.exit(f"gluon_wgan supports Python {low[0]}.{low[1]} to {high[0]}.{high[1] - 1}, not "
             f"{sys.version.split()[0]} ({sys.executable}): create the environment with one of those "
             "(docs/install.md)")

setup()
