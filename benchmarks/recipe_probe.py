"""Candidate changes to the course's GPT recipe, each alone on top of it, at equal training steps.

    python benchmarks/recipe_probe.py                     # every candidate, 1000 steps each, one thread
    python benchmarks/recipe_probe.py --steps 300 qk_norm # a quick look at one

A cheap first sieve before the wall-clock race (`gpt_vs_nanogpt.py`, which needs an idle machine): equal steps
say whether a change learns more per step, and the milliseconds per step (noisy on a shared machine) hint at
what it costs. A change that loses here is not worth a slot in the race. Same model, data, seed and
validation windows as the race; prints one line per candidate and writes benchmarks/results/recipe_probe.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genlib.device import seed_everything  # noqa: E402
from genlib.text.gpt import GPT  # noqa: E402
from genlib.text.lm import evaluate_loss, fixed_batches  # noqa: E402
from genlib.text.pretrain import project_recipe, pretrain  # noqa: E402
from genlib.text.shakespeare import encoded_splits  # noqa: E402


def candidates() -> dict[str, tuple[str, dict, dict]]:
    """name -> (what it is, GPTConfig changes, Recipe changes), each relative to project_recipe()."""
    return {
        "course": ("the course recipe as it is", {}, {}),
        "bf16": ("bfloat16 autocast for the forward pass", {}, {"bf16": True}),
        "qk_norm": ("RMS-normalised queries and keys", {"qk_norm": True}, {}),
        "relu2": ("ReLU squared in the MLP", {"activation": "relu2"}, {}),
        "zero_init": ("residual output projections start at zero", {"zero_init_proj": True}, {}),
        "untied": ("an untied output head", {"tie_embeddings": False}, {}),
        "muon_2e-2": ("Muon learning rate 2e-2 (from 1e-2)", {}, {"muon_lr": 2e-2}),
        "muon_5e-3": ("Muon learning rate 5e-3", {}, {"muon_lr": 5e-3}),
        "adam_6e-3": ("AdamW learning rate 6e-3 (from 3e-3)", {}, {"lr": 6e-3}),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"candidates to run (default all): {', '.join(candidates())}")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    unknown = set(args.names) - set(candidates())
    if unknown:
        parser.error(f"unknown candidates {sorted(unknown)}; choose from {', '.join(candidates())}")
    torch.set_num_threads(args.threads)
    train, val = encoded_splits()
    val_batches = fixed_batches(val, block_size=64, batch_size=32, n_batches=40, seed=1234)
    config, recipe = project_recipe()
    rows = []
    for name in args.names or list(candidates()):
        what, config_changes, recipe_changes = candidates()[name]
        seed_everything(0)
        model = GPT(replace(config, **config_changes))
        start = time.perf_counter()
        pretrain(model, train, replace(recipe, **recipe_changes), steps=args.steps, seed=0, progress=False)
        ms = 1000 * (time.perf_counter() - start) / args.steps
        loss = evaluate_loss(model, val_batches)
        rows.append((name, what, loss, ms))
        print(f"{name:10s} {args.steps} steps  val loss {loss:.4f}  {ms:.1f} ms/step", flush=True)
    out = Path(__file__).resolve().parent / "results" / "recipe_probe.md"
    out.write_text(
        f"Measured by `benchmarks/recipe_probe.py` ({args.steps} steps each, {args.threads} thread(s), "
        f"{time.strftime('%Y-%m-%d')}): each candidate alone on top of the course recipe, same seed and batches; "
        "validation loss in nats per character on the race's 40 fixed batches. One seed only: in the wall-clock race "
        "three seeds of the course recipe spanned 0.025, so read smaller differences as hints, not wins; "
        "milliseconds per step are noisy on a shared machine.\n\n"
        "| candidate | what | val loss | ms/step |\n|---|---|---:|---:|\n"
        + "\n".join(f"| {n} | {w} | {l:.4f} | {m:.1f} |" for n, w, l, m in rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
