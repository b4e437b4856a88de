import json
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from genlib import checkpoints as ck


@pytest.fixture
def ckdir(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLIB_CHECKPOINTS", str(tmp_path))
    return tmp_path


def test_save_load_round_trip_and_hash(ckdir):
    a, b = nn.Linear(4, 3), nn.Linear(4, 3)
    sha = ck.save_weights(a, ckdir / "lin.pt")
    assert sha == ck.sha256_file(ckdir / "lin.pt") and len(sha) == 64
    ck.load_weights(b, ckdir / "lin.pt", sha256=sha)
    assert torch.equal(a.weight, b.weight)
    assert not [p for p in os.listdir(ckdir) if p.endswith(".tmp")]


def test_float16_storage_loads_back_exactly_what_round_weights_measured(ckdir):
    torch.manual_seed(0)
    emb = nn.Embedding(500, 64)
    head = nn.Linear(64, 500, bias=False)
    head.weight = emb.weight  # tied, as in the GPT
    model = nn.ModuleDict({"emb": emb, "head": head})
    before = emb.weight.detach().clone()
    ck.round_weights(model)
    assert not torch.equal(before, emb.weight) and torch.equal(emb.weight, before.half().float())
    ck.save_weights(model, ckdir / "half.pt", dtype=torch.float16)
    full = ckdir / "full.pt"
    ck.save_weights(model, full)
    assert os.path.getsize(ckdir / "half.pt") < 0.6 * os.path.getsize(full)  # the tied weight is stored once
    fresh = nn.ModuleDict({"emb": nn.Embedding(500, 64), "head": nn.Linear(64, 500, bias=False)})
    ck.load_weights(fresh, ckdir / "half.pt")
    assert fresh["emb"].weight.dtype == torch.float32 and torch.equal(fresh["emb"].weight, emb.weight)


def test_hash_mismatch_is_a_clear_error(ckdir):
    a = nn.Linear(2, 2)
    ck.save_weights(a, ckdir / "lin.pt")
    with pytest.raises(ck.ChecksumError, match="damaged or was retrained"):
        ck.load_weights(a, ckdir / "lin.pt", sha256="0" * 64)


def test_missing_checkpoint_message(ckdir):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ck.load_weights(nn.Linear(2, 2), ckdir / "nope.pt")
    with pytest.raises(KeyError, match="no checkpoint named 'gpt'"):
        ck.load_checkpoint("gpt", nn.Linear(2, 2))


def test_loading_refuses_pickled_code(ckdir):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    torch.save({"weight": Evil()}, ckdir / "evil.pt")
    with pytest.raises(Exception, match="(?i)weights_only|unsupported|global"):
        ck.load_weights(nn.Linear(2, 2), ckdir / "evil.pt")


def test_failed_write_leaves_old_file_intact(ckdir, monkeypatch):
    model = nn.Linear(2, 2)
    ck.save_weights(model, ckdir / "m.pt")
    before = (ckdir / "m.pt").read_bytes()

    def broken_save(obj, f):
        with open(f, "wb") as fh:
            fh.write(b"half a fi")
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        ck.save_weights(nn.Linear(2, 2), ckdir / "m.pt")
    assert (ckdir / "m.pt").read_bytes() == before
    assert not [p for p in os.listdir(ckdir) if p.endswith(".tmp")]


def test_manifest_register_and_load_or_train(ckdir):
    model = nn.Linear(3, 1)
    calls = []
    assert ck.load_or_train("lin", nn.Linear(3, 1), calls.append) == "trained" and len(calls) == 1
    ck.save_weights(model, ckdir / "lin.pt")
    entry = ck.register("lin", ckdir / "lin.pt", script="scripts/x.py", settings={"steps": 1},
                        metric={"name": "mse", "value": 0.5})
    manifest = json.loads((ckdir / "manifest.json").read_text())
    assert manifest["lin"]["sha256"] == entry["sha256"] == ck.sha256_file(ckdir / "lin.pt")
    assert manifest["lin"]["bytes"] == (ckdir / "lin.pt").stat().st_size
    fresh = nn.Linear(3, 1)
    assert ck.load_or_train("lin", fresh, calls.append) == "loaded" and len(calls) == 1
    assert torch.equal(fresh.weight, model.weight)


@pytest.mark.parametrize("with_sha", [False, True])
@pytest.mark.parametrize("damage", ["truncated", "bit flip"])
def test_a_truncated_or_corrupted_file_gets_the_loaders_own_message(ckdir, with_sha, damage):
    sha = ck.save_weights(nn.Linear(64, 64), ckdir / "lin.pt")
    data = bytearray((ckdir / "lin.pt").read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF  # inside the weights: torch.load alone would load the wrong numbers silently
    (ckdir / "bad.pt").write_bytes(bytes(data))
    with pytest.raises(ck.DamagedCheckpointError,
                       match=r"bad.pt is damaged or truncated .*`git checkout -- checkpoints/bad.pt` or rerun its training script"):
        ck.load_weights(nn.Linear(64, 64), ckdir / "bad.pt", sha256=sha if with_sha else None)


def test_every_shipped_checkpoint_has_its_file_hash_and_a_headline_metric():
    """What notebook 00 lists and the README's table quotes: each entry's file is there, matches its hash and size,
    stays under 20 MB, and has a metric with a name and a numeric value."""
    root = Path(__file__).resolve().parents[1]
    manifest = json.loads((root / "checkpoints" / "manifest.json").read_text())
    total = 0
    for name, entry in manifest.items():
        path = root / "checkpoints" / entry["file"]
        assert path.is_file(), f"{name}: {entry['file']} is missing"
        assert path.stat().st_size == entry["bytes"] < 20e6, name
        assert ck.sha256_file(path) == entry["sha256"], name
        metric = entry["metric"]
        assert isinstance(metric.get("name"), str) and isinstance(metric.get("value"), (int, float)), name
        total += entry["bytes"]
    data = sum(f.stat().st_size for f in (root / "data").rglob("*") if f.is_file())
    assert total + data < 100e6, f"checkpoints {total / 1e6:.1f} MB + data {data / 1e6:.1f} MB: a Colab clone should stay under 100 MB"
