"""Train the DDPM U-Net on MNIST; ships checkpoints/ddpm_mnist.pt (the EMA weights) and ddpm_mnist_eps.pt.

    python scripts/train_ddpm.py                        # cpu-small: a 60-minute wall-clock budget, v-prediction
    python scripts/train_ddpm.py --prediction eps --name ddpm_mnist_eps    # the same, predicting the noise
    python scripts/train_ddpm.py --minutes 10           # shorter (the budget is capped at 180 minutes)
    python scripts/train_ddpm.py --scale gpu-full       # a bigger U-Net on a GPU
    python scripts/train_ddpm.py --prediction edm --name ddpm_mnist_edm --no-register   # EDM's preconditioning
    python scripts/train_ddpm.py --prediction edm --classes --init checkpoints/ddpm_mnist_edm.pt \
        --name ddpm_mnist_cond --minutes 60        # class-conditional, for guidance (notebook 16)
    python scripts/train_ddpm.py --min-snr-gamma 5 --batch-size 128 --model-json '{"base_channels": 48}' ...
    torchrun --nproc_per_node=4 scripts/train_ddpm.py --scale gpu-full --no-register   # data-parallel on 4 GPUs

Under torchrun every process trains on --batch-size images of its own (the batch is N times larger; one process
with an N-times batch gives the same weights, tests/test_distributed.py checks it), and only rank 0 measures,
saves and registers (genlib.distributed: NCCL between GPUs, gloo between CPU processes).

Recipe options (benchmarks/ddpm_variants.py compares them at equal training minutes): --prediction edm trains
genlib.diffusion.edm's preconditioned denoiser (log-normal noise levels, --schedule-share of them at the DDPM
schedule's own sigmas, EDM's loss weight); --min-snr-gamma weights the eps or v loss by Min-SNR; --batch-size and
--model-json (UNetConfig fields) change the batch and the U-Net. --classes conditions the U-Net on the digit's
label, hidden (replaced by "no label") for --label-drop of the batch, so the one network also stays unconditional,
as classifier-free guidance needs; with --init from an unconditional U-Net it starts from those weights, its new
label embedding at zero.

The shipped pair ran at the same time, one thread each (--threads 1), on the course's 2-core CPU.
Trains genlib.image.unet.UNet on the 9,000 training digits scaled to [-1, 1], linear schedule, T = 1000, to
predict v (genlib.diffusion.ddpm.v_prediction_loss) or the noise (noise_prediction_loss, DDPM's L_simple), with
AdamW, warm-up and a cosine decay over the time budget, keeping an EMA of the weights (genlib.train.train:
the course's one loop; its state is saved to build/ every 5 minutes, and a rerun after a crash resumes). Then it draws 1,000
samples with DPM++ 2M Karras (20 steps), measures their FID against the training images (genlib.metrics.fid)
beside the real floor (validation vs training digits), saves atomically and records everything in
checkpoints/manifest.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genlib import distributed  # noqa: E402
from genlib.checkpoints import checkpoint_dir, load_weights, register, save_weights  # noqa: E402
from genlib.data import load_mnist  # noqa: E402
from genlib.data.files import sha256_file  # noqa: E402
from genlib.device import get_device, scale, seed_everything  # noqa: E402
from genlib.diffusion import alphas_cumprod, linear_betas  # noqa: E402
from genlib.diffusion.ddpm import (EMA, PREDICTIONS, as_noise_predictor, noise_prediction_loss,  # noqa: E402
                                  sample_images, v_prediction_loss)
from genlib.diffusion.edm import SIGMA_DATA, edm_loss  # noqa: E402
from genlib.diffusion.guidance import Conditioned, drop_condition  # noqa: E402
from genlib.image.classifier import accuracy  # noqa: E402
from genlib.image.unet import UNet, UNetConfig, count_parameters  # noqa: E402
from genlib.train import History, cosine_lr, train  # noqa: E402
from genlib.metrics import feature_stats, classifier_features, fid, load_fid_classifier  # noqa: E402

SETTINGS = {
    "cpu-small": {"model": UNetConfig().to_dict(), "batch_size": 64, "lr": 2e-3, "ema_decay": 0.999, "minutes": 60,
                  "prediction": "v"},
    "gpu-full": {"model": UNetConfig(base_channels=64, channel_mults=(1, 2, 2), patch_size=1).to_dict(),
                 "batch_size": 128, "lr": 1e-3, "ema_decay": 0.9995, "minutes": 60, "prediction": "v"},
}
MAX_MINUTES = 180  # a shipped checkpoint's script may train up to 3 hours on the CPU
STATE_DIR = Path(__file__).resolve().parents[1] / "build"  # resumable training state (ignored by git)
FID_N, FID_SAMPLER, FID_STEPS = 1000, "dpmpp_2m", 20


def loss_function(settings: dict, ab: torch.Tensor, g: torch.Generator):
    """loss(model, x0) for the recipe in `settings`: its prediction target, weighting and noise levels."""
    gamma = settings.get("min_snr_gamma")
    if settings["prediction"] == "edm":
        if gamma is not None:
            raise ValueError("min_snr_gamma applies to eps or v prediction; EDM has its own weighting")
        share, sd = settings.get("schedule_share", 0.25), settings.get("sigma_data", SIGMA_DATA)
        return lambda m, x0: edm_loss(m, x0, ab, generator=g, schedule_share=share, sigma_data=sd)
    loss = v_prediction_loss if settings["prediction"] == "v" else noise_prediction_loss
    return lambda m, x0: loss(m, x0, ab, generator=g, min_snr_gamma=gamma)


def train_recipe(settings: dict, *, minutes: float | None = None, steps: int | None = None,
                 state_path: Path | None = None, device: torch.device | None = None,
                 progress: bool = True, init: Path | None = None) -> tuple[torch.nn.Module, History]:
    """Train a U-Net on the MNIST training digits by `settings` on a budget of minutes and/or steps: (EMA, History).

    `init` starts from those weights (a checkpoint of the same U-Net) instead of a fresh initialisation.

    Under torchrun each rank draws its own batches and noise; the weights and the EMA are the same on every rank.
    """
    seed_everything(settings["seed"])
    device = device or get_device()
    ab = alphas_cumprod(linear_betas(settings["timesteps"]))
    images, labels = load_mnist("train")
    data, labels = (images * 2 - 1).to(device), labels.to(device)
    g = torch.Generator().manual_seed(distributed.rank_seed(settings["seed"]))  # rank 0: the seed itself
    unet = UNet(settings["model"])
    classes = unet.config.num_classes
    if init is not None:
        base = UNet({**settings["model"], "num_classes": 0}) if classes else unet
        load_weights(base, init, settings.get("init", {}).get("sha256"))
        if base is not unet:  # an unconditional start: everything but the label embedding, which stays zero
            missing = unet.load_state_dict(base.state_dict(), strict=False).missing_keys
            assert missing == ["label_emb.weight"], missing
    model = distributed.wrap(unet.to(device))  # DDP under torchrun, else the U-Net itself
    ema = EMA(distributed.unwrap(model), settings["ema_decay"])
    opt = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=0.0)
    base_loss = loss_function(settings, ab, g)
    drop = settings.get("label_drop", 0.0)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        i = torch.randint(len(data), (settings["batch_size"],), generator=g).to(device)
        return data[i], labels[i]

    def loss_fn(m: torch.nn.Module, b: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x0, y = b
        return base_loss(Conditioned(m, drop_condition(y, classes, drop, g)), x0) if classes else base_loss(m, x0)

    # the learning rate warms up over the first 1% of the budget, then decays (cosine) to 10% at the end
    history = train(model, loss_fn, batch, seconds=None if minutes is None else minutes * 60, steps=steps,
                    optimizer=opt, lr_schedule=lambda p: cosine_lr(p, warmup=0.01, min_ratio=0.1), grad_clip=1.0,
                    ema=ema, state_path=state_path, rng=g,
                    desc="DDPM", progress=progress)
    return ema.model, history


def recipe_settings(scale_name: str, seed: int = 0, **overrides) -> dict:
    """The settings of a scale, with the given recipe options (None = keep the scale's) and the fixed schedule."""
    settings = dict(SETTINGS[scale_name], seed=seed, schedule="linear", timesteps=1000)
    model = overrides.pop("model", None)
    if model:
        settings["model"] = UNetConfig(**{**settings["model"], **{k: tuple(v) if isinstance(v, list) else v
                                                                   for k, v in model.items()}}).to_dict()
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if settings["prediction"] == "edm":
        settings.setdefault("schedule_share", 0.25)
        settings.setdefault("sigma_data", SIGMA_DATA)
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=tuple(SETTINGS), default=None, help="default: genlib.device.scale()")
    parser.add_argument("--minutes", type=float, default=None, help=f"training wall-clock budget (<= {MAX_MINUTES})")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a busy machine)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="ddpm_mnist", help="manifest name (the course ships ddpm_mnist, "
                        "v-prediction, and ddpm_mnist_eps, the same run with --prediction eps)")
    parser.add_argument("--out", type=Path, default=None, help="weights file (default checkpoints/<name>.pt)")
    parser.add_argument("--fid-n", type=int, default=FID_N, help="samples for the FID (keep 1000 for a shipped model)")
    parser.add_argument("--prediction", choices=PREDICTIONS, default=None,
                        help="what the U-Net predicts, or edm: EDM's preconditioned denoiser (default: the scale's)")
    parser.add_argument("--min-snr-gamma", type=float, default=None,
                        help="weight the eps or v loss by Min-SNR with this gamma (e.g. 5); default: unweighted")
    parser.add_argument("--schedule-share", type=float, default=None,
                        help="edm: share of noise levels drawn at the DDPM schedule's sigmas (default 0.25)")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size (default: the scale's)")
    parser.add_argument("--model-json", type=json.loads, default=None,
                        help='UNetConfig fields to change, e.g. \'{"base_channels": 48}\'')
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the scale's)")
    parser.add_argument("--ema-decay", type=float, default=None, help="EMA decay (default: the scale's)")
    parser.add_argument("--init", type=Path, default=None,
                        help="continue from these weights (same U-Net), e.g. checkpoints/ddpm_mnist_edm.pt; "
                             "the learning rate warms up and decays again over --minutes")
    parser.add_argument("--classes", action="store_true", help="condition on the digit labels (for guidance)")
    parser.add_argument("--label-drop", type=float, default=0.1,
                        help="with --classes: share of the batch trained without its label (default 0.1)")
    parser.add_argument("--no-register", action="store_true", help="save the weights but leave the manifest alone")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = recipe_settings(args.scale or scale(), args.seed, prediction=args.prediction, lr=args.lr,
                               ema_decay=args.ema_decay, batch_size=args.batch_size,
                               model={**(args.model_json or {}), **({"num_classes": 10} if args.classes else {})},
                               min_snr_gamma=args.min_snr_gamma, schedule_share=args.schedule_share)
    if args.classes:
        settings["label_drop"] = args.label_drop
    settings["threads"] = torch.get_num_threads()
    minutes = args.minutes if args.minutes is not None else settings["minutes"]
    if not 0 < minutes <= MAX_MINUTES:
        raise SystemExit(f"--minutes must lie in (0, {MAX_MINUTES}], got {minutes}")
    settings["minutes"] = minutes
    if args.init is not None:
        if not args.init.is_file():
            raise SystemExit(f"--init {args.init}: no such weights file (give a .pt saved by this script)")
        settings["init"] = {"file": args.init.name, "sha256": sha256_file(args.init)}
    ctx = distributed.setup()  # one process, or this rank of a torchrun group
    device = ctx.device
    if ctx.world_size > 1:
        settings["world_size"] = ctx.world_size  # batch_size is per process
    if ctx.is_main:
        print(f"U-Net with {count_parameters(UNet(settings['model'])):,} parameters on {device}"
              f"{f' x {ctx.world_size} processes' if ctx.world_size > 1 else ''}; training for {minutes:g} minutes",
              flush=True)
    net, history = train_recipe(settings, minutes=minutes, state_path=STATE_DIR / f"{args.name}.state.pt",
                                device=device, progress=ctx.is_main, init=args.init)
    if not ctx.is_main:  # rank 0 alone measures, saves and registers
        distributed.cleanup()
        return
    losses = history.loss  # the curve: the mean training loss of each 100 steps (a resumed run keeps all of them)
    curve = [[s + 100, round(sum(losses[s:s + 100]) / 100, 5)] for s in range(0, len(losses) - 99, 100)]
    seconds, step = history.seconds, len(history.steps)
    settings["steps"] = step
    print(f"trained {step} steps in {seconds:.0f} s", flush=True)

    path = args.out or checkpoint_dir() / f"{args.name}.pt"
    save_weights(net, path)
    print(f"saved EMA weights to {path} ({path.stat().st_size / 1e6:.2f} MB)", flush=True)
    measure_and_register(net, path, settings, seconds, curve, name=None if args.no_register else args.name,
                         fid_n=args.fid_n, device=device)
    distributed.cleanup()


def measure_and_register(net: torch.nn.Module, path: Path, settings: dict, seconds: float, curve: list,
                         name: str | None, fid_n: int = FID_N, device: torch.device | None = None) -> float:
    """FID of the trained net's samples beside the real floor; with a name, record the file in the manifest."""
    device = device or get_device()
    ab = alphas_cumprod(linear_betas(settings["timesteps"]))
    images, _ = load_mnist("train")
    classifier = load_fid_classifier(device)
    train_stats = feature_stats(classifier_features(images, classifier))
    val_images, _ = load_mnist("val")
    floor = fid(val_images, train_stats, classifier)
    t0 = time.perf_counter()
    eps_model = as_noise_predictor(net, ab, settings["prediction"], sigma_data=settings.get("sigma_data"))
    classes = settings["model"].get("num_classes", 0)
    asked = torch.arange(fid_n) % classes if classes else None  # the same number of each digit
    samples, nfe = sample_images(eps_model, ab, fid_n, FID_SAMPLER, FID_STEPS, karras=True, seed=0, device=device,
                                 cond=asked, null=classes)
    score = fid(samples, train_stats, classifier)
    extra = {} if asked is None else {"accuracy_asked_digit": round(accuracy(classifier, samples, asked), 4),
                                      "guidance": 1.0}
    print(f"FID ({FID_SAMPLER} karras, {FID_STEPS} steps, N={fid_n}) = {score:.2f}; real floor (val vs train) "
          f"= {floor:.2f}; sampling took {time.perf_counter() - t0:.0f} s {extra}", flush=True)
    if name is None:
        return score
    register(name, path, script="scripts/train_ddpm.py", settings=settings,
             metric={"name": "fid", "value": round(score, 3), "sampler": f"{FID_SAMPLER} karras", "steps": FID_STEPS,
                     "nfe": nfe, "n": fid_n, "seed": 0, "reference": "train", "real_floor_val": round(floor, 3),
                     **extra},
             train_seconds=round(seconds, 1), device=str(device), torch=torch.__version__,
             params=count_parameters(net), loss_curve=curve[:: max(1, len(curve) // 40)])
    print(f"registered {name!r} in checkpoints/manifest.json", flush=True)
    return score


if __name__ == "__main__":
    main()
