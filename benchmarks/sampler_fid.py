"""FID versus steps for every sampler in genlib.diffusion.samplers, on the shipped DDPM MNIST model.

    python benchmarks/sampler_fid.py              # N = 1000 samples per row, the committed table (DDPM-1000: an hour)
    python benchmarks/sampler_fid.py --n 200 --no-ddpm-1000   # a quick look; the real-subset spread says how noisy

Every row draws the same N images from the same starting noise (seed 0), scores them with genlib.metrics.fid and
genlib.metrics.kid (mean and std over 100 subsets) against the 9,000 training digits, and records seconds and NFE
(model evaluations per image). The sigma samplers use Karras sigmas; DPM++ 2M also runs on its own DPM-Solver grid;
DDPM also runs its full 1000 steps. The real floor scores N validation digits (a seeded random subset when
N < 1,000) against the same training features. Below N = 1,000 FID is noisy: the run also scores 1000 // N disjoint
random subsets of validation digits, and two rows whose gap that spread covers cannot be ranked. Rows are cached in
benchmarks/results/sampler_fid.json (keyed by checkpoint hash, N and seed), so an interrupted run resumes; --redo
recomputes the --only rows (e.g. after a sampler changes). Writes benchmarks/results/sampler_fid.md and .png.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from genlib.data import load_mnist  # noqa: E402
from genlib.diffusion.ddpm import load_ddpm_mnist, sample_images  # noqa: E402
from genlib.metrics import (classifier_features, feature_stats, fid, kernel_distance, load_fid_classifier,  # noqa: E402
                            real_subset_spread)

RESULTS = ROOT / "benchmarks" / "results"
# (sampler, karras): the order of the table
CONFIGS = [("ddpm", False), ("ddim", False), ("euler", True), ("euler_ancestral", True), ("heun", True),
           ("dpmpp_2m", False), ("dpmpp_2m", True)]


def label(sampler: str, karras: bool) -> str:
    """The name a row gets, e.g. 'dpmpp_2m karras'."""
    return sampler + (" karras" if karras else "")


def _update_cache(key: str, meta: dict, name: str | None = None, row: dict | None = None) -> dict:
    """Read the row cache, add one row, write it back, under a file lock (two runs may share the cache)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "sampler_fid.json"
    with open(Path(tempfile.gettempdir()) / "genlib_sampler_fid.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cache = json.loads(path.read_text()) if path.exists() else {}
        entry = cache.setdefault(key, {"rows": {}})
        if name is not None or any(entry.get(k) != v for k, v in meta.items()):
            entry.update(meta)
            if name is not None:
                entry["rows"][name] = row
            path.write_text(json.dumps(cache, indent=1) + "\n")
    return entry["rows"]


def real_floor(n: int, seed: int, classifier, train_features) -> dict:
    """FID and KID of n validation digits (a seeded random subset: the first n are not a fair sample) against the
    training features, and below 1,000 the min-max of both over 1000 // n disjoint random real subsets."""
    val_images, _ = load_mnist("val")
    if n > len(val_images):
        raise SystemExit(f"--n must be <= {len(val_images)} so the real floor uses as many validation images")
    val_features = classifier_features(val_images, classifier)
    pick = torch.randperm(len(val_images), generator=torch.Generator().manual_seed(seed))[:n]
    train_stats = feature_stats(train_features)
    kid, kid_std = kernel_distance(val_features[pick], train_features, seed=seed)
    out = {"real_floor": round(fid(val_images[pick], train_stats, classifier), 3), "real_kid": round(kid, 1),
           "real_kid_std": round(kid_std, 1)}
    if n < 1000 and len(val_images) // n >= 2:
        spread = real_subset_spread(val_features, train_features, n, seed=seed)
        out["real_spread"] = {k: [round(min(v), 3), round(max(v), 3)] for k, v in spread.items()}
        out["real_spread_k"] = len(spread["fid"])
    return out


def run(n: int, steps_list: list[int], seed: int, full_ddpm: bool = True, only: list[str] | None = None,
        checkpoint: str = "ddpm_mnist", redo: bool = False) -> dict:
    model, ab, entry = load_ddpm_mnist(name=checkpoint)
    key = f"{entry['sha256'][:12]}-n{n}-seed{seed}"
    classifier = load_fid_classifier()
    train_images, _ = load_mnist("train")
    train_features = classifier_features(train_images, classifier)
    train_stats = feature_stats(train_features)
    floor = real_floor(n, seed, classifier, train_features)
    meta = {"checkpoint_sha256": entry["sha256"], "n": n, "seed": seed, **floor}
    rows = _update_cache(key, meta)
    jobs = [(s, k, st) for st in steps_list for s, k in CONFIGS]
    if full_ddpm:
        jobs.append(("ddpm", False, 1000))
    for sampler, karras, steps in jobs:
        name = f"{label(sampler, karras)}|{steps}"
        if (only and name not in only) or (name in rows and not (redo and only)):
            continue
        t0 = time.perf_counter()
        images, nfe = sample_images(model, ab, n, sampler, steps, karras=karras, seed=seed)
        seconds = time.perf_counter() - t0
        features = classifier_features(images, classifier)
        kid, kid_std = kernel_distance(features, train_features, seed=seed)
        row = {"sampler": sampler, "karras": karras, "steps": steps, "nfe": nfe, "seconds": round(seconds, 1),
               "fid": round(fid(images, train_stats, classifier), 3), "kid": round(kid, 1),
               "kid_std": round(kid_std, 1)}
        print(f"{label(sampler, karras):>18s} {steps:5d} steps  NFE {nfe:5d}  FID {row['fid']:8.2f}  "
              f"KID {kid:8.0f} ± {kid_std:4.0f}  {seconds:7.1f} s", flush=True)
        rows = _update_cache(key, meta, name, row)
    rows = _update_cache(key, meta)  # rows another run (sharing the cache) may have added meanwhile
    return {"n": n, "seed": seed, **floor, "rows": rows, "entry": entry, "name": checkpoint}


def _kid_cell(r: dict, mean: str = "kid", std: str = "kid_std") -> str:
    return f"{r[mean]:.0f} ± {r[std]:.0f}" if mean in r else "–"


def write_report(result: dict, note: str = "") -> str:
    rows, n, floor = result["rows"], result["n"], result["real_floor"]
    what = f"`{result['name']}`, {result['entry']['settings'].get('prediction', 'eps')}-prediction"
    lines = [f"# Sampler FID on the DDPM MNIST model {what} (N = {n} per row, seed {result['seed']})", "",
             f"FID against the 9,000 training digits on the course classifier's features (lower is better). "
             f"Real floor (N = {n} validation digits vs the same features): **{floor:.2f}**. KID is the unbiased "
             "kernel distance on the same features (torchmetrics' definition: polynomial kernel, mean ± std over 100 "
             "subsets of up to 1,000, in the features' own units; – marks rows measured before the benchmark computed "
             "it). Seconds are wall time for all N images on the "
             "machine that ran it (one CPU thread unless noted). Checkpoint sha256 "
             f"`{result['entry']['sha256'][:12]}`." + (f" {note}" if note else ""), "",
             "| sampler | karras | steps | NFE | FID | KID | seconds |", "|---|---|---:|---:|---:|---:|---:|"]
    order = sorted(rows.values(), key=lambda r: ([c for c in CONFIGS].index((r["sampler"], r["karras"])), r["steps"]))
    for r in order:
        lines.append(f"| {r['sampler']} | {'yes' if r['karras'] else 'no'} | {r['steps']} | {r['nfe']} | "
                     f"{r['fid']:.2f} | {_kid_cell(r)} | {r['seconds']:.1f} |")
    lines.append(f"| real data (validation) | | | | {floor:.2f} | {_kid_cell(result, 'real_kid', 'real_kid_std')} | |")
    if "real_spread" in result:
        (f_lo, f_hi), (k_lo, k_hi) = result["real_spread"]["fid"], result["real_spread"]["kid"]
        lines += ["", f"- Real-subset spread at N = {n}: {result['real_spread_k']} disjoint random sets of {n} "
                  f"validation digits score FID {f_lo:.1f} to {f_hi:.1f} and KID {k_lo:.0f} to {k_hi:.0f}. Two rows "
                  "whose gap this spread covers cannot be ranked at this N."]
    ratios = summary_ratios(result)
    if ratios:
        lines += ["", f"- FID(DPM++ 2M Karras, 20 steps) / FID(DDPM, 1000 steps) = **{ratios['dpmpp_vs_ddpm']:.2f}**",
                  f"- FID(DDPM, 1000 steps) / real floor = **{ratios['ddpm_vs_floor']:.2f}**"]
    return "\n".join(lines) + "\n"


def summary_ratios(result: dict) -> dict:
    rows, floor = result["rows"], result["real_floor"]
    if "dpmpp_2m karras|20" not in rows or "ddpm|1000" not in rows:
        return {}
    ddpm = rows["ddpm|1000"]["fid"]
    return {"dpmpp_vs_ddpm": rows["dpmpp_2m karras|20"]["fid"] / ddpm, "ddpm_vs_floor": ddpm / floor}


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=80)
    for sampler, karras in CONFIGS:
        pts = sorted((r["nfe"], r["fid"]) for r in result["rows"].values()
                     if r["sampler"] == sampler and r["karras"] == karras and r["steps"] != 1000)
        if pts:
            ax.plot(*zip(*pts), marker="o", label=label(sampler, karras))
    if "ddpm|1000" in result["rows"]:
        ax.scatter([1000], [result["rows"]["ddpm|1000"]["fid"]], marker="*", s=150, color="k", label="ddpm 1000 steps",
                   zorder=3)
    ax.axhline(result["real_floor"], color="gray", ls="--", label="real floor (val vs train)")
    ax.set(xscale="log", yscale="log", xlabel="model evaluations per image (NFE)", ylabel="FID (lower is better)",
           title=f"FID versus sampling cost, DDPM on MNIST (N = {result['n']})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="samples per row (the same for every row)")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 20, 50])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-ddpm-1000", action="store_true", help="skip the slow 1000-step DDPM row")
    parser.add_argument("--note", default="", help="a sentence for the report, e.g. how loaded the machine was")
    parser.add_argument("--checkpoint", default="ddpm_mnist",
                        help="manifest name of the model; results go to sampler_fid.md for the shipped ddpm_mnist, "
                             "else sampler_fid_<name>.md")
    parser.add_argument("--only", nargs="+", default=None, metavar="ROW",
                        help="run only these rows, e.g. 'ddpm|1000' (to split the work between two processes)")
    parser.add_argument("--redo", action="store_true",
                        help="recompute the --only rows even if cached (e.g. after a sampler changed)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args.n, args.steps, args.seed, full_ddpm=not args.no_ddpm_1000, only=args.only,
                 checkpoint=args.checkpoint, redo=args.redo)
    report = write_report(result, args.note)
    print(report)
    stem = "sampler_fid" if args.checkpoint == "ddpm_mnist" else f"sampler_fid_{args.checkpoint}"
    (RESULTS / f"{stem}.md").write_text(report)
    plot(result, RESULTS / f"{stem}.png")
    ratios = summary_ratios(result)
    if ratios:
        print(f"FID(DPM++ 2M Karras, 20) / FID(DDPM-1000) = {ratios['dpmpp_vs_ddpm']:.3f}")
        print(f"FID(DDPM-1000) / real floor = {ratios['ddpm_vs_floor']:.3f}")


if __name__ == "__main__":
    main()
