"""The shipped Shakespeare GPT: present, hash-checked, small, and as good as its manifest says."""
import pytest
import torch

from genlib.checkpoints import ChecksumError, checkpoint_dir, load_checkpoint, read_manifest
from genlib.text.gpt import GPT, GPTConfig
from genlib.text.lm import evaluate_loss, fixed_batches
from genlib.text.shakespeare import CHECKPOINT, encoded_splits, load_gpt


def test_shipped_gpt_loads_and_reaches_its_stated_loss():
    assert CHECKPOINT in read_manifest(), "checkpoints/manifest.json has no GPT: run `python scripts/train_gpt.py`"
    model, tok, entry = load_gpt()
    assert entry["bytes"] <= 20_000_000
    _, val = encoded_splits(tok)
    quick = evaluate_loss(model, fixed_batches(val, model.config.block_size, 16, 6, seed=7))
    assert abs(quick - entry["metric"]["value"]) < 0.06, (quick, entry["metric"])
    assert entry["metric"]["value"] <= 1.55  # the course target; the best n-gram scores 1.78, nanoGPT's CPU baseline ~1.89


def test_a_damaged_gpt_checkpoint_is_refused(tmp_path, monkeypatch):
    entry = read_manifest()[CHECKPOINT]
    damaged = tmp_path / entry["file"]
    data = bytearray((checkpoint_dir() / entry["file"]).read_bytes())
    data[-100] ^= 0xFF
    damaged.write_bytes(bytes(data))
    (tmp_path / "manifest.json").write_text((checkpoint_dir() / "manifest.json").read_text())
    monkeypatch.setenv("GENLIB_CHECKPOINTS", str(tmp_path))
    with pytest.raises(ChecksumError, match="sha256"):
        load_checkpoint(CHECKPOINT, GPT(GPTConfig(**entry["settings"]["config"])))


def test_load_or_train_falls_back_to_a_short_run_when_nothing_is_shipped(tmp_path, monkeypatch):
    from genlib.text.shakespeare import load_or_train_gpt
    monkeypatch.setenv("GENLIB_CHECKPOINTS", str(tmp_path))  # an empty folder: no manifest, no weights
    model, source = load_or_train_gpt("cpu", steps=3)
    assert source == "a 3-step run in this notebook" and not model.training
    monkeypatch.undo()
    model, source = load_or_train_gpt("cpu")
    assert source == "the shipped checkpoint" and model.config == GPTConfig(**read_manifest()[CHECKPOINT]["settings"]["config"])
