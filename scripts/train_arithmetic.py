"""Train notebook 09's arithmetic GPTs, one per answer format, at equal training tokens, and record them.

    python scripts/train_arithmetic.py                       # all three formats (about 30 minutes on one core)
    python scripts/train_arithmetic.py --formats direct      # one format
    python scripts/train_arithmetic.py --tokens 300000 --no-register --out /tmp/arith   # a quick try

Every model is genlib.text.reasoning's GPT trained from the same seed on problems of 1..5 digits (addition, and
multiplication by one digit), written
  direct      1234+5678=6912;
  scratchpad  1234+5678=4+8+0=12 3+7+1=11 2+6+1=09 1+5+0=06|6912;
  tool        1234+5678=<calc>1234+5678</calc>6912;   (the result comes from genlib.text.calculator)
Each sees the same number of tokens, so the scratchpad model sees about four times fewer problems than the
direct one. Accuracy is measured on held-out problems of 1..8 digits (6..8 are longer than any in training)
and written to checkpoints/manifest.json beside each file's hash.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from genlib.checkpoints import checkpoint_dir, register, save_weights  # noqa: E402
from genlib.data import arithmetic as ar  # noqa: E402
from genlib.text import reasoning  # noqa: E402

TOKENS = 3_000_000
EVAL_DIGITS = range(1, 9)
EVAL_N = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--formats", default=",".join(ar.FORMATS))
    parser.add_argument("--tokens", type=int, default=TOKENS, help="training tokens per format")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="weights folder (default checkpoints/)")
    parser.add_argument("--no-register", action="store_true")
    args = parser.parse_args()
    formats = args.formats.split(",")
    unknown = set(formats) - set(ar.FORMATS)
    if unknown:
        raise SystemExit(f"unknown formats {sorted(unknown)}; choose from {','.join(ar.FORMATS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or checkpoint_dir()
    out.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        t0 = time.perf_counter()
        model = reasoning.new_model(seed=0)
        history = reasoning.train_format(model, fmt, args.tokens, seed=0)
        seconds = time.perf_counter() - t0
        model.eval()
        acc = {op: {d: reasoning.accuracy(model, fmt, d, op, n=EVAL_N) for d in EVAL_DIGITS} for op in ar.OPS}
        print(f"{fmt}: loss {history.loss[-1]:.4f}, " + "  ".join(
            f"{op}: " + " ".join(f"{d}:{a:.2f}" for d, a in row.items()) for op, row in acc.items()), flush=True)
        name = f"arith_{fmt}"
        path = out / f"{name}.pt"
        save_weights(model, path)
        if not args.no_register:
            register(name, path, script="scripts/train_arithmetic.py",
                     settings={"config": asdict(reasoning.CONFIG), "format": fmt, "tokens": args.tokens,
                               "tokens_per_step": reasoning.TOKENS_PER_STEP, "lr": reasoning.LR,
                               "train_digits": reasoning.TRAIN_DIGITS, "seed": 0},
                     metric={"name": f"held-out accuracy on 4-digit addition (n={EVAL_N}, greedy)",
                             "value": acc["+"][4], "final_loss": round(history.loss[-1], 4),
                             "by_digits": "the '+' and '*' entries: accuracy for 1..8 digits",
                             **{op: {str(d): a for d, a in row.items()} for op, row in acc.items()}},
                     train_seconds=round(seconds, 1), torch=torch.__version__)


if __name__ == "__main__":
    main()
