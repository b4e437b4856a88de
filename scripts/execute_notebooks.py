"""Re-execute notebooks in place (Restart & Run All) so the committed copies show current outputs.

    python scripts/execute_notebooks.py                 # every notebook, at cpu-small scale
    python scripts/execute_notebooks.py notebooks/03_*.ipynb

Prints each notebook's wall time against the 120 s budget. Outputs stay small because the notebooks
print little and draw figures at genlib.viz.FIGURE_DPI (100) with unsmoothed ("nearest") images. Progress
bars print their final line ("100%| 150/150") instead of a widget whose state the saved file would lose
(GENLIB_STATIC_PROGRESS=1, see genlib.progress).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def execute(path: Path, timeout: int = 600) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    nbformat.write(nb, path)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    args = parser.parse_args()
    os.environ.setdefault("GENLIB_SCALE", "cpu-small")
    os.environ.setdefault("GENLIB_STATIC_PROGRESS", "1")  # bars print their final line: widgets are not saved
    os.environ.setdefault("GENLIB_STATIC", "1")  # sliders: the static figure and a hint; a saved widget shows as text
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    paths = args.paths or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    failed = 0
    for path in paths:
        try:
            secs = execute(path)
            print(f"{secs:7.1f} s  {path.name}{'  OVER the 120 s budget' if secs > 120 else ''}", flush=True)
        except Exception as e:  # report every notebook, then fail at the end
            failed += 1
            print(f"FAILED   {path.name}: {type(e).__name__}: {str(e)[-500:]}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
