"""Bad input, catalogued: each mistake a learner can make with genlib raises ONE clear error that names the problem
and the fix, and a failure while saving never leaves half a file behind.

The table below is the list a teacher reads: one row per kind of bad input, the exception it raises, and a
pattern that must match both what is wrong and what to do about it. Dedicated tests elsewhere cover some rows in
more depth (test_checkpoints, test_data, test_train, test_decoding, ...); the catalogue keeps them in one place.
Data and checkpoint files are never touched in place: the rows that damage a file damage a copy in tmp_path and
point GENLIB_DATA or GENLIB_CHECKPOINTS at it.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from genlib import checkpoints as ck
from genlib import data, device, diffusion, distributed, metrics, viz
from genlib.data import files, mnist
from genlib.diffusion import ddpm, edm
from genlib.image import classifier, gan, unet, vae
from genlib.text import bpe, decoding, muon, ngram, pretrain, tokenizers
from genlib.text.gpt import GPT, GPTConfig
from genlib.train import train

# ---- small helpers -------------------------------------------------------------------------------------------


def tiny_gpt(**kw):
    return GPT(GPTConfig(**{**dict(vocab_size=65, block_size=64, n_layer=1, n_head=2, n_embd=16), **kw})).eval()


def tiny_ab():
    return diffusion.alphas_cumprod(diffusion.linear_betas(100))


def zero_eps(x, t):
    return torch.zeros_like(x)


def fresh_data_dir(env):
    """GENLIB_DATA -> an empty folder in tmp_path, and forget which files were already verified."""
    env.monkeypatch.setenv("GENLIB_DATA", str(env.tmp_path))
    env.monkeypatch.setattr(files, "_verified", set())
    return env.tmp_path


def damaged_mnist(env):
    """A copy of the bundled MNIST whose image file is cut to half its length, and load_mnist pointed at it."""
    src = data.data_dir() / "mnist"
    folder = fresh_data_dir(env) / "mnist"
    shutil.copytree(src, folder)
    image_file = folder / "t10k-images-idx3-ubyte.gz"
    image_file.write_bytes(image_file.read_bytes()[: image_file.stat().st_size // 2])
    data.load_mnist("train")


def checkpoint_copy(env, name="lin.pt", model=None):
    """A model saved to GENLIB_CHECKPOINTS=tmp_path; returns (path, sha256)."""
    env.monkeypatch.setenv("GENLIB_CHECKPOINTS", str(env.tmp_path))
    path = env.tmp_path / name
    return path, ck.save_weights(model or nn.Linear(4, 3), path)


def truncated_checkpoint(env):
    path, sha = checkpoint_copy(env)
    path.write_bytes(path.read_bytes()[:200])
    ck.load_weights(nn.Linear(4, 3), path, sha256=sha)


def wrong_hash(env):
    path, _ = checkpoint_copy(env)
    ck.load_weights(nn.Linear(4, 3), path, sha256="0" * 64)


def wrong_architecture(env):
    path, _ = checkpoint_copy(env)
    ck.load_weights(nn.Linear(5, 3), path)


def unknown_checkpoint(env):
    checkpoint_copy(env)
    ck.load_checkpoint("gpt_big", nn.Linear(4, 3))


def register_unserializable(env):
    path, _ = checkpoint_copy(env)
    ck.register("lin", path, script="scripts/x.py", settings={"device": torch.device("cpu")}, metric={})


def resume_other_model(env):
    state = env.tmp_path / "state.pt"
    batch = lambda: torch.ones(2, 3)  # noqa: E731
    with pytest.raises(KeyboardInterrupt):  # a run that saved its state, then crashed
        train(nn.Linear(3, 1), lambda m, b: m(b).pow(2).mean(), _crash_after(batch, 2), steps=5,
              state_path=state, state_every=0, progress=False)
    train(nn.Linear(3, 2), lambda m, b: m(b).pow(2).mean(), batch, steps=5, state_path=state, progress=False)


def resume_on_other_process_count(env):
    """A state saved by a 2-process torchrun run, resumed by plain python (one process)."""
    state = env.tmp_path / "state.pt"
    with pytest.raises(KeyboardInterrupt):
        train(nn.Linear(3, 1), mse, _crash_after(lambda: torch.ones(2, 3), 2), steps=5, state_path=state,
              state_every=0, progress=False)
    saved = torch.load(state, weights_only=True)
    torch.save({**saved, "ranks": 2, "rank_rngs": [(None, torch.get_rng_state())]}, state)
    train(nn.Linear(3, 1), mse, lambda: torch.ones(2, 3), steps=5, state_path=state, progress=False)


def _crash_after(batch, n):
    calls = {"n": 0}

    def f():
        calls["n"] += 1
        if calls["n"] > n:
            raise KeyboardInterrupt("the session ended")
        return batch()
    return f


def train_args(loss_fn, batches=lambda: torch.ones(4, 1), **kw):
    return train(nn.Linear(1, 1), loss_fn, batches, **{"steps": 2, "progress": False, **kw})


def mse(m, b):
    return m(b).pow(2).mean()


def untrained_classifier():
    return classifier.MnistClassifier()


# ---- the catalogue -------------------------------------------------------------------------------------------

CASES = [
    # where the code runs
    pytest.param(lambda env: device.get_device("gpu"), ValueError,
                 r"unknown device 'gpu': use one of cpu, cuda, mps", id="device-unknown-name"),
    pytest.param(lambda env: device.get_device("cuda:0"), RuntimeError,
                 r"'cuda:0' was asked for but this machine has no CUDA GPU; use get_device\(\) to pick automatically",
                 id="device-cuda-on-a-cpu-machine",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")),
    pytest.param(lambda env: (env.monkeypatch.setenv("GENLIB_SCALE", "huge"),
                              device.scale()), ValueError,
                 r"GENLIB_SCALE='huge' is not a scale: set it to one of \('cpu-small', 'gpu-full'\) or unset it",
                 id="scale-unknown-env"),
    # data files
    pytest.param(lambda env: (fresh_data_dir(env), data.load_shakespeare()),
                 files.DataFileError, r"input.txt is missing\. Get it with `git checkout -- data/tinyshakespeare/",
                 id="data-file-missing"),
    pytest.param(damaged_mnist, files.DataFileError,
                 r"t10k-images-idx3-ubyte.gz is corrupted: sha256 .* Get it with `git checkout -- data/mnist/",
                 id="data-file-damaged"),
    pytest.param(lambda env: (env.tmp_path.joinpath("x.gz").write_bytes(gzip.compress(b"not an idx file")),
                              mnist.read_idx(env.tmp_path / "x.gz")),
                 ValueError, r"not an unsigned-byte IDX file .*; pass an MNIST file such as t10k-images",
                 id="data-file-not-mnist-format"),
    pytest.param(lambda env: data.load_mnist("test"), ValueError,
                 r"unknown split 'test': use one of \('train', 'val'\)", id="data-unknown-split"),
    pytest.param(lambda env: data.make_toy("swiss_roll"), ValueError,
                 r"unknown toy data set 'swiss_roll': choose one of two_moons, ring, spiral", id="toy-unknown-name"),
    # checkpoints
    pytest.param(wrong_hash, ck.ChecksumError,
                 r"has sha256 \w+… but the manifest says 000000000000….*`git checkout -- checkpoints/lin.pt`",
                 id="checkpoint-wrong-hash"),
    pytest.param(truncated_checkpoint, ck.DamagedCheckpointError,
                 r"lin.pt is damaged or truncated \(200 bytes.*`git checkout -- checkpoints/lin.pt` or rerun",
                 id="checkpoint-truncated"),
    pytest.param(lambda env: ck.load_weights(nn.Linear(4, 3), env.tmp_path / "nope.pt"), FileNotFoundError,
                 r"nope.pt does not exist; train it with the script named in checkpoints/manifest.json",
                 id="checkpoint-missing-file"),
    pytest.param(unknown_checkpoint, KeyError, r"no checkpoint named 'gpt_big'.*use one of those names, or train it",
                 id="checkpoint-unknown-name"),
    pytest.param(wrong_architecture, RuntimeError,
                 r"(?s)lin.pt does not fit Linear: .*size mismatch.*\nBuild the model with the settings that trained it",
                 id="checkpoint-wrong-architecture"),
    pytest.param(register_unserializable, TypeError,
                 r"cannot record 'lin' in the manifest: .*not JSON serializable.*convert the rest with str\(value\)",
                 id="manifest-settings-not-json"),
    # the training loop
    pytest.param(lambda env: train_args(mse, steps=0), ValueError,
                 r"the budget must be positive: steps must be >= 1 and seconds > 0, got steps=0", id="train-steps-0"),
    pytest.param(lambda env: train_args(mse, steps=None), ValueError, r"give a budget: steps=\.\.\., seconds=",
                 id="train-no-budget"),
    pytest.param(lambda env: train_args(lambda m, b: m(b).sum() * float("inf")), FloatingPointError,
                 r"loss became (-?inf|nan) at step 0: lower the learning rate or clip gradients", id="train-loss-not-finite"),
    pytest.param(lambda env: train_args(mse, batches=[]), ValueError,
                 r"the batch iterable is empty: check the data set and batch size", id="train-empty-data-set"),
    pytest.param(lambda env: train_args(lambda m, b: m(b).pow(2)), ValueError,
                 r"loss_fn must return one number.*got shape \(4, 1\): average per-item losses with \.mean\(\)",
                 id="train-loss-not-a-scalar"),
    pytest.param(resume_other_model, RuntimeError,
                 r"(?s)cannot resume from .*state.pt .*saved by a different model or optimizer\. Delete the file",
                 id="train-resume-other-model"),
    pytest.param(resume_on_other_process_count, RuntimeError,
                 r"saved by 2 process\(es\) and this run has 1; resume with `torchrun --nproc_per_node=2`.*or delete",
                 id="train-resume-on-other-process-count"),
    pytest.param(lambda env: (env.monkeypatch.setenv("WORLD_SIZE", "2"), env.monkeypatch.delenv("RANK", raising=False),
                              distributed.setup("cpu")), RuntimeError,
                 r"WORLD_SIZE=2 is set but RANK or MASTER_ADDR is not: start data-parallel runs with `torchrun "
                 r"--nproc_per_node=N", id="distributed-without-torchrun"),
    # text: tokenizers, models, decoding
    pytest.param(lambda env: tokenizers.CharTokenizer("abc").encode("a bz"),
                 ValueError, r"characters not in the vocabulary: ' z'.*so remove or replace these",
                 id="prompt-unknown-characters"),
    pytest.param(lambda env: tokenizers.CharTokenizer(""), ValueError,
                 r"cannot build a vocabulary from empty text: pass the training text", id="tokenizer-empty-text"),
    pytest.param(lambda env: tokenizers.CharTokenizer("abc").decode([1, 7]),
                 ValueError, r"ids \[7\] are outside the vocabulary 0\.\.2; decode ids made by this tokenizer",
                 id="tokenizer-decode-unknown-id"),
    pytest.param(lambda env: bpe.BPETokenizer().encode(b"bytes"), TypeError,
                 r"text must be a str, got bytes \(decode bytes first, e\.g\. data\.decode\('utf-8'\)\)",
                 id="bpe-bytes-not-text"),
    pytest.param(lambda env: bpe.BPETokenizer().train("some text", 100),
                 ValueError, r"vocab_size must be an int >= 256 \(the byte values\) \+ 1 special token\(s\) = 257, got 100",
                 id="bpe-vocab-too-small"),
    pytest.param(lambda env: tiny_gpt()(torch.zeros(1, 70, dtype=torch.long)), ValueError,
                 r"sequence of 70 tokens is longer than the model's context block_size=64; crop the prompt to its "
                 r"last 64 tokens", id="prompt-longer-than-context"),
    pytest.param(lambda env: tiny_gpt()(torch.zeros(1, 8)), ValueError,
                 r"idx must be token ids \[batch, time\] of dtype long, got .*torch.float32; make them with "
                 r"torch.tensor\(tokenizer.encode\(text\)\) or \.long\(\)", id="gpt-float-ids"),
    pytest.param(lambda env: tiny_gpt()(torch.tensor([[3, 70]])), ValueError,
                 r"token ids must lie in 0\.\.64 \(vocab_size\), got 3\.\.70; encode text with the tokenizer the model",
                 id="gpt-id-outside-vocabulary"),
    pytest.param(lambda env: decoding.generate(tiny_gpt(), [1], 5,
                                                                                        temperature=-1.0),
                 ValueError, r"temperature must be >= 0 \(0 = greedy\), got -1", id="temperature-negative"),
    pytest.param(lambda env: decoding.apply_temperature(torch.zeros(3), 0),
                 ValueError, r"temperature must be > 0 here, got 0; temperature 0 means greedy decoding: call greedy",
                 id="temperature-zero-in-apply-temperature"),
    pytest.param(lambda env: decoding.generate(tiny_gpt(), [1], 5, top_p=1.5),
                 ValueError, r"top_p must be in \(0, 1\] or None, got 1.5", id="top-p-out-of-range"),
    pytest.param(lambda env: decoding.generate(tiny_gpt(), [], 5), ValueError,
                 r"the prompt must be a non-empty sequence .*; start from at least one token", id="prompt-empty"),
    pytest.param(lambda env: decoding.generate(tiny_gpt(), [1, 99], 5),
                 ValueError, r"prompt ids must lie in 0\.\.64 .*got 1\.\.99; encode the prompt with the tokenizer",
                 id="prompt-id-outside-vocabulary"),
    pytest.param(lambda env: ngram.NGramLM(5, 2).fit(torch.tensor([0, 1, 2]))
                 .generate(torch.zeros(1, 1, dtype=torch.long), 3, temperature=0), ValueError,
                 r"temperature must be > 0, got 0; use 1.0 for the model's own probabilities", id="ngram-temperature-0"),
    pytest.param(lambda env: ngram.NGramLM(5, 2).fit(torch.tensor([0., 1., 2.])),
                 TypeError, r"must be an integer tensor of token ids, got dtype torch.float32; encode text with the "
                 r"tokenizer", id="ngram-float-ids"),
    pytest.param(lambda env: pretrain.Recipe(schedule="linear"), ValueError,
                 r"schedule must be 'cosine' or 'wsd', got 'linear'", id="recipe-unknown-schedule"),
    pytest.param(lambda env: pretrain.pretrain(
        tiny_gpt(), torch.zeros(10, dtype=torch.long), pretrain.Recipe(),
        steps=1, progress=False), ValueError,
        r"data has 10 tokens, fewer than block_size \+ 1 = 65: train on more text .* or use a smaller block_size",
        id="pretrain-data-shorter-than-context"),
    pytest.param(lambda env: muon.Muon([nn.Parameter(torch.zeros(3))]), ValueError,
                 r"Muon only takes 2-D weight matrices, got a parameter of shape \(3,\); give .* biases to AdamW",
                 id="muon-given-a-bias"),
    # images
    pytest.param(lambda env: unet.UNet()(torch.zeros(2, 28, 28), 5), ValueError,
                 r"x must be \[N, 1, H, W\].*got \(2, 28, 28\); it has no channel axis: add one with x.unsqueeze\(1\)",
                 id="image-missing-channel-axis"),
    pytest.param(lambda env: unet.UNet()(torch.zeros(2, 1, 28, 28,
                                                                                          dtype=torch.uint8), 5),
                 ValueError, r"x must be float images scaled to \[-1, 1\], got dtype torch.uint8; convert uint8 pixels "
                 r"with x.float\(\) / 127.5 - 1", id="image-uint8-into-unet"),
    pytest.param(lambda env: unet.UNet()(torch.zeros(2, 28, 28, 3), 5), ValueError,
                 r"got \(2, 28, 28, 3\); the channels come last \(NHWC\): move them with x.permute\(0, 3, 1, 2\)",
                 id="image-channels-last"),
    pytest.param(lambda env: gan.Discriminator()(torch.full((2, 1, 28, 28), 255.)),
                 ValueError, r"must lie in \[-1, 1\] .*got values in \[255.000, 255.000\]; convert 0-255 pixels with "
                 r"x / 127.5 - 1", id="image-0-255-into-discriminator"),
    pytest.param(lambda env: metrics.classifier_features(
        -torch.ones(2, 1, 28, 28), untrained_classifier()), ValueError,
        r"images must lie in \[0, 1\], got values in \[-1.000, -1.000\]; map \[-1, 1\] images with \(x \+ 1\) / 2",
        id="image-minus-1-to-1-into-fid"),
    pytest.param(lambda env: vae.vae_loss(
        vae.VAE(4, 8), torch.zeros(2, 784)), ValueError,
        r"images must be \[N, 1, 28, 28\], got \(2, 784\); each image is a flat vector: reshape with "
        r"x.view\(-1, 1, 28, 28\)", id="image-flat-into-vae"),
    pytest.param(lambda env: gan.generator_loss(torch.tensor([1, 0])), TypeError,
                 r"got dtype torch.int64; pass fake_logits.float\(\)", id="gan-integer-logits"),
    # diffusion
    pytest.param(lambda env: diffusion.sample(zero_eps, (2, 2), "plms",
                                                                              alphas_cumprod=tiny_ab()),
                 ValueError, r"unknown sampler 'plms': use one of ddpm, ddim, euler, euler_ancestral, heun, dpmpp_2m",
                 id="sampler-unknown-name"),
    pytest.param(lambda env: diffusion.sample(zero_eps, (2, 2), "ddim", steps=0,
                                                                              alphas_cumprod=tiny_ab()),
                 ValueError, r"steps must be an int >= 1, got 0", id="sampler-steps-0"),
    pytest.param(lambda env: diffusion.sample(zero_eps, (2, 2), "ddim", eta=2.0,
                                                                              alphas_cumprod=tiny_ab()),
                 ValueError, r"eta must lie in \[0, 1\] \(0 = deterministic, 1 = full ancestral noise\), got 2.0",
                 id="sampler-eta-out-of-range"),
    pytest.param(lambda env: diffusion.sample(zero_eps, (2, 2), "ddpm", karras=True,
                                                                              alphas_cumprod=tiny_ab()),
                 ValueError, r"karras=True applies to the sigma samplers euler, .*, not 'ddpm'",
                 id="sampler-karras-on-ddpm"),
    pytest.param(lambda env: diffusion.sample(zero_eps, (2, 2), alphas_cumprod=[0.5]),
                 ValueError, r"alphas_cumprod must be 1-D with >= 2 timesteps, .*make one with "
                 r"alphas_cumprod\(linear_betas\(\)\)", id="diffusion-bad-schedule"),
    pytest.param(lambda env: ddpm.as_noise_predictor(nn.Identity(),
                                                                                                   tiny_ab(), "x0"),
                 ValueError, r"prediction must be 'eps', 'v' or 'edm' \(what the network was trained to output\), "
                 r"got 'x0'", id="ddpm-unknown-prediction"),
    pytest.param(lambda env: edm.edm_coefficients(0.0), ValueError,
                 r"sigma must be finite and > 0", id="edm-sigma-zero"),
    # metrics and pictures
    pytest.param(lambda env: metrics.fid(torch.zeros(1, 1, 28, 28),
                                                                      torch.zeros(5, 1, 28, 28), untrained_classifier()),
                 ValueError, r"FID needs at least 2 images per set, got 1; pass a batch .* of many samples",
                 id="fid-one-image"),
    pytest.param(lambda env: viz.show_images(-torch.ones(2, 1, 4, 4)), ValueError,
                 r"image values must lie in \[0, 1\], got \[-1.000, -1.000\]; map \[-1, 1\] data with \(x \+ 1\) / 2",
                 id="viz-images-out-of-range"),
    pytest.param(lambda env: viz.scatter2d(torch.zeros(5, 3)), ValueError,
                 r"points must be \[N, 2\], got \(5, 3\).*pick two coordinates with p\[:, :2\]", id="viz-points-not-2d"),
    pytest.param(lambda env: viz.slider_plot(lambda t: None, t=(0, 1, 0.1, 2)), ValueError,
                 r"slider 't' must be \(min, max, step, default\) with min <= default <= max", id="viz-slider-default"),
]


def listing(env):
    """The folder's files, to prove that a failed case wrote nothing (no half-written or temporary file)."""
    return sorted(p.relative_to(env.tmp_path).as_posix() for p in env.tmp_path.rglob("*") if p.is_file())


@pytest.mark.parametrize("call, error, message", CASES)
def test_bad_input_raises_one_clear_error_naming_problem_and_fix(call, error, message, tmp_path, monkeypatch):
    env = SimpleNamespace(tmp_path=tmp_path, monkeypatch=monkeypatch)
    with pytest.raises(error, match=message) as caught:
        call(env)
    assert caught.value.__traceback__ is not None and len(str(caught.value)) < 1200
    assert not [p for p in listing(env) if p.endswith(".tmp")]


def test_the_catalogue_covers_at_least_25_kinds_across_genlib():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) >= 25


# ---- no file is left half-written --------------------------------------------------------------------------------

def break_torch_save(monkeypatch, after: int = 0):
    """torch.save writes the first bytes of the file, then the disk is full (after `after` good saves)."""
    real, calls = torch.save, {"n": 0}

    def save(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= after:
            return real(obj, f, *args, **kwargs)
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half a file")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(torch, "save", save)


def test_a_failed_save_weights_leaves_no_file_at_all(tmp_path, monkeypatch):
    break_torch_save(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        ck.save_weights(nn.Linear(2, 2), tmp_path / "new.pt")
    assert os.listdir(tmp_path) == []


def test_a_failed_register_leaves_the_manifest_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLIB_CHECKPOINTS", str(tmp_path))
    ck.save_weights(nn.Linear(2, 2), tmp_path / "a.pt")
    ck.register("a", tmp_path / "a.pt", script="s.py", settings={}, metric={})
    before = (tmp_path / "manifest.json").read_bytes()
    real = type(tmp_path).write_text

    def half_write(self, text, *args, **kwargs):
        real(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(type(tmp_path), "write_text", half_write)
    with pytest.raises(OSError, match="No space left"):
        ck.register("b", tmp_path / "a.pt", script="s.py", settings={}, metric={})
    monkeypatch.undo()
    assert (tmp_path / "manifest.json").read_bytes() == before and set(json.loads(before)) == {"a"}
    assert sorted(os.listdir(tmp_path)) == ["a.pt", "manifest.json"]
    with pytest.raises(TypeError, match="not JSON serializable"):  # checked before anything is written
        ck.register("c", tmp_path / "a.pt", script="s.py", settings={"x": object()}, metric={})
    assert (tmp_path / "manifest.json").read_bytes() == before


def test_a_failed_state_save_keeps_the_last_good_state_and_resumes_from_it(tmp_path, monkeypatch):
    def run(folder, steps=6):
        torch.manual_seed(0)
        model = nn.Linear(3, 1)
        g = torch.Generator().manual_seed(1)
        hist = train(model, lambda m, b: m(b).pow(2).mean(), lambda: torch.randn(8, 3, generator=g), steps=steps,
                     optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), state_every=0, rng=g,
                     state_path=folder / "state.pt", checkpoint=folder / "final.pt", progress=False)
        return model, hist
    straight, _ = run(tmp_path / "straight")
    break_torch_save(monkeypatch, after=2)  # the state saves after steps 1 and 2 succeed, the third fails
    with pytest.raises(OSError, match="No space left"):
        run(tmp_path / "crash")
    monkeypatch.undo()
    assert os.listdir(tmp_path / "crash") == ["state.pt"]  # no temporary file, no final checkpoint
    state = torch.load(tmp_path / "crash" / "state.pt", weights_only=True)
    assert state["step"] == 2  # the last complete state, not the half-written third
    resumed, hist = run(tmp_path / "crash")
    assert hist.steps == list(range(6))
    torch.testing.assert_close(resumed.weight, straight.weight, rtol=0, atol=0)
    assert os.listdir(tmp_path / "crash") == ["final.pt"]


def test_a_failed_final_checkpoint_leaves_no_file(tmp_path, monkeypatch):
    break_torch_save(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        train(nn.Linear(1, 1), mse, lambda: torch.ones(2, 1), steps=2, checkpoint=tmp_path / "m.pt", progress=False)
    assert os.listdir(tmp_path) == []
