"""House rules that read the text of the package and the tests: library comments say what and why (the
figures and the history behind them live in benchmarks/README.md and the issues), and test modules share
helpers through conftest.py rather than importing each other."""
import os
import re

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gluon_wgan")
ISSUE = re.compile(r"\bissue \d+", re.IGNORECASE)


def _package_files():
    for folder, _, names in os.walk(PACKAGE):
        for name in sorted(names):
            if name.endswith((".py", ".cc", ".h", ".md")):
                yield os.path.join(folder, name)


def test_no_issue_numbers_in_the_package():
    """An "issue N" in library code is lab-notebook history that drifts: the comment keeps the reason,
    the issue tracker the number."""
    found = []
    for path in _package_files():
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if ISSUE.search(line):
                    found.append(f"{os.path.relpath(path, PACKAGE)}:{number}: {line.strip()}")
    assert found == []


def test_the_check_sees_an_issue_number():
    assert ISSUE.search("# written before issue 13") and ISSUE.search("Issue 5's figures")
    assert not ISSUE.search("lines to paste into an issue")
    assert len(list(_package_files())) > 50




def test_no_test_module_imports_another():
    """Shared test helpers live in conftest.py (or a helper module such as lockstep.py), so that each
    test module can be read, run and changed on its own."""
    import ast
    tests = os.path.dirname(os.path.abspath(__file__))
    found = []
    for name in sorted(os.listdir(tests)):
        if name.endswith(".py"):
            tree = ast.parse(open(os.path.join(tests, name), encoding="utf-8").read())
            for node in ast.walk(tree):
                modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                found += [f"{name} imports {m}" for m in modules if m.split(".")[0].startswith("test")]
    assert found == []
