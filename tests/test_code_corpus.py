"""The stdlib code corpus of notebook 10: read from this Python at run time, deterministic, split by file."""
import ast
import re
import sysconfig

import pytest

from genlib.data import code_corpus
from genlib.data.code_corpus import EXCLUDED_DIRS, corpus_digest, stdlib_files, stdlib_sources

HEADER = re.compile(r"^# ---- file: (.+) ----$", re.M)


def files_in(text):
    """(path, source) for each file in a corpus text, split at the separator lines."""
    parts = HEADER.split(text)
    assert parts[0] == ""
    return list(zip(parts[1::2], [s[1:] for s in parts[2::2]]))  # s[1:] drops the header's newline


def test_train_and_val_are_real_deterministic_and_disjoint():
    train, val = stdlib_sources("train"), stdlib_sources("val")
    assert len(train) > 1_000_000 and len(val) > 50_000
    assert corpus_digest(train) == corpus_digest(stdlib_sources("train")) and re.fullmatch("[0-9a-f]{12}",
                                                                                           corpus_digest(train))
    assert corpus_digest(train) != corpus_digest(val)
    train_names, val_names = [p for p, _ in files_in(train)], [p for p, _ in files_in(val)]
    assert train_names == stdlib_files("train") and val_names == stdlib_files("val")  # one separator per file
    assert not set(train_names) & set(val_names)
    assert 0.05 < len(val_names) / (len(train_names) + len(val_names)) < 0.15
    assert "os.py" in train_names + val_names and "json/decoder.py" in train_names + val_names
    assert "def " in train and "class " in train and "import " in val


def test_excluded_folders_and_big_files_stay_out():
    root = code_corpus.stdlib_dir()
    for rel in stdlib_files("train") + stdlib_files("val"):
        assert not set(rel.split("/")[:-1]) & EXCLUDED_DIRS, rel
        assert rel.endswith(".py") and (root / rel).stat().st_size <= code_corpus.MAX_FILE_BYTES
    assert stdlib_files("train") == sorted(stdlib_files("train"))


def test_a_sample_of_files_parses_and_matches_the_file_on_disk():
    root = code_corpus.stdlib_dir()
    files = files_in(stdlib_sources("train"))
    for rel, source in files[:: max(1, len(files) // 40)]:
        ast.parse(source, filename=rel)
        assert source.rstrip("\n") == (root / rel).read_text(encoding="utf-8").replace("\r\n", "\n").rstrip("\n")


def test_max_bytes_is_respected_with_whole_files():
    for max_bytes in (5_000, 300_000):
        text = stdlib_sources("train", max_bytes=max_bytes)
        assert max_bytes // 2 < len(text.encode("utf-8")) <= max_bytes
        assert text == stdlib_sources("train", max_bytes=max_bytes)
        for rel, source in files_in(text):
            ast.parse(source, filename=rel)  # whole files, not cut mid-way
    folders = {rel.split("/")[0] for rel, _ in files_in(stdlib_sources("train", max_bytes=300_000)) if "/" in rel}
    assert len(folders) >= 3  # a spread over the stdlib, not just its first letters


def test_bad_arguments_and_a_missing_stdlib_give_clear_errors(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="split"):
        stdlib_sources("test")
    with pytest.raises(ValueError, match="max_bytes"):
        stdlib_sources("train", max_bytes=0)
    with pytest.raises(ValueError, match="smaller than any single file"):
        stdlib_sources("train", max_bytes=10)
    monkeypatch.setattr(sysconfig, "get_paths", lambda: {"stdlib": str(tmp_path)})
    with pytest.raises(FileNotFoundError, match=".pyc"):
        stdlib_sources("train")


def test_the_stdlib_test_suite_joins_only_on_request_and_only_files_that_parse():
    import ast
    import warnings
    from genlib.data.code_corpus import stdlib_dir
    if not (stdlib_dir() / "test" / "__init__.py").is_file():
        pytest.skip("this Python install ships without its test suite (Lib/test)")
    plain, with_tests = stdlib_files("train"), stdlib_files("train", tests=True)
    extra = sorted(set(with_tests) - set(plain))
    assert set(plain) <= set(with_tests) and extra and all(r.split("/")[0] in ("test", "tests") or "/tests/" in r
                                                            or "/test/" in r for r in extra)
    assert not any("idle_test" in r for r in with_tests)
    kept = set(with_tests + stdlib_files("val", tests=True))
    broken = [p.relative_to(stdlib_dir()).as_posix() for p in (stdlib_dir() / "test").rglob("*.py")
              if p.stat().st_size <= code_corpus.MAX_FILE_BYTES and not code_corpus._parses(p)]
    assert not kept & set(broken)  # the suite's deliberately broken files (badsyntax_pep3120.py, ...) stay out
    for rel in extra[:: max(1, len(extra) // 40)]:  # a sample: every kept file parses
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse((stdlib_dir() / rel).read_text("utf-8"))
    assert stdlib_sources("val", tests=True) != stdlib_sources("val")
