"""FID versus steps for every sampler in genlib.diffusion.samplers, on the shipped DDPM MNIST model.

    python benchmarks/sampler_fid.py              # N = 1000 samples per row (slow on a CPU: DDPM-1000 dominates)
    python benchmarks/sampler_fid.py --n 500      # what the committed table used on the course's 2-core CPU

Every row draws the same N images from the same starting noise (seed 0), scores them with genlib.metrics.fid
against the 9,000 training digits, and records seconds and NFE (model evaluations per image). The sigma samplers
use Karras sigmas; DPM++ 2M also runs on the plain (evenly spaced timestep) grid; DDPM also runs its full 1000
steps. The real floor is the FID of N validation digits against the same training features. Rows are cached in
benchmarks/results/sampler_fid.json (keyed by checkpoint hash, N and seed), so an interrupted run resumes.
Writes benchmarks/results/sampler_fid.md and sampler_fid.png.
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
from genlib.metrics import classifier_features, feature_stats, fid, load_fid_classifier  # noqa: E402

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
        entry = cache.setdefault(key, {**meta, "rows": {}})
        if name is not None:
            entry["rows"][name] = row
            path.write_text(json.dumps(cache, indent=1) + "\n")
    return entry["rows"]


def run(n: int, steps_list: list[int], seed: int, full_ddpm: bool = True, only: list[str] | None = None,
        checkpoint: str = "ddpm_mnist") -> dict:
    model, ab, entry = load_ddpm_mnist(name=checkpoint)
    key = f"{entry['sha256'][:12]}-n{n}-seed{seed}"
    classifier = load_fid_classifier()
    train_images, _ = load_mnist("train")
    train_stats = feature_stats(classifier_features(train_images, classifier))
    val_images, _ = load_mnist("val")
    if n > len(val_images):
        raise SystemExit(f"--n must be <= {len(val_images)} so the real floor uses as many validation images")
    floor = fid(val_images[:n], train_stats, classifier)
    meta = {"checkpoint_sha256": entry["sha256"], "n": n, "seed": seed, "real_floor": round(floor, 3)}
    rows = _update_cache(key, meta)
    jobs = [(s, k, st) for st in steps_list for s, k in CONFIGS]
    if full_ddpm:
        jobs.append(("ddpm", False, 1000))
    for sampler, karras, steps in jobs:
        name = f"{label(sampler, karras)}|{steps}"
        if name in rows or (only and name not in only):
            continue
        t0 = time.perf_counter()
        images, nfe = sample_images(model, ab, n, sampler, steps, karras=karras, seed=seed)
        seconds = time.perf_counter() - t0
        row = {"sampler": sampler, "karras": karras, "steps": steps, "nfe": nfe, "seconds": round(seconds, 1),
               "fid": round(fid(images, train_stats, classifier), 3)}
        print(f"{label(sampler, karras):>18s} {steps:5d} steps  NFE {nfe:5d}  FID {row['fid']:8.2f}  "
              f"{seconds:7.1f} s", flush=True)
        rows = _update_cache(key, meta, name, row)
    rows = _update_cache(key, meta)  # rows another run (sharing the cache) may have added meanwhile
    return {"n": n, "seed": seed, "real_floor": round(floor, 3), "rows": rows, "entry": entry, "name": checkpoint}


def write_report(result: dict, note: str = "") -> str:
    rows, n, floor = result["rows"], result["n"], result["real_floor"]
    what = f"`{result['name']}`, {result['entry']['settings'].get('prediction', 'eps')}-prediction"
    lines = [f"# Sampler FID on the DDPM MNIST model {what} (N = {n} per row, seed {result['seed']})", "",
             f"FID against the 9,000 training digits on the course classifier's features (lower is better). "
             f"Real floor (N = {n} validation digits vs the same features): **{floor:.2f}**. Seconds are wall time "
             "for all N images on the machine that ran it (one CPU thread unless noted). Checkpoint sha256 "
             f"`{result['entry']['sha256'][:12]}`." + (f" {note}" if note else ""), "",
             "| sampler | karras | steps | NFE | FID | seconds |", "|---|---|---:|---:|---:|---:|"]
    order = sorted(rows.values(), key=lambda r: ([c for c in CONFIGS].index((r["sampler"], r["karras"])), r["steps"]))
    for r in order:
        lines.append(f"| {r['sampler']} | {'yes' if r['karras'] else 'no'} | {r['steps']} | {r['nfe']} | "
                     f"{r['fid']:.2f} | {r['seconds']:.1f} |")
    lines.append(f"| real data (validation) | | | | {floor:.2f} | |")
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
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args.n, args.steps, args.seed, full_ddpm=not args.no_ddpm_1000, only=args.only,
                 checkpoint=args.checkpoint)
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
