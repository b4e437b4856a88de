"""Train notebook 09's mixture-of-experts comparison on Tiny Shakespeare and record every model.

    python scripts/train_moe.py                                   # four models, equal steps (about an hour on one core)
    python scripts/train_moe.py --steps 50 --no-register --out /tmp/moe   # a quick try

Four character-level GPTs (4 layers, 128 wide, RoPE, RMSNorm; the course's recipe: Muon, warm-up/stable/decay),
the same seed, batches and steps:
  moe_shakespeare          4 experts of half an MLP each, top-2 routing, load-balancing loss 0.01
  moe_shakespeare_noaux    the same without the balancing loss (watch the router favour some experts)
  dense_shakespeare_active a dense GPT with the MoE's *active* parameters per token (one MLP of ratio 4)
  dense_shakespeare_total  a dense GPT with the MoE's *total* parameters (one MLP of ratio 8)
Each records its validation loss over every character of the validation split, training tokens per second
(wall time, so it depends on the machine: compare the ratios) and, for the MoE models, the share of routing
choices each expert got on the validation text, layer by layer.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from genlib.checkpoints import checkpoint_dir, register, save_weights  # noqa: E402
from genlib.device import seed_everything  # noqa: E402
from genlib.text.gpt import GPT, GPTConfig  # noqa: E402
from genlib.text.lm import evaluate_loss, sequential_batches  # noqa: E402
from genlib.text.moe import active_params, expert_usage, total_params  # noqa: E402
from genlib.text.pretrain import Recipe, pretrain  # noqa: E402
from genlib.text.shakespeare import encoded_splits  # noqa: E402

BASE = GPTConfig(vocab_size=65, block_size=128, n_layer=4, n_head=4, n_embd=128, pos="rope", norm="rms")
MOE = replace(BASE, n_expert=4, expert_top_k=2, mlp_ratio=2, capacity_factor=1.25)
MODELS = {  # name: (config, weight of the load-balancing loss)
    "moe_shakespeare": (MOE, 0.01),
    "moe_shakespeare_noaux": (MOE, 0.0),
    "dense_shakespeare_active": (replace(BASE, mlp_ratio=4), 0.0),
    "dense_shakespeare_total": (replace(BASE, mlp_ratio=8), 0.0),
}
RECIPE = Recipe(batch_size=32, block_size=128, lr=3e-3, muon_lr=1e-2, optimizer="muon", schedule="wsd",
                cooldown=0.4, min_lr_ratio=0.0, warmup=0.02)
STEPS = 1200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="weights folder (default checkpoints/)")
    parser.add_argument("--no-register", action="store_true")
    args = parser.parse_args()
    names = args.models.split(",")
    unknown = set(names) - set(MODELS)
    if unknown:
        raise SystemExit(f"unknown models {sorted(unknown)}; choose from {','.join(MODELS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or checkpoint_dir()
    out.mkdir(parents=True, exist_ok=True)
    train, val = encoded_splits()
    val_batches = sequential_batches(val, BASE.block_size, 64)
    for name in names:
        config, aux = MODELS[name]
        seed_everything(0)
        model = GPT(config)
        hist = pretrain(model, train, RECIPE, steps=args.steps, seed=0, aux_loss_weight=aux, desc=name)
        val_loss = evaluate_loss(model, val_batches)
        tokens_per_s = args.steps * RECIPE.batch_size * RECIPE.block_size / hist.seconds
        metric = {"name": "val_loss", "value": round(val_loss, 4), "unit": "nats per character",
                  "train_tokens_per_s": round(tokens_per_s), "active_params": active_params(model),
                  "total_params": total_params(model)}
        if config.n_expert:
            metric["expert_usage"] = [[round(x, 4) for x in row] for row in expert_usage(model, val_batches[0][0]).tolist()]
        print(f"{name}: {metric}", flush=True)
        path = out / f"{name}.pt"
        save_weights(model, path)
        if not args.no_register:
            register(name, path, script="scripts/train_moe.py",
                     settings={"config": asdict(config), "recipe": asdict(RECIPE), "steps": args.steps,
                               "aux_loss_weight": aux, "seed": 0, "threads": torch.get_num_threads()},
                     metric=metric, train_seconds=round(hist.seconds, 1),
                     loss_curve=[round(x, 3) for x in hist.loss[::max(1, len(hist.loss) // 100)]],
                     torch=torch.__version__)


if __name__ == "__main__":
    main()
