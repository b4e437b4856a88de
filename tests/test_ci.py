"""CI proves the README: .ci/run runs its test command, nbval fails on a raising cell, and the network is blocked."""
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_test_command() -> str:
    """The one command line in the README's code blocks that runs pytest (prose may mention pytest freely)."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)
    lines = [l.strip().strip("$ ") for b in blocks for l in b.splitlines() if "pytest" in l and not l.strip().startswith("#")]
    assert len(lines) == 1, f"the README should name exactly one test command, found {lines}"
    return lines[0]


def test_ci_runs_the_readme_test_command_verbatim():
    assert readme_test_command() in (ROOT / ".ci" / "run").read_text()


def _write_notebook(path, source):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.parametrize("source, passes", [("x = 1 + 1", True), ("raise RuntimeError('boom')", False)])
def test_nbval_goes_red_when_a_cell_raises(tmp_path, source, passes):
    _write_notebook(tmp_path / "nb.ipynb", source)
    out = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
                          "-q", "nb.ipynb"], cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert (out.returncode == 0) == passes, out.stdout[-2000:]


def test_network_is_blocked_here_and_in_kernels(tmp_path):
    with pytest.raises(OSError, match="network access is blocked"):
        urllib.request.urlopen("http://example.com", timeout=5)
    _write_notebook(tmp_path / "net.ipynb", "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=5)")
    out = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
                          "-q", "net.ipynb"], cwd=tmp_path, capture_output=True, text=True, timeout=180,
                         env=os.environ.copy())
    assert out.returncode != 0 and "network access is blocked" in out.stdout
