"""Does the shipped DCGAN's discriminator memorize its 9,000 training digits? D's output on seen vs unseen digits.

    OMP_NUM_THREADS=1 python benchmarks/gan_d_memorization.py

Reads the training states that scripts/train_gan.py saved every 3 minutes (copied to build/gan/snap_*.pt while it
ran), loads each state's discriminator and writes its mean probability 'real' on 1,000 training digits (seen
every few hundred steps) and on the 1,000 validation digits (never seen), in batches of 64 with batch norm on each
batch as in training, to benchmarks/results/gan_d_memorization.json. A D that generalizes scores both alike; a
gap means D has learned the training digits themselves, and its gradient tells G less about digits in general.
"""
from __future__ import annotations

import glob
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from genlib.data import load_mnist  # noqa: E402
from genlib.image import gan  # noqa: E402


def main() -> None:
    seen = load_mnist("train")[0][:1000] * 2 - 1
    unseen = load_mnist("val")[0] * 2 - 1
    rows = []
    for f in sorted(glob.glob(str(ROOT / "build" / "gan" / "snap_*.pt"))):
        state = torch.load(f, weights_only=True)
        D = gan.Discriminator(32)
        D.load_state_dict({k[2:]: v for k, v in state["model"].items() if k.startswith("D.")})
        D.train()
        with torch.no_grad():
            def mean_real(x: torch.Tensor) -> float:
                return torch.cat([torch.sigmoid(D(x[i:i + 64])) for i in range(0, len(x) - 63, 64)]).mean().item()
            rows.append({"step": state["step"], "seconds": round(state["seconds"]),
                         "d_train": round(mean_real(seen), 4), "d_val": round(mean_real(unseen), 4)})
        print(rows[-1], flush=True)
    if not rows:
        raise SystemExit("no saved states in build/gan/: copy build/dcgan_mnist.state.pt there while train_gan.py runs")
    out = ROOT / "benchmarks" / "results" / "gan_d_memorization.json"
    out.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
