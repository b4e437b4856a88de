"""Train notebook 17's latent diffusion model: the EDM denoiser on the latent grid of notebook 11's VQ-VAE.

    python scripts/train_latent.py                  # 60 minutes on one CPU core -> checkpoints/latent_mnist.pt
    python scripts/train_latent.py --minutes 1 --no-register --out /tmp/latent.pt     # a quick try

The 9,000 training digits become 16 x 7 x 7 grids of the VQ encoder's vectors before snapping to the codebook
(genlib.diffusion.latent.VQLatents, scaled to a standard deviation of 0.5, EDM's sigma_data; `--latents quantized`
diffuses the snapped vectors instead, which measured worse: benchmarks/results/latent_variants.md). A one-level
U-Net of base width 48 without patch folding (the grid is already
small) learns them with the recipe of the pixel model ddpm_mnist_edm: EDM's preconditioning and loss, AdamW with
warm-up and cosine decay, an EMA of the weights, state saved to build/ every 5 minutes (rerun to resume).

Measured at the end, N = 1,000 from seed 0, FID against the training digits on the course classifier:
- the autoencoder's own reconstructions of the 1,000 validation digits, with and without snapping: the floor;
- latent samples with DPM++ 2M Karras at 10 and 20 steps, decoded with and without snapping to the codebook;
- seconds for 1,000 samples (decoding included) against the pixel model ddpm_mnist_edm with the same sampler
  and steps, both timed in this run on the same threads: the speed-up per sample.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from genlib.checkpoints import checkpoint_dir, register, save_weights  # noqa: E402
from genlib.data import load_mnist  # noqa: E402
from genlib.device import seed_everything  # noqa: E402
from genlib.diffusion import alphas_cumprod, linear_betas  # noqa: E402
from genlib.diffusion.ddpm import EMA, load_ddpm_mnist, sample_images  # noqa: E402
from genlib.diffusion.edm import EpsFromEDM, edm_loss  # noqa: E402
from genlib.diffusion.latent import VQLatents, latent_samples, load_vq_latents  # noqa: E402
from genlib.image.unet import UNet, UNetConfig, count_parameters  # noqa: E402
from genlib.metrics import classifier_features, feature_stats, fid, load_fid_classifier  # noqa: E402
from genlib.train import cosine_lr, train  # noqa: E402

MODEL = UNetConfig(in_channels=16, base_channels=48, channel_mults=(1,), patch_size=1)
SETTINGS = {"model": MODEL.to_dict(), "batch_size": 64, "lr": 2e-3, "ema_decay": 0.999, "timesteps": 1000,
            "schedule_share": 0.25, "sigma_data": 0.5, "seed": 0, "autoencoder": "mnist_vqvae",
            "latents": "encoder"}
FID_N, SAMPLER = 1000, "dpmpp_2m"


def timed(fn) -> tuple[torch.Tensor, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-register", action="store_true")
    parser.add_argument("--latents", choices=("quantized", "encoder"), default=SETTINGS["latents"],
                        help="diffuse the codebook vectors, or the encoder's outputs before snapping")
    parser.add_argument("--width", type=int, default=MODEL.base_channels, help="the U-Net's base channels")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model_cfg = dict(MODEL.to_dict(), base_channels=args.width)
    settings = dict(SETTINGS, model=model_cfg, latents=args.latents, minutes=args.minutes,
                    threads=torch.get_num_threads())
    seed_everything(settings["seed"])
    images, _ = load_mnist("train")
    unscaled = load_vq_latents(1.0, quantized=args.latents == "quantized")
    raw = unscaled.encode(images)
    settings["latent_scale"] = round(settings["sigma_data"] / raw.std().item(), 4)
    codec = VQLatents(unscaled.vqvae, settings["latent_scale"], unscaled.quantized)    # the same autoencoder, not loaded twice
    data = raw * settings["latent_scale"]
    ab = alphas_cumprod(linear_betas(settings["timesteps"]))
    net = UNet(settings["model"])
    print(f"latents {tuple(data.shape[1:])} scaled by {settings['latent_scale']}; U-Net with "
          f"{count_parameters(net):,} parameters; training for {args.minutes:g} minutes", flush=True)
    path = args.out or checkpoint_dir() / "latent_mnist.pt"
    g = torch.Generator().manual_seed(settings["seed"])
    ema = EMA(net, settings["ema_decay"])
    hist = train(net, lambda m, x0: edm_loss(m, x0, ab, generator=g, schedule_share=settings["schedule_share"],
                                             sigma_data=settings["sigma_data"]),
                 lambda: data[torch.randint(len(data), (settings["batch_size"],), generator=g)],
                 seconds=60 * args.minutes, optimizer=torch.optim.AdamW(net.parameters(), lr=settings["lr"],
                                                                        weight_decay=0.0),
                 lr_schedule=lambda p: cosine_lr(p, warmup=0.01, min_ratio=0.1), grad_clip=1.0, ema=ema,
                 state_path=ROOT / "build" / f"{path.stem}.state.pt", rng=g, desc="latent diffusion")
    model = EpsFromEDM(ema.model.eval().requires_grad_(False), ab, settings["sigma_data"])

    classifier = load_fid_classifier("cpu")
    stats = feature_stats(classifier_features(images, classifier))
    val = load_mnist("val")[0]
    scores = {"real_floor_val": fid(val, stats, classifier),
              "reconstruction_val": fid(codec.decode(codec.encode(val)), stats, classifier),
              "reconstruction_val_nosnap": fid(codec.decode(codec.encode(val), snap=False), stats, classifier)}
    pixel, pixel_ab, _ = load_ddpm_mnist("cpu", name="ddpm_mnist_edm")
    for steps in (10, 20):
        imgs, secs = timed(lambda: latent_samples(model, ab, codec, FID_N, steps, sampler=SAMPLER))
        scores[f"latent_{steps}"] = fid(imgs, stats, classifier)
        scores[f"latent_{steps}_seconds"] = secs
        pimgs, psecs = timed(lambda: sample_images(pixel, pixel_ab, FID_N, SAMPLER, steps, karras=True, seed=0,
                                                   progress=False)[0])
        scores[f"pixel_{steps}"] = fid(pimgs, stats, classifier)
        scores[f"pixel_{steps}_seconds"] = psecs
    scores["latent_20_nosnap"] = fid(latent_samples(model, ab, codec, FID_N, 20, snap=False, sampler=SAMPLER), stats, classifier)
    scores = {k: round(v, 3) for k, v in scores.items()}
    print(f"{len(hist.steps)} steps in {hist.seconds:.0f} s; {scores}", flush=True)
    save_weights(model.denoiser.net, path)
    if not args.no_register:
        curve = [round(sum(hist.loss[s:s + 100]) / 100, 4) for s in range(0, len(hist.loss) - 99, 100)]
        register("latent_mnist", path, script="scripts/train_latent.py", settings=settings,
                 metric={"name": "fid", "value": scores["latent_20_nosnap"], "decode": "no snapping",
                         "sampler": "dpmpp_2m karras", "steps": 20,
                         "n": FID_N, "seed": 0, "reference": "train", **scores},
                 train_seconds=round(hist.seconds, 1), steps=len(hist.steps), params=count_parameters(net),
                 loss_curve=curve[:: max(1, len(curve) // 40)], torch=torch.__version__)


if __name__ == "__main__":
    main()
