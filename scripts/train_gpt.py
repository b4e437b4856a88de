"""Train the shipped character-level Shakespeare GPT and record it in checkpoints/manifest.json.

    python scripts/train_gpt.py                      # cpu-small: a 1.2M-parameter GPT, 55 minutes on a laptop CPU
    python scripts/train_gpt.py --scale gpu-full     # nanoGPT's 'baby GPT' size, a few minutes on a GPU
    python scripts/train_gpt.py --minutes 5 --out /tmp/gpt.pt --no-register   # a quick try
    torchrun --nproc_per_node=8 scripts/train_gpt.py --scale gpu-full           # data-parallel on 8 GPUs
    torchrun --nproc_per_node=2 scripts/train_gpt.py --minutes 1 --no-register --out /tmp/gpt.pt   # 2 CPU processes

Under torchrun (genlib.distributed: NCCL between GPUs, gloo between CPU processes) every process trains on the
recipe's batch_size windows of its own, so the batch is N times larger (one process with an N-times batch gives
the same weights; tests/test_distributed.py checks it), all stop at the same step, and rank 0 alone measures,
saves and registers.

The recipe is the one benchmarks/gpt_vs_nanogpt.py measures (RoPE, RMSNorm, Muon, warm-up/stable/decay),
scaled up. The weights are written atomically; the manifest records the hash, settings, the training
time and the validation loss over every character of the validation split.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from genlib import distributed  # noqa: E402
from genlib.checkpoints import checkpoint_dir, register, save_weights  # noqa: E402
from genlib.device import scale, seed_everything  # noqa: E402
from genlib.text.gpt import GPT, GPTConfig  # noqa: E402
from genlib.text.lm import evaluate_loss, sequential_batches  # noqa: E402
from genlib.text.pretrain import Recipe, pretrain  # noqa: E402
from genlib.text.shakespeare import CHECKPOINT, encoded_splits  # noqa: E402

SETTINGS = {
    "cpu-small": dict(config=GPTConfig(block_size=128, n_layer=4, n_head=4, n_embd=160, dropout=0.0,
                                       pos="rope", norm="rms"),
                      recipe=Recipe(batch_size=32, block_size=128, lr=3e-3, muon_lr=1e-2, optimizer="muon",
                                    schedule="wsd", cooldown=0.4, min_lr_ratio=0.0, warmup=0.02),
                      minutes=55.0),
    "gpu-full": dict(config=GPTConfig(block_size=256, n_layer=6, n_head=6, n_embd=384, dropout=0.2,
                                      pos="rope", norm="rms"),
                     recipe=Recipe(batch_size=64, block_size=256, lr=2e-3, muon_lr=1e-2, optimizer="muon",
                                   schedule="wsd", cooldown=0.4, min_lr_ratio=0.0, warmup=0.02),
                     minutes=3.0),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SETTINGS), default=None, help="default: genlib.device.scale()")
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock training budget")
    parser.add_argument("--out", type=Path, default=None, help="weights file (default checkpoints/<name>.pt)")
    parser.add_argument("--no-register", action="store_true", help="do not touch checkpoints/manifest.json")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    which = args.scale or scale()
    s = SETTINGS[which]
    config, recipe = s["config"], s["recipe"]
    minutes = args.minutes if args.minutes is not None else s["minutes"]
    if not 0 < minutes <= 600:
        parser.error(f"--minutes must be in (0, 600], got {minutes}")
    ctx = distributed.setup()  # one process, or this rank of a torchrun group
    device = ctx.device
    seed_everything(args.seed)
    train, val = encoded_splits()
    model = distributed.wrap(GPT(config).to(device))  # DDP under torchrun, else the GPT itself
    if ctx.world_size > 1:
        torch.manual_seed(distributed.rank_seed(args.seed))  # each rank its own dropout masks
    net = distributed.unwrap(model)
    if ctx.is_main:
        print(f"{which}: {net.num_params() / 1e6:.2f}M parameters on {device}"
              f"{f' x {ctx.world_size} processes' if ctx.world_size > 1 else ''}, {minutes:g} minutes", flush=True)
    probe = sequential_batches(val, config.block_size, 64)[:4]
    hist = pretrain(model, train, recipe, seconds=60 * minutes, seed=args.seed, device=device, eval_every=500,
                    eval_fn=lambda m: {"val_loss_probe": round(evaluate_loss(m, probe, device), 4)},
                    progress=ctx.is_main,
                    state_path=Path(__file__).resolve().parents[1] / "build" / f"{CHECKPOINT}.state.pt")  # resumable
    if not ctx.is_main:  # rank 0 alone measures, saves and registers
        distributed.cleanup()
        return 0
    val_loss = evaluate_loss(net, sequential_batches(val, config.block_size, 64), device)
    print(f"{len(hist.steps)} steps in {hist.seconds:.0f} s; validation loss {val_loss:.4f} nats/char", flush=True)
    out = args.out or checkpoint_dir() / f"{CHECKPOINT}.pt"
    save_weights(net, out)
    if not args.no_register:
        entry = register(CHECKPOINT, out, script="scripts/train_gpt.py",
                         settings={"scale": which, "config": asdict(config), "recipe": asdict(recipe),
                                   "minutes": minutes, "seed": args.seed, "device": str(device),
                                   "threads": torch.get_num_threads(), "world_size": ctx.world_size},
                         metric={"name": "val_loss", "value": round(val_loss, 4), "unit": "nats per character",
                                 "split": "last 10% of Tiny Shakespeare, every character, "
                                          f"non-overlapping {config.block_size}-character windows"},
                         train_seconds=round(hist.seconds, 1), steps=len(hist.steps),
                         params=net.num_params(), loss_curve=[round(x, 3) for x in hist.loss[::max(1, len(hist.loss) // 200)]])
        print(f"registered {CHECKPOINT}: {entry['bytes'] / 1e6:.1f} MB, sha256 {entry['sha256'][:12]}…")
    distributed.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
