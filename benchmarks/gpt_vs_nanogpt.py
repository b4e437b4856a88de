"""This project's GPT recipe against nanoGPT's CPU recipe for shakespeare_char, at the same wall-clock time.

    python benchmarks/gpt_vs_nanogpt.py            # baseline, each ablation step, and the full recipe
    python benchmarks/gpt_vs_nanogpt.py --quick    # baseline and the full recipe only

(a) The baseline follows nanoGPT's published CPU recipe (README, "I only have a macbook"): n_layer 4,
    n_head 4, n_embd 128, block 64, batch 12, 2000 iters, lr 1e-3 with warm-up 100 and cosine decay to
    1e-4 over 2000 iters, dropout 0, AdamW betas (0.9, 0.99), weight decay 0.1, grad clip 1.0. Its wall
    time T is measured here: the mean over --seeds runs (3 by default), whose mean loss is the reference.
(b) Every other run gets exactly T seconds; its schedule runs over the fraction of T used, so it ends
    on the deadline. Each ablation line adds one change to the line above it; the last line (the course's
    recipe) also runs --seeds seeds, and the ratio is its mean loss over the baseline's.
All runs are scored by the same estimator on the same fixed validation windows of 64 characters (the
last 10% of the text), so the numbers compare directly. Prints each loss and its ratio to the baseline.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genlib.device import get_device, seed_everything  # noqa: E402
from genlib.text.gpt import GPT, GPTConfig  # noqa: E402
from genlib.text.lm import evaluate_loss, fixed_batches  # noqa: E402
from genlib.text.pretrain import (NANOGPT_CPU_MODEL, NANOGPT_CPU_RECIPE, NANOGPT_CPU_STEPS,  # noqa: E402
                                   Recipe, pretrain, recipe_ablation)
from genlib.text.shakespeare import encoded_splits  # noqa: E402

def run(name: str, config: GPTConfig, recipe: Recipe, val_batches, data, device, steps=None, seconds=None,
        seed: int = 0) -> tuple[float, float, int]:
    seed_everything(seed)
    model = GPT(config).to(device)
    hist = pretrain(model, data, recipe, steps=steps, seconds=seconds, seed=seed, progress=False, device=device)
    loss = evaluate_loss(model, val_batches, device)
    print(f"{name:44s} seed {seed} {len(hist.steps):6d} steps {hist.seconds:6.1f} s  val loss {loss:.4f}", flush=True)
    return loss, hist.seconds, len(hist.steps)


# Changes tried on top of the final recipe, one at a time and not (yet) kept: each is measured the same way, and
# joins recipe_ablation() only if the table shows it pays by more than the seed-to-seed noise.
TRIALS = [("  tried: + QK-norm", {"qk_norm": True}, {}),
          ("  tried: + QK-norm and AdamW lr 6e-3", {"qk_norm": True}, {"lr": 6e-3}),
          ("  tried: + bf16 autocast", {}, {"bf16": True})]


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the baseline and the full recipe")
    parser.add_argument("--seeds", type=int, default=3, help="seeds for the two ends of the table (their range shows "
                        "how far the seed alone moves a loss); the lines in between run seed 0")
    parser.add_argument("--baseline-steps", type=int, default=NANOGPT_CPU_STEPS, help="shorten for a smoke test")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    device = get_device()
    train, val = encoded_splits()
    val_batches = fixed_batches(val, block_size=64, batch_size=32, n_batches=40, seed=1234)
    print(f"device {device}, {torch.get_num_threads()} threads; validation: 40 fixed batches x 32 x 64 characters")
    seeds = range(args.seeds)
    baseline = [run("(a) nanoGPT CPU recipe, 2000 iters", NANOGPT_CPU_MODEL, NANOGPT_CPU_RECIPE, val_batches, train,
                    device, steps=args.baseline_steps, seed=seed) for seed in seeds]
    base, budget = mean([b[0] for b in baseline]), mean([b[1] for b in baseline])
    lines = recipe_ablation()
    lines[0] = (lines[0][0] + ", given the time budget", *lines[0][1:])
    lines = lines[-1:] if args.quick else lines
    results = []
    for i, (name, config, recipe) in enumerate(lines):
        last = i == len(lines) - 1
        runs = [run(name, config, recipe, val_batches, train, device, seconds=budget, seed=seed)
                for seed in (seeds if last else [0])]
        results.append((name, [r[0] for r in runs], mean([r[2] for r in runs])))
    trials = []
    if not args.quick:
        _, config, recipe = lines[-1]
        for name, config_changes, recipe_changes in TRIALS:
            loss, _, steps = run(name, replace(config, **config_changes), replace(recipe, **recipe_changes),
                                 val_batches, train, device, seconds=budget)
            trials.append((name, [loss], steps))
    print(f"\ntime budget T = {budget:.1f} s (the baseline's mean wall time over {args.seeds} seeds)")
    print(f"{'run':44s} {'val loss':>9s} {'ratio':>7s}")
    print(f"{'(a) nanoGPT baseline':44s} {base:9.4f} {1.0:7.3f}")
    for name, losses, _ in results + trials:
        print(f"{name:44s} {mean(losses):9.4f} {mean(losses) / base:7.3f}")
    final = mean(results[-1][1])
    print(f"\nratio (b) this project's recipe / (a) nanoGPT at equal wall time: {final / base:.3f} (target <= 0.82)")
    if args.baseline_steps == NANOGPT_CPU_STEPS and not args.quick:  # a full run: worth keeping for notebook 06
        write_table([b[0] for b in baseline], budget, mean([b[2] for b in baseline]), results, trials, device)
    return 0


def _loss_cell(losses: list[float]) -> str:
    if len(losses) == 1:
        return f"{losses[0]:.4f}"
    return f"{mean(losses):.4f} ({min(losses):.4f}–{max(losses):.4f}, {len(losses)} seeds)"


def write_table(base_losses: list[float], budget: float, base_steps: float, results, trials, device) -> None:
    """Save the ablation as a markdown table for notebook 06 (benchmarks/results/gpt_vs_nanogpt.md)."""
    out = Path(__file__).resolve().parent / "results" / "gpt_vs_nanogpt.md"
    out.parent.mkdir(exist_ok=True)
    base = mean(base_losses)
    rows = [f"| {name} | {steps:,.0f} | {_loss_cell(losses)} | {mean(losses) / base:.3f} |"
            for name, losses, steps in results + trials]
    out.write_text(
        f"Measured by `benchmarks/gpt_vs_nanogpt.py` on {platform.node() or 'this machine'} "
        f"({device}, {torch.get_num_threads()} threads), {time.strftime('%Y-%m-%d')}. Every run trained for "
        f"T = {budget:.1f} s, the mean time nanoGPT's CPU recipe took for its 2000 iterations; validation loss in "
        "nats per character on 40 fixed batches of 32 windows of 64 characters. The first and last rows are the "
        "mean of several seeds, their range in brackets: that range is how far the seed alone moves a loss, so "
        "read smaller differences between the one-seed lines in between as ties. Lines marked *tried* each add "
        "one change to the final recipe (the line above them) and are not part of it.\n\n"
        "| run (each line adds one change) | steps | val loss | ÷ nanoGPT |\n|---|---:|---|---|\n"
        f"| (a) nanoGPT CPU recipe, 2000 iterations | {base_steps:,.0f} | {_loss_cell(base_losses)} | 1.000 |\n"
        + "\n".join(rows) + "\n")
    print(f"wrote {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")


if __name__ == "__main__":
    sys.exit(main())
