"""The bundled data files: where they live, their sha256, and a clear error when one is missing or damaged."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

# name -> (path under data/, sha256, where to get it)
BUNDLED = {
    "mnist-images": (
        "mnist/t10k-images-idx3-ubyte.gz",
        "167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b",
        "the MNIST test images, t10k-images-idx3-ubyte.gz from https://yann.lecun.com/exdb/mnist/ "
        "(or any MNIST mirror)",
    ),
    "mnist-labels": (
        "mnist/t10k-labels-idx1-ubyte.gz",
        "fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c",
        "the MNIST test labels, t10k-labels-idx1-ubyte.gz from https://yann.lecun.com/exdb/mnist/",
    ),
    "tinyshakespeare": (
        "tinyshakespeare/input.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    ),
}
_verified: set[Path] = set()


class DataFileError(FileNotFoundError):
    """A bundled data file is missing or does not match its recorded sha256."""


def data_dir() -> Path:
    """The project's data/ folder (GENLIB_DATA overrides it, for a copy kept elsewhere)."""
    return Path(os.environ.get("GENLIB_DATA", Path(__file__).resolve().parents[2] / "data"))


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks so large files do not fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundled_path(name: str) -> Path:
    """The checked path of a bundled file; raises DataFileError saying how to get it if missing or corrupted."""
    if name not in BUNDLED:
        raise KeyError(f"no bundled data file {name!r}; known: {', '.join(sorted(BUNDLED))}")
    rel, sha, source = BUNDLED[name]
    path = data_dir() / rel
    if path in _verified:
        return path
    fix = (f"Get it with `git checkout -- data/{rel}` in the repository (it is committed), "
           f"or download {source} to {path}.")
    if not path.exists():
        raise DataFileError(f"data file {path} is missing. {fix}")
    actual = sha256_file(path)
    if actual != sha:
        raise DataFileError(f"data file {path} is corrupted: sha256 {actual[:12]}… but expected {sha[:12]}…. {fix}")
    _verified.add(path)
    return path
