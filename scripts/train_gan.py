"""Train the shipped DCGAN on MNIST within a time budget; ships checkpoints/dcgan_mnist.pt (the generator).

    OMP_NUM_THREADS=1 python scripts/train_gan.py                 # cpu-small: stops at the step count or 20 minutes
    python scripts/train_gan.py --minutes 5 --no-register        # a quick trial that ships nothing
    python scripts/train_gan.py --scale gpu-full                  # a wider model, more steps, on a GPU

Adam (beta1 = 0.5) at the settings' learning rate for the first half of the steps, then decaying linearly to 0.
Metric: FID of 1,000 generator samples against the 9,000 training images, on the shipped MNIST classifier's
features (genlib.metrics.fid); the real floor (the 1,000 validation images against the same statistics) is
recorded beside it, with the training seconds and the number of steps actually played.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genlib import metrics  # noqa: E402
from genlib.checkpoints import checkpoint_dir, register, save_weights  # noqa: E402
from genlib.data import load_mnist  # noqa: E402
from genlib.device import get_device, scale, seed_everything  # noqa: E402
from genlib.image.gan import Discriminator, Generator, adam_pair, gan_step  # noqa: E402

SETTINGS = {
    "cpu-small": {"latent_dim": 64, "g_width": 64, "d_width": 32, "batch_size": 64, "lr": 5e-4, "steps": 3000,
                  "minutes": 20.0},
    "gpu-full": {"latent_dim": 64, "g_width": 256, "d_width": 64, "batch_size": 128, "lr": 2e-4, "steps": 20000,
                 "minutes": 30.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("cpu-small", "gpu-full"), default=None, help="default: genlib.device.scale()")
    parser.add_argument("--steps", type=int, default=None, help="most steps to play")
    parser.add_argument("--minutes", type=float, default=None, help="stop after this many minutes of training")
    parser.add_argument("--eval-every", type=int, default=500, help="print the FID every this many steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-register", action="store_true", help="train and report, but ship nothing")
    args = parser.parse_args()
    s = dict(SETTINGS[args.scale or scale()], seed=args.seed)
    for key in ("steps", "minutes"):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)

    seed_everything(s["seed"])
    device = get_device()
    x = (load_mnist("train")[0] * 2 - 1).to(device)          # the GAN works in [-1, 1]
    x_val = load_mnist("val")[0]
    classifier = metrics.load_fid_classifier(device)
    train_stats = metrics.feature_stats(metrics.classifier_features((x + 1) / 2, classifier))
    floor = metrics.fid(x_val.to(device), train_stats, classifier)

    def fid_now(G: Generator) -> float:
        return metrics.fid(G.sample(1000, generator=torch.Generator().manual_seed(1234)), train_stats, classifier)

    G = Generator(s["latent_dim"], s["g_width"]).to(device)
    D = Discriminator(s["d_width"]).to(device)
    opt_g, opt_d = adam_pair(G, D, lr=s["lr"])
    data_g, noise_g = torch.Generator().manual_seed(s["seed"]), torch.Generator().manual_seed(s["seed"] + 1)
    start, step = time.perf_counter(), 0
    bar = tqdm(range(s["steps"]), desc="DCGAN", mininterval=10)
    for step in bar:
        for opt in (opt_g, opt_d):   # constant learning rate for the first half, then linear decay to 0
            opt.param_groups[0]["lr"] = s["lr"] * min(1.0, 2 * (1 - step / s["steps"]))
        real = x[torch.randint(len(x), (s["batch_size"],), generator=data_g).to(device)]
        r = gan_step(G, D, real, opt_g, opt_d, generator=noise_g)
        if (step + 1) % args.eval_every == 0:
            print(f"step {step + 1}: {time.perf_counter() - start:.0f} s, D loss {r.d_loss:.3f}, G loss {r.g_loss:.3f}, "
                  f"FID {fid_now(G):.1f} (floor {floor:.1f})", flush=True)
        if time.perf_counter() - start > 60 * s["minutes"]:
            print(f"time budget of {s['minutes']} minutes reached after {step + 1} steps", flush=True)
            break
    seconds = time.perf_counter() - start
    s["steps_played"] = step + 1
    G.eval()
    score = fid_now(G)
    print(f"DCGAN: {s['steps_played']} steps in {seconds:.0f} s; FID {score:.2f} against the training set "
          f"(real floor: validation images {floor:.2f})", flush=True)
    if args.no_register:
        return
    path = checkpoint_dir() / "dcgan_mnist.pt"
    save_weights(G, path)
    register("dcgan_mnist", path, script="scripts/train_gan.py", settings=s,
             metric={"name": "fid", "value": round(score, 2), "n_samples": 1000, "reference": "train", "sample_seed": 1234},
             real_floor_fid=round(floor, 2), train_seconds=round(seconds, 1), device=str(device),
             torch=torch.__version__, params=sum(p.numel() for p in G.parameters()))


if __name__ == "__main__":
    main()
