"""Shipped weights: save atomically, load without running pickled code, check sha256, keep a manifest."""
from __future__ import annotations

import json
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from genlib.data.files import sha256_file


class ChecksumError(ValueError):
    """A checkpoint's bytes do not match the sha256 recorded for it."""


class DamagedCheckpointError(ChecksumError):
    """A checkpoint file is not a readable archive (cut short by a failed copy or download, or corrupted)."""


def _damaged(path: Path, detail: str = "") -> DamagedCheckpointError:
    return DamagedCheckpointError(
        f"checkpoint {path} is damaged or truncated ({path.stat().st_size:,} bytes{detail}); restore it with "
        f"`git checkout -- checkpoints/{path.name}` or rerun its training script (named in checkpoints/manifest.json)")


def _is_damaged(path: Path) -> bool:
    """True if a zip-format checkpoint (torch.save's default) is cut short or fails its per-entry CRC check."""
    if not zipfile.is_zipfile(path):
        return True
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is not None
    except Exception:  # a damaged central directory fails in many ways (BadZipFile, EOFError, UnicodeDecodeError)
        return True


def checkpoint_dir() -> Path:
    """The project's checkpoints/ folder (GENLIB_CHECKPOINTS overrides it)."""
    return Path(os.environ.get("GENLIB_CHECKPOINTS", Path(__file__).resolve().parents[1] / "checkpoints"))


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Write to a temporary file beside `path`, then rename: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes the file private (0600); shipped files are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def round_weights(model: nn.Module, dtype: torch.dtype = torch.float16) -> nn.Module:
    """Round every floating-point weight to `dtype` and back, in place: measure a model exactly as it will be
    stored with `save_weights(..., dtype=dtype)` (float16 halves the file; loading casts back)."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(t.to(dtype))
    return model


def save_weights(model: nn.Module | dict, path: str | Path, dtype: torch.dtype | None = None) -> str:
    """Save a model's state_dict (tensors only) atomically, floating-point tensors cast to `dtype` if given;
    returns the file's sha256."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    if dtype is not None:  # cast each storage once, so tied weights (GPT's embedding and head) stay one tensor
        cast = {}
        state = {k: cast.setdefault((v.data_ptr(), v.shape), v.to(dtype)) if v.is_floating_point() else v
                 for k, v in state.items()}
    path = Path(path)
    _atomic_write(path, lambda tmp: torch.save(state, tmp))
    return sha256_file(path)


def load_weights(model: nn.Module, path: str | Path, sha256: str | None = None) -> nn.Module:
    """Load weights into `model` with torch.load(weights_only=True); if `sha256` is given the file must match it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist; train it with the script named in "
                                f"checkpoints/manifest.json or `git checkout -- checkpoints/{path.name}`")
    if sha256 is not None:
        actual = sha256_file(path)
        if actual != sha256:
            if _is_damaged(path):
                raise _damaged(path, f", sha256 {actual[:12]}… where the manifest says {sha256[:12]}…")
            raise ChecksumError(f"checkpoint {path} has sha256 {actual[:12]}… but the manifest says {sha256[:12]}…: "
                                "the file is damaged or was retrained without updating the manifest. Restore it "
                                f"with `git checkout -- checkpoints/{path.name}` or rerun its training script.")
    elif zipfile.is_zipfile(path) and _is_damaged(path):
        raise _damaged(path)
    device = next(model.parameters(), torch.empty(0)).device
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused pickled code: torch's message says so
        raise
    except Exception as error:  # torch's reader failing on a file cut short: zip, EOF or OS errors
        if _is_damaged(path):
            raise _damaged(path) from error
        raise
    try:
        model.load_state_dict(state)
    except RuntimeError as error:  # torch lists every missing key and size mismatch: keep its list, add the fix
        raise RuntimeError(f"checkpoint {path} does not fit {type(model).__name__}: {error}\nBuild the model with "
                           "the settings that trained it (its entry in checkpoints/manifest.json records them), "
                           "or retrain it for this model.") from None
    return model


def manifest_path() -> Path:
    return checkpoint_dir() / "manifest.json"


def read_manifest() -> dict[str, dict[str, Any]]:
    """All shipped checkpoints: name -> {file, sha256, bytes, script, settings, metric, ...}."""
    path = manifest_path()
    return json.loads(path.read_text()) if path.exists() else {}


def register(name: str, path: str | Path, *, script: str, settings: dict, metric: dict, **extra: Any) -> dict:
    """Record a trained file in the manifest with its hash, size, the script and settings that made it, and its metric."""
    path = Path(path)
    entry = {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size,
             "script": script, "settings": settings, "metric": metric, **extra}
    manifest = read_manifest()
    manifest[name] = entry
    try:
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    except TypeError as error:  # checked before writing, so the manifest is never left half-written
        raise TypeError(f"cannot record {name!r} in the manifest: {error}; settings, metric and extras must be "
                        "plain JSON values (numbers, strings, lists, dicts): convert the rest with str(value) or "
                        "dataclasses.asdict(config)") from None
    _atomic_write(manifest_path(), lambda tmp: Path(tmp).write_text(text))
    return entry


def load_checkpoint(name: str, model: nn.Module) -> dict:
    """Load the shipped checkpoint `name` into `model` after checking its sha256; returns its manifest entry."""
    manifest = read_manifest()
    if name not in manifest:
        known = ", ".join(sorted(manifest)) or "none yet"
        raise KeyError(f"no checkpoint named {name!r} in {manifest_path()} (known: {known}); use one of those "
                       "names, or train it with its script in scripts/ (train_*.py), which registers it")
    entry = manifest[name]
    load_weights(model, checkpoint_dir() / entry["file"], sha256=entry["sha256"])
    return entry


def load_or_train(name: str, model: nn.Module, train_fn: Callable[[nn.Module], Any]) -> str:
    """Load if the shipped checkpoint exists, train otherwise; returns 'loaded' or 'trained' so the notebook can say which."""
    entry = read_manifest().get(name)
    if entry is not None and (checkpoint_dir() / entry["file"]).exists():
        load_checkpoint(name, model)
        return "loaded"
    train_fn(model)
    return "trained"
