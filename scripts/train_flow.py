"""Train notebook 19's flow-matching models on MNIST: the U-Net or the diffusion transformer, same recipe.

    python scripts/train_flow.py --arch unet            # 60 minutes on one CPU core -> checkpoints/flow_mnist_unet.pt
    python scripts/train_flow.py --arch dit             # the DiT at the same size and time -> flow_mnist_dit.pt
    python scripts/train_flow.py --minutes 1 --no-register --out /tmp/flow.pt      # a quick try
    python scripts/train_flow.py --arch unet --init checkpoints/flow_mnist_unet.pt --minutes 135   # train on

Conditional flow matching (genlib.diffusion.flow): x_t = (1 - t) noise + t data, the network (called with
1000 t, the timestep scale its embedding was built for) learns the velocity data - noise. AdamW with warm-up and
cosine decay over the time budget, an EMA of the weights, the state saved to build/ every 5 minutes (rerun the
same command to resume), all through genlib.train.train. Measured at the end: FID of 1,000 samples (Euler and
Heun, 10 and 20 steps, from seed 0) against the training digits, beside the real floor, as in train_ddpm.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from genlib.checkpoints import checkpoint_dir, load_weights, register, save_weights  # noqa: E402
from genlib.data.files import sha256_file  # noqa: E402
from genlib.data import load_mnist  # noqa: E402
from genlib.device import seed_everything  # noqa: E402
from genlib.diffusion.flow import ARCHS, flow_images, flow_matching_loss, flow_network  # noqa: E402
from genlib.image.dit import DiTConfig  # noqa: E402
from genlib.image.unet import UNetConfig, count_parameters  # noqa: E402
from genlib.metrics import classifier_features, feature_stats, fid, load_fid_classifier  # noqa: E402
from genlib.train import EMA, cosine_lr, train  # noqa: E402

CONFIGS = {"unet": UNetConfig().to_dict(), "dit": DiTConfig().to_dict()}  # the two nets at about 0.5M parameters
SETTINGS = {"batch_size": 64, "lr": 2e-3, "ema_decay": 0.999, "seed": 0}
FID_N, CHECKS = 1000, (("euler", 10), ("euler", 20), ("heun", 5), ("heun", 10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=ARCHS, default="unet")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="weights file (default checkpoints/flow_mnist_<arch>.pt)")
    parser.add_argument("--no-register", action="store_true")
    parser.add_argument("--init", type=Path, default=None,
                        help="start from these weights (a .pt this script saved for the same --arch), with a fresh "
                             "warm-up and cosine decay over --minutes")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    name = f"flow_mnist_{args.arch}"
    settings = dict(SETTINGS, arch=args.arch, model=CONFIGS[args.arch], minutes=args.minutes,
                    threads=torch.get_num_threads())
    seed_everything(settings["seed"])
    images, _ = load_mnist("train")
    data = images * 2 - 1
    model = flow_network(args.arch, settings["model"])
    if args.init is not None:
        if not args.init.is_file():
            raise SystemExit(f"--init {args.init}: no such weights file (give a .pt saved by this script)")
        settings["init"] = {"file": args.init.name, "sha256": sha256_file(args.init)}
        load_weights(model.net, args.init)
    print(f"{args.arch}: {count_parameters(model):,} parameters; training for {args.minutes:g} minutes", flush=True)
    g = torch.Generator().manual_seed(settings["seed"])
    ema = EMA(model, settings["ema_decay"])
    hist = train(model, lambda m, x1: flow_matching_loss(m, x1, generator=g),
                 lambda: data[torch.randint(len(data), (settings["batch_size"],), generator=g)],
                 seconds=60 * args.minutes, optimizer=torch.optim.AdamW(model.parameters(), lr=settings["lr"],
                                                                        weight_decay=0.0),
                 lr_schedule=lambda p: cosine_lr(p, warmup=0.01, min_ratio=0.1), grad_clip=1.0, ema=ema,
                 state_path=ROOT / "build" / f"{name}.state.pt", rng=g, desc=f"flow {args.arch}")
    net = ema.model.eval()
    classifier = load_fid_classifier("cpu")
    stats = feature_stats(classifier_features(images, classifier))
    floor = fid(load_mnist("val")[0], stats, classifier)
    scores = {}
    for solver, steps in CHECKS:
        samples, nfe = flow_images(net, FID_N, solver, steps)
        scores[f"{solver}_{steps}"] = {"nfe": nfe, "fid": round(fid(samples, stats, classifier), 3)}
    print(f"{len(hist.steps)} steps in {hist.seconds:.0f} s; FID (N = {FID_N}): {scores}; real floor {floor:.2f}",
          flush=True)
    path = args.out or checkpoint_dir() / f"{name}.pt"
    save_weights(net.net, path)
    if not args.no_register:
        curve = [round(sum(hist.loss[s:s + 100]) / 100, 4) for s in range(0, len(hist.loss) - 99, 100)]
        register(name, path, script="scripts/train_flow.py", settings=settings,
                 metric={"name": "fid", "value": scores["heun_10"]["fid"], "solver": "heun", "steps": 10, "nfe": 20,
                         "n": FID_N, "seed": 0, "reference": "train", "real_floor_val": round(floor, 3),
                         "all": scores},
                 train_seconds=round(hist.seconds, 1), steps=len(hist.steps), params=count_parameters(net),
                 loss_curve=curve[:: max(1, len(curve) // 40)], torch=torch.__version__)


if __name__ == "__main__":
    main()
