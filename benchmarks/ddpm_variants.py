"""DDPM training recipes side by side at equal training minutes: FID at 10 and 20 DPM++ 2M Karras steps, KID, novelty.

    python benchmarks/ddpm_variants.py --minutes 8                          # every variant, 8 CPU-minutes each
    python benchmarks/ddpm_variants.py --base-steps 2094 --variants edm-b128 --deadline 09:15   # the shipped
                                                # recipe's steps in 8 CPU-minutes, as compute for every variant

Each variant trains the course's U-Net with scripts/train_ddpm.py's recipe (genlib.train.train, one CPU thread)
on the same compute, not the same wall time (which on the shared 2-core CPU varies with the other jobs): with
--minutes a short calibration measures its CPU seconds per step and the run gets minutes * 60 / (seconds per step)
steps; with --base-steps it gets the shipped recipe's steps divided by its cost per step relative to that recipe
(timed in alternation; 1 for the same U-Net and batch), which is steadier on a busy machine. Then its EMA
weights draw N = 1,000 samples (seed 0) with DPM++ 2M Karras at 20 and 10 steps, and at 20 steps with x0 clipped
to [-1, 1] (ClipX0, an option, to measure its effect), scored against the 9,000 training digits on the course
classifier's features: FID, KID (mean ± std over 100 subsets), and the mean nearest-neighbour pixel distance to
the training digits beside that of the 1,000 validation digits (novelty: a copying model scores far below
validation). Rows are cached in benchmarks/results/ddpm_variants.json, the EMA weights saved to
build/ddpm_variants/<variant>.pt (ignored), and benchmarks/results/ddpm_variants.md is rewritten after every row.
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from genlib.checkpoints import save_weights  # noqa: E402
from genlib.data import load_mnist  # noqa: E402
from genlib.diffusion import alphas_cumprod, linear_betas  # noqa: E402
from genlib.diffusion.ddpm import EMA, as_noise_predictor, sample_images  # noqa: E402
from genlib.image.unet import UNet, count_parameters  # noqa: E402
from genlib.metrics import (classifier_features, feature_stats, fid, kernel_distance,  # noqa: E402
                            load_fid_classifier, nearest_neighbour_distance)
from train_ddpm import loss_function, recipe_settings, train_recipe  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
BUILD = ROOT / "build" / "ddpm_variants"
# name: (what it changes, recipe_settings overrides on cpu-small)
VARIANTS = {
    "v": ("as shipped: v-prediction, uniform t, batch 64, lr 2e-3, EMA 0.999", {}),
    "edm": ("EDM preconditioning (sigma_data 0.5), log-normal sigma + 25% schedule sigmas, EDM weight",
            {"prediction": "edm"}),
    "v-minsnr5": ("v-prediction with Min-SNR-5 weighting", {"min_snr_gamma": 5.0}),
    "edm-b128": ("EDM, batch 128", {"prediction": "edm", "batch_size": 128}),
    "v-b128": ("v-prediction, batch 128", {"batch_size": 128}),
    "edm-w48": ("EDM, base width 48 (1.1M params; attention at 7x7 as in every row)",
                {"prediction": "edm", "model": {"base_channels": 48}}),
    "v-w48": ("v-prediction, base width 48 (1.1M params)", {"model": {"base_channels": 48}}),
    "edm-share0": ("EDM with log-normal sigma only (no schedule sigmas)", {"prediction": "edm", "schedule_share": 0.0}),
    "v-minsnr5-b128": ("v-prediction, Min-SNR-5, batch 128", {"min_snr_gamma": 5.0, "batch_size": 128}),
    "edm-ema9995": ("EDM, EMA decay 0.9995", {"prediction": "edm", "ema_decay": 0.9995}),
}


def cpu_seconds_per_step(settings: dict, calib_steps: int = 30, warm: int = 8) -> float:
    """CPU seconds one training step of this recipe takes (process time, after a few warm-up steps)."""
    ab = alphas_cumprod(linear_betas(settings["timesteps"]))
    g = torch.Generator().manual_seed(12345)
    model = UNet(settings["model"])
    ema, opt = EMA(model, settings["ema_decay"]), torch.optim.AdamW(model.parameters(), lr=settings["lr"])
    loss_fn = loss_function(settings, ab, g)
    data = load_mnist("train")[0][:2048] * 2 - 1
    for i in range(warm + calib_steps):
        if i == warm:
            t0 = time.process_time()
        loss = loss_fn(model, data[torch.randint(len(data), (settings["batch_size"],), generator=g)])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema.update(model)
    return (time.process_time() - t0) / calib_steps


def relative_cost(settings: dict, rounds: int = 3) -> float:
    """CPU time per step of this recipe over the shipped one's, timed in alternation so the machine's load cancels;
    exactly 1 when the U-Net and batch size are the shipped ones (the losses differ by a few elementwise ops)."""
    base = recipe_settings("cpu-small", settings["seed"])
    if settings["model"] == base["model"] and settings["batch_size"] == base["batch_size"]:
        return 1.0
    ratios = [cpu_seconds_per_step(settings, 10, 3) / cpu_seconds_per_step(base, 10, 3) for _ in range(rounds)]
    return sorted(ratios)[len(ratios) // 2]


def measure(net: torch.nn.Module, settings: dict, ref: dict, n: int, seed: int) -> dict:
    """FID/KID at 20 and 10 DPM++ 2M Karras steps (and 20 with x0 clipped), and the nearest-neighbour distance."""
    ab = alphas_cumprod(linear_betas(settings["timesteps"]))
    out = {}
    for key, steps, clip in (("20", 20, False), ("10", 10, False), ("20clip", 20, True)):
        model = as_noise_predictor(net, ab, settings["prediction"], clip_x0=clip, sigma_data=settings.get("sigma_data"))
        t0 = time.perf_counter()
        images, _ = sample_images(model, ab, n, "dpmpp_2m", steps, karras=True, seed=seed, progress=False)
        out[f"sample_seconds_{key}"] = round(time.perf_counter() - t0, 1)
        feats = classifier_features(images, ref["classifier"])
        out[f"fid_{key}"] = round(fid(images, ref["train_stats"], ref["classifier"]), 2)
        kid, kid_std = kernel_distance(feats, ref["train_features"], seed=seed)
        out[f"kid_{key}"], out[f"kid_std_{key}"] = round(kid, 1), round(kid_std, 1)
        if key == "20":
            out["nn_20"] = round(nearest_neighbour_distance(images, ref["train_images"]).mean().item(), 3)
        print(f"  {key:>6s}: FID {out[f'fid_{key}']:.2f}  KID {kid:.0f} ± {kid_std:.0f}", flush=True)
    return out


def reference(n: int, seed: int) -> dict:
    """The training digits' features and the validation digits' scores: the real floor of every column."""
    classifier = load_fid_classifier("cpu")
    train_images, _ = load_mnist("train")
    val_images, _ = load_mnist("val")
    train_features = classifier_features(train_images, classifier)
    ref = {"classifier": classifier, "train_images": train_images, "train_features": train_features,
           "train_stats": feature_stats(train_features)}
    val = val_images[:n]
    kid, kid_std = kernel_distance(classifier_features(val, classifier), train_features, seed=seed)
    ref["floor"] = {"fid": round(fid(val, ref["train_stats"], classifier), 2), "kid": round(kid, 1),
                    "kid_std": round(kid_std, 1), "n_val": len(val),
                    "nn": round(nearest_neighbour_distance(val, train_images).mean().item(), 3)}
    return ref


def load_rows(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"rows": {}}


def write_report(cache: dict, path: Path) -> None:
    floor = cache.get("floor", {})
    lines = ["# DDPM training recipes at equal training minutes (MNIST, one CPU thread)", "",
             "Each row trains the course U-Net (scripts/train_ddpm.py's recipe, `genlib.train.train`, AdamW with "
             "warm-up and cosine decay over the budget, EMA with warm-up) on the same compute on one thread, "
             "then samples N = 1,000 digits (seed 0) with its EMA weights. FID and KID (in the features' units, "
             "mean ± std over 100 "
             "subsets) against the 9,000 training digits on the course classifier's features; lower is better. "
             "@20 and @10: DPM++ 2M Karras at 20 and 10 steps; @20 clip: the same 20 steps with x̂0 clipped to "
             "[-1, 1] (`as_noise_predictor(..., clip_x0=True)`, an option, off by default). NN: mean "
             "nearest-neighbour pixel distance (images in [0, 1], 784 pixels) of the @20 samples to the training "
             "digits; the validation digits' is the novelty reference (a copying model would score far below it). "
             "Budget: either CPU minutes (steps = minutes × 60 / the recipe's CPU seconds per step, calibrated "
             "just before the run; on the shared machine that calibration swings by ±20% for the same network, "
             "so same-network rows then differ in steps by noise), or the shipped recipe's steps scaled by the "
             "variant's cost per step relative to it (timed in alternation; exactly 1 for the same U-Net and "
             "batch), which gives equal compute exactly. CPU and wall minutes are what the run took on the shared "
             "2-core machine.",
             "", "| variant | what | params | budget | CPU min | wall min | steps | FID@20 | FID@10 | FID@20 clip | "
             "KID@20 | KID@10 | NN@20 |", "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in cache["rows"].items():
        budget = r.get("budget", f"{r.get('cpu_minutes_budget', 0):g} CPU min")
        lines.append(f"| {name} | {r['what']} | {r['params'] / 1e6:.2f}M | {budget} | {r['cpu_minutes']:.1f} | "
                     f"{r['wall_minutes']:.1f} | {r['steps']:,} | {r['fid_20']:.2f} | {r['fid_10']:.2f} | "
                     f"{r['fid_20clip']:.2f} | {r['kid_20']:.0f} ± {r['kid_std_20']:.0f} | "
                     f"{r['kid_10']:.0f} ± {r['kid_std_10']:.0f} | {r['nn_20']:.2f} |")
    if floor:
        lines.append(f"| real (validation, N = {floor['n_val']:,}) | real floor | | | | | | {floor['fid']:.2f} | "
                     f"{floor['fid']:.2f} | | {floor['kid']:.0f} ± {floor['kid_std']:.0f} | | {floor['nn']:.2f} |")
    if cache.get("note"):
        lines += ["", cache["note"]]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--minutes", type=float, help="CPU minutes of training per variant")
    how.add_argument("--base-steps", type=int, help="the shipped recipe's compute in its steps: a variant trains "
                        "base_steps / relative_cost steps (the calibrated --minutes can swing ±20%% on a busy "
                        "machine)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=tuple(VARIANTS))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--deadline", default=None, help="HH:MM UTC: skip a variant that would end after it")
    parser.add_argument("--redo", action="store_true", help="retrain variants already in the table")
    parser.add_argument("--note", default=None, help="a sentence for the report (e.g. the machine's load)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for ddpm_variants.json and .md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    json_path, md_path = args.results / "ddpm_variants.json", args.results / "ddpm_variants.md"
    cache = load_rows(json_path)
    if args.note:
        cache["note"] = args.note
    ref = reference(args.n, args.seed)
    cache["floor"] = ref["floor"]
    print(f"real floor: {ref['floor']}", flush=True)
    BUILD.mkdir(parents=True, exist_ok=True)
    last_wall = None
    for name in args.variants:
        if name in cache["rows"] and not args.redo:
            print(f"{name}: cached", flush=True)
            continue
        if args.deadline and last_wall is not None:
            hh, mm = map(int, args.deadline.split(":"))
            now = dt.datetime.now(dt.timezone.utc)
            end = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
            if now + dt.timedelta(seconds=last_wall) > end:
                print(f"{name}: skipped, would end after {args.deadline} UTC (last variant took "
                      f"{last_wall / 60:.0f} min)", flush=True)
                continue
        what, overrides = VARIANTS[name]
        settings = recipe_settings("cpu-small", args.seed, **copy.deepcopy(overrides))
        t_start = time.perf_counter()
        if args.minutes is not None:
            per_step = cpu_seconds_per_step(settings)
            steps, budget = max(1, round(args.minutes * 60 / per_step)), f"{args.minutes:g} CPU min"
            print(f"{name}: {per_step:.3f} CPU s/step -> {steps} steps", flush=True)
        else:
            cost = relative_cost(settings)
            steps, budget = max(1, round(args.base_steps / cost)), f"{args.base_steps} shipped-recipe steps"
            print(f"{name}: {cost:.2f}x the shipped recipe's cost per step -> {steps} steps", flush=True)
        cpu0 = time.process_time()
        net, history = train_recipe(settings, steps=steps, state_path=BUILD / f"{name}.state.pt", progress=False)
        cpu_train = time.process_time() - cpu0
        save_weights(net, BUILD / f"{name}.pt")
        (BUILD / f"{name}.json").write_text(json.dumps({**settings, "steps": steps}, indent=1))
        row = {"what": what, "settings": {**settings, "steps": steps}, "params": count_parameters(net),
               "budget": budget, "cpu_minutes": round(cpu_train / 60, 2),
               "wall_minutes": round(history.seconds / 60, 2), "steps": steps,
               "final_loss": round(sum(history.loss[-100:]) / len(history.loss[-100:]), 4)}
        print(f"{name}: trained {steps} steps, {row['cpu_minutes']} CPU min, {row['wall_minutes']} wall min, "
              f"loss {row['final_loss']}", flush=True)
        row.update(measure(net, settings, ref, args.n, args.seed))
        cache = load_rows(json_path) | {"floor": ref["floor"], **({"note": cache["note"]} if "note" in cache else {})}
        cache["rows"][name] = row
        json_path.write_text(json.dumps(cache, indent=1))
        write_report(cache, md_path)
        last_wall = time.perf_counter() - t_start
        print(f"{name}: done in {last_wall / 60:.1f} wall min", flush=True)


if __name__ == "__main__":
    main()
