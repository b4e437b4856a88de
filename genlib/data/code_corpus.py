"""A code corpus for notebook 10: the running Python's own standard library source, read at run time.

Nothing is copied into the repo or downloaded: the `.py` files come from `sysconfig.get_paths()["stdlib"]`.
The file list is sorted and filtered the same way on every machine (no tests, no IDLE, no lib2to3, no
site-packages, no caches, no file over MAX_FILE_BYTES), and each file goes to "train" or "val" by a sha256 of its
relative path (not Python's salted hash()), so the split never changes. Files are joined, each after a line
`# ---- file: <relative/path.py> ----`. Different Python versions ship different files, so print
`corpus_digest(text)` to record which corpus a run used.

With `tests=True` the stdlib's own test suite (`test/`, `tests/`) joins the corpus: about 15 MB more of real
Python on CPython 3.11, useful for training, but some installs (Debian's python3 without python3-test, slim Docker
images) leave it out, so nothing in the notebooks needs it. Only test files that are UTF-8 and parse are kept (the
suite holds deliberately broken ones such as `tokenizedata/badsyntax_pep3120.py`; a few others parse but would
not compile, e.g. `test_future_stmt/badsyntax_future3.py`, and stay: they are still Python's grammar).
"""
from __future__ import annotations

import hashlib
import os
import sysconfig
from pathlib import Path

TEST_DIRS = {"test", "tests"}
EXCLUDED_DIRS = TEST_DIRS | {"idle_test", "idlelib", "lib2to3", "site-packages", "dist-packages",
                 "__pycache__"}
MAX_FILE_BYTES = 200_000  # leaves out generated data such as pydoc_data/topics.py
VAL_PERCENT = 10
SEPARATOR = "# ---- file: {} ----\n"
SPLITS = ("train", "val")


def stdlib_dir() -> Path:
    """The folder holding this interpreter's standard library source, or a clear error if it has none."""
    path = Path(sysconfig.get_paths()["stdlib"])
    if not (path / "os.py").is_file():
        raise FileNotFoundError(
            f"no standard library source found at {path} (os.py is missing): this Python seems to ship only "
            "compiled .pyc files (an embedded or frozen build). Use a regular CPython install, e.g. from "
            "python.org, conda or Colab, to build the code corpus.")
    return path


def _split_of(rel: str) -> str:
    """'val' for about VAL_PERCENT of paths, fixed by a sha256 of the path (the same on every machine and run)."""
    h = int.from_bytes(hashlib.sha256(rel.encode("utf-8")).digest()[:8], "big")
    return "val" if h % 100 < VAL_PERCENT else "train"


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")


def stdlib_files(split: str = "train", tests: bool = False) -> list[str]:
    """The sorted relative paths (with '/') of the stdlib .py files in this split (with tests=True, also the
    test suite's files that parse)."""
    _check_split(split)
    root = stdlib_dir()
    excluded = EXCLUDED_DIRS - TEST_DIRS if tests else EXCLUDED_DIRS
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in excluded and not d.startswith((".", "config-"))]
        for name in files:
            path = Path(folder) / name
            if name.endswith(".py") and path.stat().st_size <= MAX_FILE_BYTES:
                rel = path.relative_to(root).as_posix()
                if _split_of(rel) == split and (not TEST_DIRS & set(rel.split("/")[:-1]) or _parses(root / rel)):
                    found.append(rel)
    return sorted(found)


def _parses(path: Path) -> bool:
    """Whether a file is UTF-8 Python that ast.parse accepts (the test suite ships some that are not, on purpose)."""
    from genlib.text.codegen import parses  # the same check notebook 10 applies to samples
    text = _read(path.parent, path.name)
    return text is not None and parses(text)


def _read(root: Path, rel: str) -> str | None:
    try:
        return (root / rel).read_bytes().decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError:  # stdlib source is UTF-8 (PEP 3120); skip a file that is not, the same way each time
        return None


def stdlib_sources(split: str = "train", max_bytes: int | None = None, tests: bool = False) -> str:
    """The split's stdlib source as one text; with max_bytes, whole files spread over the stdlib up to that size.

    With max_bytes the files are taken in the order of their path hash (a fixed sample from all packages, not
    the first letters of the alphabet), each whole and only if it still fits, and then written in path order,
    so the text's UTF-8 size is at most max_bytes. tests=True adds the stdlib's test suite (see the module note).
    """
    _check_split(split)
    if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1):
        raise ValueError(f"max_bytes must be a positive int or None (everything), got {max_bytes!r}")
    root = stdlib_dir()
    rels = stdlib_files(split, tests)
    if max_bytes is not None:
        rels = sorted(rels, key=lambda r: hashlib.sha256(r.encode("utf-8")).hexdigest())
    chunks, used = {}, 0
    for rel in rels:
        text = _read(root, rel)
        if text is None:
            continue
        chunk = SEPARATOR.format(rel) + text + ("" if text.endswith("\n") or not text else "\n")
        size = len(chunk.encode("utf-8"))
        if max_bytes is not None and used + size > max_bytes:
            continue
        chunks[rel] = chunk
        used += size
    if not chunks:
        raise ValueError(f"max_bytes={max_bytes} is smaller than any single file of the {split} split; "
                         "give a larger max_bytes (a few thousand is enough for one small file)")
    return "".join(chunks[rel] for rel in sorted(chunks))


def corpus_digest(text: str) -> str:
    """The first 12 hex digits of the text's sha256: a short name for exactly this corpus, to print and record."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
