"""FID against the number of steps for the flow-matching MNIST models (U-Net and DiT), Euler and Heun.

    python benchmarks/flow_fid.py            # N = 1,000 per row, about 12 minutes on one CPU thread

For each shipped model (flow_mnist_unet, flow_mnist_dit: scripts/train_flow.py, the same recipe and time) and
each solver and step count, 1,000 samples from the same noise (seed 0), FID and KID against the 9,000 training
digits on the course classifier's features, and the real floor (1,000 validation digits), as in
benchmarks/sampler_fid.py. Writes benchmarks/results/flow_fid.md, which notebook 19 plots beside notebook 15's
samplers on the EDM model.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from genlib.data import load_mnist  # noqa: E402
from genlib.diffusion.flow import flow_images, load_flow_mnist  # noqa: E402
from genlib.metrics import (classifier_features, feature_stats, fid, kernel_distance,  # noqa: E402
                            load_fid_classifier)

N = 1000
RUNS = (("euler", 1), ("euler", 2), ("euler", 5), ("euler", 10), ("euler", 20), ("euler", 50),
        ("heun", 1), ("heun", 2), ("heun", 5), ("heun", 10), ("heun", 25))
RESULTS = ROOT / "benchmarks" / "results" / "flow_fid.md"


def main() -> None:
    classifier = load_fid_classifier("cpu")
    train_f = classifier_features(load_mnist("train")[0], classifier)
    stats = feature_stats(train_f)
    floor = fid(load_mnist("val")[0], stats, classifier)
    rows, shas = [], {}
    for arch in ("unet", "dit"):
        model, entry = load_flow_mnist(arch, "cpu")
        shas[arch] = (entry["sha256"][:12], entry["steps"], entry["params"], entry["train_seconds"])
        for solver, steps in RUNS:
            t0 = time.perf_counter()
            images, nfe = flow_images(model, N, solver, steps, seed=0)
            seconds = time.perf_counter() - t0
            feats = classifier_features(images, classifier)
            kid, kid_std = kernel_distance(feats, train_f, seed=0)
            rows.append((arch, solver, steps, nfe, fid(images, stats, classifier), kid, kid_std, seconds))
            print(f"{arch} {solver} {steps:2d} steps ({nfe} NFE): FID {rows[-1][4]:7.2f}, KID {kid:6.0f} ± "
                  f"{kid_std:4.0f}, {seconds:.0f} s", flush=True)
    models = "; ".join(f"`flow_mnist_{a}` sha256 `{s}`, {p:,} parameters, {st:,} steps in {sec / 60:.0f} min"
                       for a, (s, st, p, sec) in shas.items())
    lines = [f"# FID against steps for the flow-matching MNIST models (N = {N} per row, seed 0)", "",
             f"{models}. FID and KID against the 9,000 training digits on the course classifier's features; real "
             f"floor (1,000 validation digits): FID **{floor:.2f}**. Seconds: wall time for N images with "
             f"{torch.get_num_threads()} torch thread(s).", "",
             "| model | solver | steps | NFE | FID | KID | seconds |", "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {a} | {so} | {st} | {nfe} | {f:.2f} | {k:.0f} ± {ks:.0f} | {s:.1f} |"
              for a, so, st, nfe, f, k, ks, s in rows]
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
