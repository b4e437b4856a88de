"""CI proves the README: .ci/run runs its test command, nbval fails on a raising cell, and the network is blocked."""
import importlib.util
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


def _python_versions():
    spec = importlib.util.spec_from_file_location("python_versions", ROOT / ".ci" / "python_versions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ci_checks_the_python_range_the_readme_promises():
    """After the README's command, .ci/run reruns the unit tests under the oldest and newest supported Python."""
    run = (ROOT / ".ci" / "run").read_text()
    command = readme_test_command()
    assert command + " || exit $?" in run, "a failing README command must stop CI before the later steps"
    assert run.index(command) < run.index("\npython3 .ci/python_versions.py"), "CI must run .ci/python_versions.py"
    pv = _python_versions()
    low, high = re.search(r"Python 3\.(\d+)[–-]3\.(\d+)", (ROOT / "README.md").read_text()).groups()
    minors = pv.supported_minors()
    assert (minors[0], minors[-1]) == (int(low), int(high)), "README's Python range and requires-python disagree"
    for test in pv.DESELECT:  # a renamed test would silently run again under every version
        path, _, name = test.partition("::")
        assert (ROOT / path).exists() and (not name or f"def {name}(" in (ROOT / path).read_text()), test


def test_supported_minors_reads_requires_python(tmp_path):
    pv = _python_versions()
    (tmp_path / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.9, <3.12"\n')
    assert pv.supported_minors(tmp_path / "pyproject.toml") == [9, 10, 11]
    (tmp_path / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.9"\n')
    with pytest.raises(SystemExit, match="a lower and an upper bound"):
        pv.supported_minors(tmp_path / "pyproject.toml")


def test_ci_installs_chromium_before_the_browser_test_needs_it():
    run = (ROOT / ".ci" / "run").read_text()
    assert "command -v chromium" in run and "apt_get install -y -q chromium" in run
    assert run.index("install -y -q chromium") < run.index(readme_test_command())


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
