"""Train notebook 16's text-to-image model on the captioned shapes: a tiny CLIP first, then a text-conditional
U-Net that cross-attends to its frozen text encoder; ships checkpoints/shapes_clip.pt and shapes_text2img.pt.

    python scripts/train_text2img.py                   # 60 minutes on one CPU core (resumable: run it again)
    python scripts/train_text2img.py --minutes 2 --clip-steps 100 --no-register --out /tmp/t2i   # a quick try

1. CLIP (genlib.image.clip): --clip-steps steps of the contrastive loss on batches of 128 pictures and captions
   from a pool of POOL training scenes (genlib.data.shapes, seed 0). Measured: retrieval accuracy (the right
   caption among 500) on fresh training-split scenes and on held-out colour-shape pairs.
2. The denoiser (genlib.image.unet.UNet with context_dim): EDM's preconditioning (genlib.diffusion.edm) at the
   pool's own standard deviation, condition dropout 0.1 (all-zero text = "no text"), AdamW with warm-up and cosine
   decay over --minutes, an EMA of the weights, state saved to build/ every 5 minutes (genlib.train.train).
3. Measured on fresh captions, 200 from each split, DPM++ 2M Karras 20 steps: the share of samples whose
   pixels show every asked-for shape, colour, size and position (genlib.data.shapes.shows), at guidance 1 and 3.
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
from genlib.data.shapes import encode_captions, make_shapes, shows  # noqa: E402
from genlib.device import seed_everything  # noqa: E402
from genlib.diffusion import alphas_cumprod, linear_betas  # noqa: E402
from genlib.diffusion.ddpm import EMA, sample_images  # noqa: E402
from genlib.diffusion.edm import EpsFromEDM, edm_loss  # noqa: E402
from genlib.diffusion.guidance import Conditioned, drop_condition  # noqa: E402
from genlib.image.clip import ClipConfig, TinyClip, clip_loss, retrieval_accuracy, text_context  # noqa: E402
from genlib.image.unet import UNet, UNetConfig, count_parameters  # noqa: E402
from genlib.train import cosine_lr, train  # noqa: E402

POOL = 40_000
MODEL = UNetConfig(in_channels=3, base_channels=32, channel_mults=(1, 2), context_dim=ClipConfig().width)
SETTINGS = {"pool": POOL, "clip": ClipConfig().to_dict(), "clip_steps": 1500, "clip_lr": 2e-3, "clip_batch": 128,
            "model": MODEL.to_dict(), "batch_size": 64, "lr": 2e-3, "ema_decay": 0.999, "label_drop": 0.1,
            "timesteps": 1000, "schedule": "linear", "prediction": "edm", "schedule_share": 0.25, "seed": 0}
STATE = ROOT / "build" / "text2img"
EVAL_N, EVAL_STEPS, GUIDANCE = 200, 20, (1.0, 3.0)


def train_clip(images: torch.Tensor, ids: torch.Tensor, steps: int, seed: int = 0) -> TinyClip:
    """The tiny CLIP after `steps` steps of AdamW on random batches of the pool."""
    seed_everything(seed)
    model = TinyClip(SETTINGS["clip"])
    opt = torch.optim.AdamW(model.parameters(), lr=SETTINGS["clip_lr"], weight_decay=0.01)
    g = torch.Generator().manual_seed(seed)

    def batch():
        i = torch.randint(len(images), (SETTINGS["clip_batch"],), generator=g)
        return images[i].float() / 255, ids[i]
    train(model, lambda m, b: clip_loss(m(*b)), batch, steps=steps, optimizer=opt,
          lr_schedule=lambda p: cosine_lr(p, warmup=0.02, min_ratio=0.1), desc="CLIP")
    return model.eval().requires_grad_(False)


def clip_scores(clip: TinyClip) -> dict:
    out = {}
    for split in ("train", "heldout"):
        x, caps, _ = make_shapes(500, split, seed=1001)
        out[f"retrieval_{split}_of_500"] = round(retrieval_accuracy(clip, x, encode_captions(caps)), 4)
    return out


def judge(eps_model, clip: TinyClip, ab: torch.Tensor, split: str, guidance: float, n: int = EVAL_N) -> float:
    """Share of n samples for fresh captions of the split that show what their caption asks."""
    _, caps, _ = make_shapes(n, split, seed=2002)
    ctx = text_context(clip, encode_captions(caps))
    images, _ = sample_images(eps_model, ab, n, "dpmpp_2m", EVAL_STEPS, karras=True, seed=0, image_shape=(3, 32, 32),
                              cond=ctx, null=torch.zeros(ctx.shape[1:]), guidance=guidance, progress=False)
    return sum(shows(img, cap) for img, cap in zip(images, caps)) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0, help="the denoiser's training budget")
    parser.add_argument("--clip-steps", type=int, default=SETTINGS["clip_steps"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="folder for the weights (default checkpoints/)")
    parser.add_argument("--no-register", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = dict(SETTINGS, clip_steps=args.clip_steps, minutes=args.minutes, threads=torch.get_num_threads())
    out = args.out or checkpoint_dir()
    out.mkdir(parents=True, exist_ok=True)
    STATE.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    x, caps, _ = make_shapes(POOL, "train", seed=0)
    images, ids = (x * 255).round().to(torch.uint8), encode_captions(caps)
    print(f"{POOL:,} training scenes in {time.perf_counter() - t0:.0f} s", flush=True)

    clip_path = STATE / "shapes_clip.pt"
    clip = TinyClip(settings["clip"])
    if clip_path.exists():  # a resumed run keeps the text encoder its denoiser learned to read
        clip.load_state_dict(torch.load(clip_path, weights_only=True))
        clip.eval().requires_grad_(False)
    else:
        clip = train_clip(images, ids, args.clip_steps)
        save_weights(clip, clip_path)
    clip_metric = clip_scores(clip)
    print(f"CLIP: {clip_metric}", flush=True)

    context = torch.cat([text_context(clip, ids[i:i + 2000]) for i in range(0, POOL, 2000)])
    data = images.float() / 127.5 - 1
    sigma_data = round(data.std().item(), 3)
    settings["sigma_data"] = sigma_data
    ab = alphas_cumprod(linear_betas(settings["timesteps"]))
    seed_everything(settings["seed"])
    net = UNet(settings["model"])
    print(f"text-conditional U-Net with {count_parameters(net):,} parameters; sigma_data {sigma_data}", flush=True)
    ema = EMA(net, settings["ema_decay"])
    g = torch.Generator().manual_seed(settings["seed"])
    null = torch.zeros(context.shape[1:])

    def batch():
        i = torch.randint(POOL, (settings["batch_size"],), generator=g)
        return data[i], drop_condition(context[i], null, settings["label_drop"], g)

    def loss_fn(m, b):
        return edm_loss(Conditioned(m, b[1]), b[0], ab, generator=g, schedule_share=settings["schedule_share"],
                        sigma_data=sigma_data)
    hist = train(net, loss_fn, batch, seconds=60 * args.minutes, optimizer=torch.optim.AdamW(net.parameters(),
                 lr=settings["lr"], weight_decay=0.0), lr_schedule=lambda p: cosine_lr(p, warmup=0.01, min_ratio=0.1),
                 grad_clip=1.0, ema=ema, state_path=STATE / "state.pt", rng=g, desc="text-to-image")
    model = ema.model.eval().requires_grad_(False)
    eps_model = EpsFromEDM(model, ab, sigma_data)
    scores = {f"shows_{split}_w{w:g}": judge(eps_model, clip, ab, split, w) for split in ("train", "heldout")
              for w in GUIDANCE}
    print(f"{len(hist.steps)} steps in {hist.seconds:.0f} s; {scores}", flush=True)
    clip_out, net_out = out / "shapes_clip.pt", out / "shapes_text2img.pt"
    save_weights(clip, clip_out)
    save_weights(model, net_out)
    if args.no_register:
        return
    register("shapes_clip", clip_out, script="scripts/train_text2img.py", settings=settings,
             metric={"name": "retrieval_accuracy_heldout_of_500", "value": clip_metric["retrieval_heldout_of_500"],
                     **clip_metric}, torch=torch.__version__,
             params=count_parameters(clip))
    curve = [round(sum(hist.loss[s:s + 100]) / 100, 4) for s in range(0, len(hist.loss) - 99, 100)]
    register("shapes_text2img", net_out, script="scripts/train_text2img.py", settings=settings,
             metric={"name": "shows_caption_heldout_w3", "value": scores["shows_heldout_w3"],
                     "sampler": "dpmpp_2m karras", "steps": EVAL_STEPS, "n": EVAL_N, **scores}, train_seconds=round(hist.seconds, 1), steps=len(hist.steps),
             params=count_parameters(model), loss_curve=curve[:: max(1, len(curve) // 40)], torch=torch.__version__)


if __name__ == "__main__":
    main()
