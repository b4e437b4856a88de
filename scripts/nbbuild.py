"""Write a notebook from a list of cells, starting it with the shared Colab set-up cell.

Used while authoring: `build("notebooks/03_x.ipynb", [md("# Title ..."), code("x = 1"), ...])`, then run
scripts/execute_notebooks.py on it. The .ipynb is the source of truth once written.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genlib.colab import BOOTSTRAP_CELL  # noqa: E402


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(text.strip("\n"))


def build(path: str | Path, cells: list) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [cells[0], code(BOOTSTRAP_CELL), *cells[1:]]  # title markdown, then the set-up cell
    path = Path(path)
    nbformat.write(nb, path)
    return path
