"""Data-parallel training on this CPU: `torchrun` starts two gloo processes with batch B each, and they must train
exactly like one process with batch 2B made of the same items, to float tolerance.

DDP averages the two ranks' gradients; each rank's loss is a mean over its B items, so the average is the gradient
of the mean over all 2B, which is what the single process computes. Everything downstream (gradient clipping,
AdamW, Muon's orthogonalized step, the EMA) then sees the same numbers. The same file is the worker that torchrun
runs: `python -m torch.distributed.run --nproc_per_node=2 tests/test_distributed.py OUT_DIR`.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]
from genlib import distributed  # noqa: E402
from genlib.text.gpt import GPT, GPTConfig  # noqa: E402
from genlib.text.lm import next_token_loss, random_batch  # noqa: E402
from genlib.text.pretrain import Recipe, lr_multiplier, make_optimizers, pretrain  # noqa: E402
from genlib.train import EMA, cosine_lr, train  # noqa: E402

STEPS, B, T, WORLD = 3, 4, 16, 2
RECIPE = Recipe(batch_size=B, block_size=T, lr=3e-3, muon_lr=1e-2, optimizer="muon", schedule="wsd", warmup=0.34,
                cooldown=0.4, min_lr_ratio=0.0)
TINY_UNET = dict(base_channels=8, channel_mults=[1, 2], groups=4, heads=2, time_dim=16)


def tiny_gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=11, block_size=T, n_layer=2, n_head=2, n_embd=16, pos="rope", norm="rms"))


def token_data() -> torch.Tensor:
    return torch.randint(11, (400,), generator=torch.Generator().manual_seed(123))


def ddpm_settings() -> dict:
    from train_ddpm import recipe_settings
    return recipe_settings("cpu-small", seed=0, batch_size=B, model=TINY_UNET)


def regression_batches(rank: int, crash_at: int | None = None):
    """This rank's batches of a noisy linear regression, from its own seeded generator; optionally a crash."""
    g = torch.Generator().manual_seed(distributed.rank_seed(7, rank))
    calls = {"n": 0}

    def batch():
        calls["n"] += 1
        if calls["n"] == crash_at:
            raise KeyboardInterrupt("the session ended")
        x = torch.randn(B, 3, generator=g)
        return x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(B, 1, generator=g)
    return batch, g


def regression_run(rank: int, state: Path, steps: int, crash_at: int | None = None) -> nn.Module:
    torch.manual_seed(1)
    model = distributed.wrap(nn.Linear(3, 1))
    batch, g = regression_batches(rank, crash_at)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    train(model, lambda m, b: nn.functional.mse_loss(m(b[0]), b[1]), batch, steps=steps, optimizer=opt,
          lr_schedule=lambda p: 1 - p, state_path=state, state_every=0, rng=g, progress=False)
    return distributed.unwrap(model)


def worker(out: Path) -> None:
    """One rank of the torchrun group: train each case and write what it got to OUT/rank{r}.pt."""
    torch.set_num_threads(1)
    ctx = distributed.setup("cpu")
    result = {"world_size": ctx.world_size}
    # 1. the GPT recipe (AdamW + Muon, warm-up/stable/decay, gradient clipping) through genlib.text.pretrain
    model = distributed.wrap(tiny_gpt())
    hist = pretrain(model, token_data(), RECIPE, steps=STEPS, seed=0, progress=False)
    result["gpt"], result["gpt_loss"] = distributed.unwrap(model).state_dict(), hist.loss
    # 2. the DDPM script's own recipe (v-prediction, AdamW, EMA); rank 0 alone writes the checkpoint
    from train_ddpm import train_recipe
    ema_model, hist = train_recipe(ddpm_settings(), steps=STEPS, device=torch.device("cpu"), progress=False)
    result["ddpm_ema"], result["ddpm_loss"] = ema_model.state_dict(), hist.loss
    # 3. a time budget whose clocks disagree: rank 1 starts 0.3 s late, yet both stop at the same step with the
    #    same learning rates (else their weights would part); the checkpoint is written by rank 0 only
    torch.manual_seed(0)
    model = distributed.wrap(nn.Linear(3, 1))  # (wrapping syncs the ranks: the late start comes after it)
    time.sleep(0.3 * ctx.rank)
    hist = train(model, lambda m, b: m(b).pow(2).mean(), lambda: torch.randn(B, 3), seconds=0.6, lr=0.01,
                 lr_schedule=lambda p: 1 - p, checkpoint=out / f"written_by_rank{ctx.rank}.pt", progress=False)
    result["clock_steps"], result["clock_lr"] = len(hist.steps), hist.lr
    result["clock_weight"] = distributed.unwrap(model).weight.detach().clone()
    # 4. a crash after 2 of 5 steps, then a resume from the state rank 0 saved (every rank's generator in it)
    result["straight"] = regression_run(ctx.rank, out / "straight.state.pt", 5).weight.detach().clone()
    with pytest.raises(KeyboardInterrupt):
        regression_run(ctx.rank, out / "crash.state.pt", 5, crash_at=3)
    if ctx.is_main:
        shutil.copy(out / "crash.state.pt", out / "saved_by_two.state.pt")
    distributed.agree([0.0])  # let rank 0 copy the file before anyone resumes (and deletes it at the end)
    result["resumed"] = regression_run(ctx.rank, out / "crash.state.pt", 5).weight.detach().clone()
    torch.save(result, out / f"rank{ctx.rank}.pt")
    distributed.cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Run this file under torchrun with two CPU processes; their results, rank 0 first."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    if sys.platform.startswith("linux"):
        env["GLOO_SOCKET_IFNAME"] = "lo"  # loopback only: the tests run offline
    failures = []
    for _ in range(2):  # one retry, in a fresh folder: gloo on Python 3.13 once aborted a rank at exit ("terminate
        # called without an active exception"); a real failure fails both times, and both outputs are shown
        out = tmp_path_factory.mktemp("ddp")
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={WORLD}", "--nnodes=1",
               "--master_addr=127.0.0.1", f"--master_port={_free_port()}", __file__, str(out)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=ROOT)
        if proc.returncode == 0:
            break
        failures.append(proc.stdout[-3000:] + proc.stderr[-3000:])
    assert proc.returncode == 0, "\n--- retry ---\n".join(failures)
    return out, [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def test_two_gloo_ranks_train_the_gpt_recipe_like_one_process_with_the_doubled_batch(ranks):
    _, (r0, r1) = ranks
    assert r0["world_size"] == r1["world_size"] == WORLD
    assert max_difference(r0["gpt"], r1["gpt"]) == 0  # DDP keeps the ranks' weights identical
    model = tiny_gpt()
    gens = [torch.Generator().manual_seed(distributed.rank_seed(0, r)) for r in range(WORLD)]

    def doubled_batch():  # rank 0's B windows, then rank 1's: the same items, in one process
        xs, ys = zip(*(random_batch(token_data(), T, B, g) for g in gens))
        return torch.cat(xs), torch.cat(ys)
    hist = train(model, next_token_loss, doubled_batch, steps=STEPS, optimizer=make_optimizers(model, RECIPE),
                 lr_schedule=lambda p: lr_multiplier(p, RECIPE), grad_clip=RECIPE.grad_clip, progress=False)
    diff = max_difference(r0["gpt"], model.state_dict())
    print(f"GPT (AdamW + Muon), {STEPS} steps: max |weight difference| between 2 x {B} and 1 x {2 * B} = {diff:.2e}")
    assert diff < 1e-5
    assert max_difference(r0["gpt"], tiny_gpt().state_dict()) > 1e-3  # and training did move the weights
    assert r0["gpt_loss"] == pytest.approx(hist.loss, rel=1e-5)  # every rank logs the mean loss over 2B


def test_two_gloo_ranks_train_the_ddpm_script_recipe_like_one_process_with_the_doubled_batch(ranks):
    from genlib.data import load_mnist
    from genlib.diffusion import alphas_cumprod, linear_betas
    from genlib.diffusion.ddpm import v_prediction_loss
    from genlib.image.unet import UNet
    from genlib.device import seed_everything
    _, (r0, r1) = ranks
    assert max_difference(r0["ddpm_ema"], r1["ddpm_ema"]) == 0
    settings = ddpm_settings()
    assert settings["prediction"] == "v" and settings.get("min_snr_gamma") is None  # the loss written out below
    seed_everything(settings["seed"])
    ab = alphas_cumprod(linear_betas(settings["timesteps"]))
    data = load_mnist("train")[0] * 2 - 1
    model = UNet(settings["model"])
    ema = EMA(model, settings["ema_decay"])
    gens = [torch.Generator().manual_seed(distributed.rank_seed(settings["seed"], r)) for r in range(WORLD)]

    def doubled_batch():  # each rank draws its images, then (in the loss) its timesteps and noise
        parts = []
        for g in gens:
            x0 = data[torch.randint(len(data), (B,), generator=g)]
            t = torch.randint(len(ab), (B,), generator=g)
            parts.append((x0, t, torch.randn(x0.shape, generator=g)))
        return [torch.cat(p) for p in zip(*parts)]
    train(model, lambda m, b: v_prediction_loss(m, b[0], ab, t=b[1], noise=b[2]), doubled_batch, steps=STEPS,
          optimizer=torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=0.0),
          lr_schedule=lambda p: cosine_lr(p, warmup=0.01, min_ratio=0.1), grad_clip=1.0, ema=ema, progress=False)
    diff = max_difference(r0["ddpm_ema"], ema.model.state_dict())
    print(f"DDPM U-Net EMA, {STEPS} steps: max |weight difference| between 2 x {B} and 1 x {2 * B} = {diff:.2e}")
    assert diff < 1e-5
    assert max_difference(r0["ddpm_ema"], UNet(settings["model"]).state_dict()) > 1e-4


def test_a_time_budget_stops_every_rank_at_the_same_step_and_only_rank_0_writes(ranks):
    out, (r0, r1) = ranks
    assert r0["clock_steps"] == r1["clock_steps"] > 2
    assert r0["clock_lr"] == r1["clock_lr"] and torch.equal(r0["clock_weight"], r1["clock_weight"])
    assert (out / "written_by_rank0.pt").exists() and not (out / "written_by_rank1.pt").exists()


def test_a_data_parallel_run_resumes_after_a_crash_with_every_ranks_generator(ranks):
    out, (r0, r1) = ranks
    for r in (r0, r1):
        torch.testing.assert_close(r["resumed"], r0["straight"], rtol=0, atol=0)
    assert not (out / "crash.state.pt").exists()  # deleted by rank 0 when the resumed run completed
    state = torch.load(out / "saved_by_two.state.pt", weights_only=True)
    assert state["ranks"] == WORLD and state["step"] == 2 and len(state["rank_rngs"]) == WORLD - 1
    with pytest.raises(RuntimeError, match=r"saved by 2 process\(es\) and this run has 1; resume with "
                                           r"`torchrun --nproc_per_node=2`"):
        regression_run(0, out / "saved_by_two.state.pt", 5)


def test_outside_torchrun_everything_is_one_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = distributed.setup("cpu")
    model = nn.Linear(2, 2)
    assert (ctx.rank, ctx.world_size, ctx.is_main) == (0, 1, True) and distributed.wrap(model) is model
    assert distributed.rank_seed(5) == 5 and distributed.agree([1.0, 2.0]).tolist() == [[1.0, 2.0]]
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(RuntimeError, match="start data-parallel runs with `torchrun --nproc_per_node=N"):
        distributed.setup("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine the script runs for real")
def test_gpu_check_script_parses_and_says_it_needs_a_gpu():
    script = ROOT / "scripts" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PATH="/usr/bin:/bin"))  # no nvidia-smi on this PATH
    assert proc.returncode == 2 and proc.stderr.startswith("gpu_check: ") and "GPU" in proc.stderr


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
