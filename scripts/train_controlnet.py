"""Train notebook 18's ControlNet: edge maps steer the shipped text-to-image U-Net (shapes_text2img), kept frozen.

    python scripts/train_controlnet.py                 # 30 minutes on one CPU core -> checkpoints/shapes_controlnet.pt
    python scripts/train_controlnet.py --minutes 1 --no-register --out /tmp/cn.pt    # a quick try

genlib.image.controlnet: a trainable copy of the U-Net's way down reads the noisy picture and the edge map of the
picture (genlib.data.shapes.edge_map) and corrects the frozen U-Net's skips and middle through zero-initialised
convolutions. Same loss as the base (EDM, its sigma_data), the caption read by the shipped CLIP text encoder and
dropped for 10% of the batch, AdamW with warm-up and cosine decay, an EMA, resumable state in build/.
Measured: for 200 fresh training-split scenes, the edge IoU (1-pixel tolerance) between the asked edge map and the
samples' own edges, with the ControlNet and without it (the base model, same captions), at guidance 3.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from genlib.checkpoints import checkpoint_dir, register, save_weights  # noqa: E402
from genlib.data.shapes import edge_iou, edge_map, encode_captions, make_shapes  # noqa: E402
from genlib.device import seed_everything  # noqa: E402
from genlib.diffusion.ddpm import EMA, sample_images  # noqa: E402
from genlib.diffusion.edm import EpsFromEDM, edm_loss  # noqa: E402
from genlib.diffusion.guidance import Conditioned, drop_condition  # noqa: E402
from genlib.diffusion.text2img import load_text2img  # noqa: E402
from genlib.image.clip import load_shapes_clip, text_context  # noqa: E402
from genlib.image.controlnet import ControlNet, Controlled  # noqa: E402
from genlib.image.unet import count_parameters  # noqa: E402
from genlib.train import cosine_lr, train  # noqa: E402

POOL, EVAL_N, GUIDANCE = 20_000, 200, 3.0
SETTINGS = {"pool": POOL, "batch_size": 64, "lr": 1e-3, "ema_decay": 0.999, "label_drop": 0.1, "seed": 0}


@torch.no_grad()
def edge_scores(eps_base, eps_control_for, clip, ab) -> dict:
    """Mean edge IoU of samples with and without the ControlNet, for EVAL_N fresh scenes' captions and edges."""
    x, caps, _ = make_shapes(EVAL_N, "train", seed=3003)
    hints, ctx = edge_map(x), text_context(clip, encode_captions(caps))
    null = torch.zeros(ctx.shape[1:])
    out = {}
    for name, model in (("without", eps_base), ("with", eps_control_for(hints))):
        imgs, _ = sample_images(model, ab, EVAL_N, "dpmpp_2m", 20, karras=True, seed=0, image_shape=(3, 32, 32),
                                cond=ctx, null=null, guidance=GUIDANCE, progress=False, batch_size=EVAL_N)
        out[f"edge_iou_{name}"] = round(edge_iou(edge_map(imgs), hints).mean().item(), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-register", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = dict(SETTINGS, minutes=args.minutes, threads=torch.get_num_threads())
    seed_everything(settings["seed"])
    eps_base, ab, base_entry = load_text2img("cpu")
    base, sigma_data = eps_base.denoiser.net, eps_base.denoiser.sigma_data
    clip = load_shapes_clip()
    settings["base"] = {"name": "shapes_text2img", "sha256": base_entry["sha256"]}
    x, caps, _ = make_shapes(POOL, "train", seed=10)
    data, hints = x * 2 - 1, edge_map(x)
    context = torch.cat([text_context(clip, encode_captions(caps[i:i + 2000])) for i in range(0, POOL, 2000)])
    control = ControlNet(base)
    print(f"ControlNet with {count_parameters(control):,} trainable parameters on a frozen "
          f"{count_parameters(base):,}-parameter U-Net", flush=True)
    g = torch.Generator().manual_seed(settings["seed"])
    null = torch.zeros(context.shape[1:])
    ema = EMA(control, settings["ema_decay"])

    def batch():
        i = torch.randint(POOL, (settings["batch_size"],), generator=g)
        return data[i], hints[i], drop_condition(context[i], null, settings["label_drop"], g)

    def loss_fn(m, b):
        x0, hint, ctx = b
        return edm_loss(Conditioned(Controlled(base, m, hint), ctx), x0, ab, generator=g, sigma_data=sigma_data)
    hist = train(control, loss_fn, batch, seconds=60 * args.minutes,
                 optimizer=torch.optim.AdamW(control.parameters(), lr=settings["lr"], weight_decay=0.0),
                 lr_schedule=lambda p: cosine_lr(p, warmup=0.02, min_ratio=0.1), grad_clip=1.0, ema=ema,
                 state_path=ROOT / "build" / "shapes_controlnet.state.pt", rng=g, desc="ControlNet")
    net = ema.model.eval()
    scores = edge_scores(eps_base, lambda h: EpsFromEDM(Controlled(base, net, h), ab, sigma_data), clip, ab)
    print(f"{len(hist.steps)} steps in {hist.seconds:.0f} s; {scores}", flush=True)
    path = args.out or checkpoint_dir() / "shapes_controlnet.pt"
    save_weights(net, path)
    if not args.no_register:
        register("shapes_controlnet", path, script="scripts/train_controlnet.py", settings=settings,
                 metric={"name": "edge_iou", "value": scores["edge_iou_with"], "n": EVAL_N, "guidance": GUIDANCE,
                         **scores}, train_seconds=round(hist.seconds, 1), steps=len(hist.steps),
                 params=count_parameters(net), torch=torch.__version__)


if __name__ == "__main__":
    main()
