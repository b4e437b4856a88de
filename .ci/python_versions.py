"""CI's proof of the README's "Python 3.10-3.13": the unit tests under the oldest and newest supported Python here.

The supported range is pyproject.toml's requires-python. For the oldest and the newest interpreter of that range found
on this machine (on PATH as python3.X, or installed by pyenv), this makes a fresh venv in .ci/venv/ (git-ignored),
runs `pip install -e ".[test]"` and then `pytest tests/` less the tests that execute whole notebooks (nbval and the
browser test run those under the main Python). It prints a table of version, times and result, and exits non-zero if
either version fails or no interpreter of the range is found. A venv that passed is deleted (about 6 GB each).

    python3 .ci/python_versions.py              # what .ci/run does
    python3 .ci/python_versions.py --only 3.10  # one version, by hand
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / ".ci" / "venv"
# Tests that run whole notebooks: minutes each, and about the notebooks rather than the Python version.
DESELECT = [
    "tests/test_busy_machine.py",
    "tests/test_browser.py",
    "tests/test_workshop.py::test_every_student_copy_runs_top_to_bottom",
]


def supported_minors(pyproject: Path = ROOT / "pyproject.toml") -> list[int]:
    """The 3.X minor versions that requires-python allows, e.g. [10, 11, 12, 13] for ">=3.10,<3.14"."""
    spec = re.search(r'^requires-python\s*=\s*"([^"]+)"', pyproject.read_text(), flags=re.M)
    low = re.search(r">=\s*3\.(\d+)", spec.group(1)) if spec else None
    high = re.search(r"<\s*3\.(\d+)", spec.group(1)) if spec else None
    if not (low and high):
        raise SystemExit(f"{pyproject}: requires-python must read like \">=3.10,<3.14\" (a lower and an upper bound), "
                         f"found {spec.group(1) if spec else 'none'!r}")
    return list(range(int(low.group(1)), int(high.group(1))))


def _pyenv_root() -> Path:
    """pyenv's root (`pyenv root`), or ~/.pyenv where pyenv is not on PATH."""
    if shutil.which("pyenv"):
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    return Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))


def _version(python: str) -> tuple[int, ...] | None:
    """The interpreter's (major, minor, micro) if it runs and can make a venv with pip, else None."""
    try:
        out = subprocess.run([python, "-c", "import sys, venv, ensurepip; print(*sys.version_info[:3])"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return tuple(int(v) for v in out.stdout.split()) if out.returncode == 0 else None


def find_interpreters(minors: list[int]) -> dict[int, tuple[str, tuple[int, ...]]]:
    """For each minor version found here: the interpreter with the newest patch release, and its version."""
    found: dict[int, tuple[str, tuple[int, ...]]] = {}
    versions = _pyenv_root() / "versions"
    for minor in minors:
        candidates = [shutil.which(f"python3.{minor}")]
        candidates += [str(p) for p in versions.glob(f"3.{minor}.*/bin/python3.{minor}")] if versions.is_dir() else []
        for python in filter(None, candidates):
            version = _version(python)
            if version and version[:2] == (3, minor) and (minor not in found or version > found[minor][1]):
                found[minor] = (python, version)
    return found


def _run(cmd: list[str], env: dict[str, str], log: list[str]) -> int:
    """Run `cmd` in the repository root, echoing its output and keeping it in `log`; its exit code."""
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def pump() -> None:
        for line in proc.stdout:
            if not line.startswith("WARNING: Location 'file:"):  # pip on this machine: one per package, local index gaps
                print(line, end="", flush=True)
            log.append(line.rstrip())

    reader = threading.Thread(target=pump)
    reader.start()
    code = proc.wait()
    reader.join(timeout=30)  # the output stays open while anything `cmd` started still runs; do not wait for it
    if reader.is_alive():
        print(f"python_versions: {cmd[2:4]} left a process running that holds its output", flush=True)
    return code


def check(python: str, version: tuple[int, ...]) -> tuple[bool, float, float, str]:
    """Fresh venv, install, unit tests under `python`: (passed, install seconds, test seconds, pytest's summary)."""
    name = ".".join(map(str, version))
    venv = VENVS / f"py{name}"
    shutil.rmtree(venv, ignore_errors=True)
    bin_dir = venv / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    env.update(VIRTUAL_ENV=str(venv), PATH=os.pathsep.join([str(bin_dir), env.get("PATH", "")]))
    log: list[str] = []
    start = time.monotonic()
    code = _run([python, "-m", "venv", str(venv)], env, log)
    if code == 0:
        code = _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--progress-bar", "off", "-e", ".[test]"],
                    env, log)
    installed = time.monotonic()
    if code != 0:
        return False, installed - start, 0.0, f"pip install failed (exit {code})"
    deselect = [arg for test in DESELECT for arg in ("--deselect", test)]
    code = _run([str(bin_dir / "python"), "-m", "pytest", "tests/", "-x", "-q", "-p", "no:cacheprovider", *deselect],
                env, log)
    tested = time.monotonic()
    summary = next((l.strip("= ") for l in reversed(log) if re.search(r"\d+ (passed|failed|error)", l)), "")
    if code == 0:
        shutil.rmtree(venv, ignore_errors=True)  # about 6 GB each (torch's CUDA build); a failing one stays to look into
    return code == 0, installed - start, tested - installed, summary or f"pytest exit {code}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="3.X", help="these versions instead of the oldest and newest")
    args = parser.parse_args()
    minors = supported_minors()
    found = find_interpreters(minors)
    wanted = sorted({int(v.split(".")[1]) for v in args.only}) if args.only else sorted({min(found), max(found)} if found else set())
    missing = [f"3.{m}" for m in minors if m not in found]
    if missing:
        print(f"python_versions: not found on this machine: {', '.join(missing)} (install with pyenv to check them)")
    if not wanted or any(m not in found for m in wanted):
        print(f"python_versions: no interpreter for {[f'3.{m}' for m in wanted if m not in found] or 'the range'}; "
              f"requires-python allows 3.{minors[0]}-3.{minors[-1]}. Install one, e.g. `pyenv install 3.{minors[0]}`.")
        return 1
    rows = []
    for minor in wanted:
        python, version = found[minor]
        rows.append((".".join(map(str, version)), *check(python, version)))
    print("\nPython   install   tests   result")
    for name, ok, install_s, test_s, summary in rows:
        print(f"{name:<8} {install_s:6.0f} s {test_s:5.0f} s   {'ok' if ok else 'FAILED'}: {summary}")
    return 0 if all(ok for _, ok, *_ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
