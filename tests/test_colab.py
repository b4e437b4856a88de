"""Colab, proven: the set-up cell and the first code cells of two notebooks run in a fresh venv that holds only what
Colab preinstalls, with a stand-in `google.colab` module and GENLIB_REPO_URL pointing at a local clone.

The venv gets Colab's packages (torch, torchvision, numpy, matplotlib, tqdm, ipywidgets, IPython and everything
they depend on) linked from the environment running the tests, the way Colab has them installed already; genlib
is not among them, so it can only come from the clone the set-up cell makes. Nothing is installed or reinstalled:
the test checks the venv's packages are the same before and after. Colab runs Python 3.12; this venv runs the
Python of the tests (CI on 3.12 matches Colab exactly).
"""
import importlib.metadata as metadata
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
COLAB_PREINSTALLED = ["torch", "torchvision", "numpy", "matplotlib", "tqdm", "ipywidgets", "ipython"]
RUNNER = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
for i, source in enumerate(json.load(open(sys.argv[1]))):
    if not shell.run_cell(source).success:
        sys.exit(f"cell {i} failed")
"""


def _closure(roots):
    """The installed distributions `roots` need, with their dependencies (no extras), by normalized name."""
    found, todo = {}, list(roots)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency this environment lacks; Colab's own set is larger anyway
        found[name] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return found


def _colab_like_venv(path: Path) -> tuple[Path, Path]:
    """A fresh venv whose site-packages links Colab's preinstalled packages (no pip, no genlib): python, site."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    for dist in _closure(COLAB_PREINSTALLED).values():
        tops = {f.parts[0] for f in dist.files or [] if f.parts[0] not in ("..", "__pycache__")}
        for top in tops:
            source = Path(dist.locate_file(top))
            if not top.endswith(".pth") and source.exists() and not (site / top).exists():
                (site / top).symlink_to(source)
    colab = site / "google" / "colab"  # the stand-in: on Colab this package is what `import google.colab` finds
    colab.mkdir(parents=True)
    (site / "google" / "__init__.py").write_text("")
    (colab / "__init__.py").write_text('"""Stand-in for Colab\'s google.colab (tests/test_colab.py)."""\n')
    return python, site


def _first_code_cells(name: str, n: int) -> list[str]:
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"][:n]


def test_colab_set_up_cell_and_first_cells_run_from_a_clone(tmp_path):
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs a git checkout to clone from")
    python, site = _colab_like_venv(tmp_path / "venv")
    site_before = sorted(p.name for p in site.iterdir())
    work = tmp_path / "empty"  # Colab starts a notebook in /content, which holds nothing of the course
    work.mkdir()
    clone = tmp_path / "content" / "genai-from-scratch"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "GENLIB_DATA", "GENLIB_CHECKPOINTS", "PYTHONHOME")}
    env.update(GENLIB_COLAB_DIR=str(clone), GENLIB_REPO_URL=f"file://{ROOT}", MPLBACKEND="agg",
               GENLIB_STATIC="1", GENLIB_STATIC_PROGRESS="1")

    plain = subprocess.run([str(python), "-c", "import torch, torchvision, matplotlib, ipywidgets, tqdm\nimport genlib"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert "No module named 'genlib'" in plain.stderr, "the venv must have Colab's packages and no genlib: " + plain.stderr

    checks = {  # notebook, its first code cells, and what the last of them must show
        "00_setup_and_tour.ipynb": (4, "print('RESULT', genlib.__file__, os.getcwd(), len(x_train), len(text_train))"),
        "07_decoding.ipynb": (3, "print('RESULT', genlib.__file__, os.getcwd(), source.replace(' ', '_'), 0)"),
    }
    results = {}
    # one process per notebook, as each Colab notebook has its own kernel; the second finds the clone and reuses it
    for name, (n, probe) in checks.items():
        cells = _first_code_cells(name, n) + ["import genlib\n" + probe]
        (tmp_path / "cells.json").write_text(json.dumps(cells))
        (tmp_path / "runner.py").write_text(RUNNER)
        out = subprocess.run([str(python), str(tmp_path / "runner.py"), str(tmp_path / "cells.json")], cwd=work,
                             env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, f"{name}: {out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        results[name] = out.stdout.split("RESULT ")[-1].split()
    for name, (genlib_file, cwd, *_) in results.items():
        assert Path(genlib_file).is_relative_to(clone), f"{name} imported genlib from {genlib_file}, not the clone"
        assert Path(cwd) == clone / "notebooks"
    assert results["00_setup_and_tour.ipynb"][2:] == ["9000", "1003854"]  # MNIST and Shakespeare from the clone
    assert results["07_decoding.ipynb"][2] == "the_shipped_checkpoint"     # checkpoints came with the clone
    assert sorted(p.name for p in site.iterdir()) == site_before, "nothing may be installed: Colab has it all"
