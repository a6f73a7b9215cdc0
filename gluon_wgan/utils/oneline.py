"""The argument parser every script uses: bad input is one line on stderr and exit code 2.

Kept free of MXNet imports so that `--help` and flag errors answer at once.
"""
import argparse


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (no usage block) and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")
