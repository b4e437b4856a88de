"""The notebook contract, checked statically (tests/test_colab.py runs the set-up cell on a stand-in Colab)."""
import json
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from genlib.colab import BOOTSTRAP_CELL

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _cells(path):
    return json.loads(path.read_text())["cells"]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_and_its_text_twin_agree(path):
    """Each notebook has one source in two forms: the .ipynb and its jupytext twin notebooks/src/NN_x.py."""
    twin = path.parent / "src" / f"{path.stem}.py"
    fix = f"run `jupytext --sync {path.relative_to(ROOT)}` (the newer of the two files wins)"
    assert twin.exists(), f"{twin.relative_to(ROOT)} is missing: {fix}"
    nb = nbformat.read(path, as_version=4)
    text = jupytext.read(twin)
    assert len(nb.cells) == len(text.cells), f"{path.name} has {len(nb.cells)} cells, its twin {len(text.cells)}: {fix}"
    for i, (a, b) in enumerate(zip(nb.cells, text.cells)):
        assert (a.cell_type, a.source) == (b.cell_type, b.source), f"cell {i} of {path.name} differs from its twin: {fix}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_text_twin_compiles(path):
    """People run the twin as Python (`python`, an editor's cells), under each supported version, so it must compile."""
    twin = path.parent / "src" / f"{path.stem}.py"
    try:
        compile(twin.read_bytes(), str(twin), "exec")
    except SyntaxError as e:  # e.g. "unknown encoding": Python reads `coding: X` in the first two lines as an encoding
        pytest.fail(f"{twin.relative_to(ROOT)} does not compile: {e}. A title like 'Decoding: from ...' in its first two "
                    "lines is read as an encoding declaration; reword it, then `jupytext --sync` the notebook")


def test_every_text_twin_has_a_notebook():
    orphans = [p.name for p in (ROOT / "notebooks" / "src").glob("*.py") if not (ROOT / "notebooks" / f"{p.stem}.ipynb").exists()]
    assert not orphans, f"text twins without a notebook: {orphans}; make one with `jupytext --sync notebooks/src/NAME.py`"


def test_no_generator_scripts_hold_a_second_copy():
    assert not list((ROOT / "scripts").glob("build_nb*.py")), "notebooks have one source: edit the notebook or its twin"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_contract(path):
    assert re.match(r"^\d\d_[a-z0-9_]+\.ipynb$", path.name)
    cells = _cells(path)
    code = [c for c in cells if c["cell_type"] == "code"]
    assert "".join(code[0]["source"]) == BOOTSTRAP_CELL, "the first code cell must be genlib.colab.BOOTSTRAP_CELL"
    intro = "".join(cells[0]["source"]).lower()
    for word in ("learning objectives", "prerequisites", "estimated time"):
        assert word in intro, f"the opening cell needs '{word}'"
    markdown = " ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown").lower()
    for word in ("summary", "exercises", "<details>"):
        assert word in markdown
    source = "\n".join("".join(c["source"]) for c in code)
    assert not re.search(r"""\.cuda\(\)|device\s*=\s*['"]cuda""", source), "use genlib.device, not cuda"
    for c in code:
        for out in c.get("outputs", []):
            assert out["output_type"] != "error", "a notebook is committed with an error output"
    assert all(c.get("execution_count") for c in code), "commit notebooks executed (scripts/execute_notebooks.py)"
    assert path.stat().st_size < 1_500_000, "keep outputs small"


def test_colab_cell_does_nothing_elsewhere(tmp_path):
    out = subprocess.run([sys.executable, "-c", BOOTSTRAP_CELL + "\nprint(ON_COLAB, os.getcwd())"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.split() == ["False", str(tmp_path)]
