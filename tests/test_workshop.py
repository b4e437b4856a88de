"""Workshop mode (scripts/workshop.py): student copies without solutions that still run, a current teacher guide,
and the README's Colab links made from the one repository setting, genlib.colab.REPO_URL."""
import importlib.util
import re
import shutil
import time
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

from genlib.colab import bootstrap_cell, colab_link

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
_spec = importlib.util.spec_from_file_location("workshop", ROOT / "scripts" / "workshop.py")
workshop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(workshop)


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def _solution_lines(nb) -> set[str]:
    """Lines of the solution cells that appear nowhere else in the notebook: what a student copy must not hold."""
    elsewhere = "\n".join(c.source for c in nb.cells if "solution" not in _tags(c))
    lines = {line.strip() for c in nb.cells if "solution" in _tags(c) for line in c.source.splitlines()}
    return {line for line in lines if len(line) >= 12 and line not in elsewhere}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_tags_its_exercises_and_solutions(path):
    nb = nbformat.read(path, as_version=4)
    fix = "tag them in the twin notebooks/src/NN_x.py (`# %% [markdown] tags=[\"solution\"]`), then `jupytext --sync`"
    solutions = [c for c in nb.cells if "solution" in _tags(c)]
    assert solutions and all("<details>" in c.source for c in solutions), f"the collapsed solutions need the tag: {fix}"
    untagged = [i for i, c in enumerate(nb.cells) if "<details>" in c.source and "solution" not in _tags(c)]
    assert not untagged, f"cells {untagged} hold collapsed text without the 'solution' tag: {fix}"
    prompts = [c for c in nb.cells if c.cell_type == "markdown" and "exercise" in _tags(c)]
    assert prompts and prompts[0].source.startswith("## Exercises"), "the exercise prompts need the 'exercise' tag"
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and "exercise" in _tags(c):
            # only a comment: a no-op in the full notebook (nbval stays green) that says what to write
            assert c.source.startswith("# Exercise") and workshop.leading_comment(c.source) == c.source.strip(), \
                f"exercise cell {i} of {path.name} must hold only a '# Exercise N: ...' comment"


def test_blank_exercises_keeps_the_task_and_drops_any_code(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1", outputs=[nbformat.v4.new_output("stream", text="1")], execution_count=1),
        nbformat.v4.new_code_cell("# Exercise 1: square x.\n# Print it.\ny = x ** 2  # the answer", metadata={"tags": ["exercise"]}),
        nbformat.v4.new_markdown_cell("<details><summary>Solution</summary>y = x ** 2</details>", metadata={"tags": ["solution"]}),
    ])
    path = tmp_path / "00_toy.ipynb"
    nbformat.write(nb, path)
    (copy,) = workshop.write_student_copies(tmp_path / "out", [path])
    cells = nbformat.read(copy, as_version=4).cells
    assert [c.source for c in cells] == ["x = 1", "# Exercise 1: square x.\n# Print it.\n"]
    assert cells[0].outputs == [] and cells[0].execution_count is None
    nb.cells[1].source = "y = x ** 2"  # an exercise cell that does not say what to write
    nbformat.write(nb, path)
    with pytest.raises(ValueError, match="does not start with a comment"):
        workshop.write_student_copies(tmp_path / "out", [path])


def test_student_copies_hold_no_solution(tmp_path):
    copies = workshop.write_student_copies(tmp_path, NOTEBOOKS)
    for path, copy in zip(NOTEBOOKS, copies):
        full, student = nbformat.read(path, as_version=4), nbformat.read(copy, as_version=4)
        text = "\n".join(c.source for c in student.cells)
        assert not any("solution" in _tags(c) for c in student.cells)
        assert "<details>" not in text and "</summary>" not in text, copy.name
        secrets = _solution_lines(full)
        assert len(secrets) >= 3, f"{path.name}: too few solution lines to check"
        leaked = [line for line in secrets if line in text]
        assert not leaked, f"{copy.name} still holds solution text: {leaked[:3]}"
        assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
        kept = [c for c in full.cells if "solution" not in _tags(c)]
        assert [c.source.strip() for c in student.cells] == [c.source.strip() for c in kept]  # nothing else changed


def test_every_student_copy_runs_top_to_bottom(tmp_path, monkeypatch):
    """Executes every notebook (minutes): each student copy, as handed out, runs through its blank exercises."""
    monkeypatch.setenv("GENLIB_STATIC", "1")  # sliders draw their static figure: no widget front end here
    monkeypatch.setenv("GENLIB_STATIC_PROGRESS", "1")
    monkeypatch.setenv("MPLBACKEND", "agg")
    out = tmp_path / "workshop"
    times, failed = {}, {}
    for copy in workshop.write_student_copies(out, NOTEBOOKS):
        nb = nbformat.read(copy, as_version=4)
        start = time.perf_counter()
        try:  # run them all, then report every failure at once (as scripts/execute_notebooks.py does)
            NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(out)}}).execute()
        except Exception as err:  # noqa: BLE001  (a failing cell raises nbclient's CellExecutionError)
            failed[copy.name] = str(err)[-1500:]
        times[copy.name] = time.perf_counter() - start
        if copy.name not in failed:
            code = [c for c in nb.cells if c.cell_type == "code"]
            assert all(c.execution_count for c in code), f"{copy.name}: not every cell ran"
            assert "exercise" in _tags(code[-1]) or "exercise" in _tags(nb.cells[-1]), f"{copy.name} ends before its exercises"
    print("\n".join(f"{s:6.1f} s  {name}" for name, s in times.items()), f"\n{sum(times.values()):6.1f} s  in all")
    assert not failed, "student copies that do not run: " + "\n\n".join(f"{k}: {v}" for k, v in failed.items())


def test_teacher_guide_is_current():
    expected = workshop.teacher_guide(NOTEBOOKS, (ROOT / "README.md").read_text())
    assert workshop.GUIDE.exists() and workshop.GUIDE.read_text() == expected, \
        "docs/teacher_guide.md is out of date: run `python scripts/workshop.py --guide` and commit it"


def test_guide_has_two_or_three_stuck_points_per_notebook_and_each_answer():
    numbers = {p.name[:2] for p in NOTEBOOKS}
    assert set(workshop.STUCK) == numbers, "STUCK in scripts/workshop.py needs exactly one entry per notebook"
    assert all(2 <= len(points) <= 3 for points in workshop.STUCK.values())
    guide = workshop.GUIDE.read_text()
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        missing = [line for line in _solution_lines(nb) if "details>" not in line and line not in guide]
        assert not missing, f"the guide lacks {path.name}'s answer lines {missing[:3]}"
        assert workshop.readme_run_times((ROOT / "README.md").read_text())[path.name[:2]] in guide


def test_readme_colab_links_come_from_the_one_repo_setting():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"https://colab\.research\.google\.com/[^)\s]+", readme)
    expected = {colab_link(p.name) for p in NOTEBOOKS}
    fix = "run `python scripts/workshop.py --sync-repo-url` (it writes them from genlib.colab.REPO_URL)"
    assert set(links) == expected, f"the README's Colab links differ from genlib.colab.colab_link: {fix}"
    assert "REPO_URL" in readme and "--sync-repo-url" in readme, "the README must say where the repository URL is set"


def test_sync_repo_url_rewrites_links_and_set_up_cells(tmp_path):
    fork = "https://github.com/someone/course-fork.git"
    (tmp_path / "notebooks" / "src").mkdir(parents=True)
    name = NOTEBOOKS[0].name
    shutil.copy(NOTEBOOKS[0], tmp_path / "notebooks" / name)
    shutil.copy(ROOT / "notebooks" / "src" / f"{NOTEBOOKS[0].stem}.py", tmp_path / "notebooks" / "src")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)  # jupytext's pairing
    shutil.copy(ROOT / "README.md", tmp_path)
    workshop.sync_repo_url(tmp_path, fork)
    readme = (tmp_path / "README.md").read_text()
    assert colab_link(name, fork) in readme and "github/genai-from-scratch/genai-from-scratch/" not in readme
    nb = nbformat.read(tmp_path / "notebooks" / name, as_version=4)
    twin = jupytext.read(tmp_path / "notebooks" / "src" / f"{NOTEBOOKS[0].stem}.py")
    for cells in (nb.cells, twin.cells):
        assert next(c for c in cells if c.cell_type == "code").source == bootstrap_cell(fork)
    assert [c.source for c in nb.cells] == [c.source for c in twin.cells]
