"""Train the shipped DCGAN on MNIST within a time budget; ships checkpoints/dcgan_mnist.pt (the generator).

    OMP_NUM_THREADS=1 python scripts/train_gan.py                 # cpu-small: the settings' minutes on one thread
    python scripts/train_gan.py --minutes 5 --no-register        # a quick trial that ships nothing
    python scripts/train_gan.py --scale gpu-full                  # a wider model, on a GPU

The course's one loop (genlib.train.train) plays gan.gan_step rounds: Adam (beta1 = 0.5) at the settings'
learning rate for the first half of the budget, then decaying linearly to 0, with an exponential moving average
(EMA) of the generator's weights, which is what ships (unless the raw generator scores better at the end). Its
state is saved to build/ every few minutes (a --no-register trial uses its own file), and a
rerun after a crash resumes. Every --eval-every steps it records the training curve: both losses, D's mean
output on real and fake batches, the FID of 1,000 samples of the EMA generator (and of the raw one), and D's mean
output on 1,000 training digits and on the 1,000 validation digits (the shipped run's curve predates those two;
benchmarks/results/gan_variants.md has them from its saved states).
Metric: FID of 1,000 generator samples against the 9,000 training images, on the shipped MNIST classifier's
features (genlib.metrics.fid); the real floor (the 1,000 validation images against the same statistics) is
recorded beside it, with the training seconds, the steps played and the curve.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genlib import metrics  # noqa: E402
from genlib.checkpoints import checkpoint_dir, register, save_weights  # noqa: E402
from genlib.data import load_mnist  # noqa: E402
from genlib.device import get_device, scale, seed_everything  # noqa: E402
from genlib.image.gan import Discriminator, Generator, adam_pair, gan_step  # noqa: E402
from genlib.train import EMA, train  # noqa: E402

SETTINGS = {
    "cpu-small": {"latent_dim": 64, "g_width": 64, "d_width": 32, "batch_size": 64, "lr": 2e-3, "ema_decay": 0.999,
                  "minutes": 60.0},
    "gpu-full": {"latent_dim": 64, "g_width": 256, "d_width": 64, "batch_size": 128, "lr": 2e-4, "ema_decay": 0.999,
                 "minutes": 30.0},
}
MAX_MINUTES = 120
STATE_DIR = Path(__file__).resolve().parents[1] / "build"  # resumable training state (ignored by git)
FID_N, FID_SEED = 1000, 1234


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("cpu-small", "gpu-full"), default=None, help="default: genlib.device.scale()")
    parser.add_argument("--minutes", type=float, default=None, help="training budget in minutes (default: the scale's)")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps if the time lasts")
    parser.add_argument("--eval-every", type=int, default=1000, help="record the curve every this many steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-register", action="store_true", help="train and report, but ship nothing")
    args = parser.parse_args()
    s = dict(SETTINGS[args.scale or scale()], seed=args.seed)
    if args.minutes is not None:
        s["minutes"] = args.minutes
    if not 0 < s["minutes"] <= MAX_MINUTES:
        raise SystemExit(f"--minutes must lie in (0, {MAX_MINUTES}], got {s['minutes']}")

    seed_everything(s["seed"])
    device = get_device()
    x = (load_mnist("train")[0] * 2 - 1).to(device)          # the GAN works in [-1, 1]
    classifier = metrics.load_fid_classifier(device)
    train_stats = metrics.feature_stats(metrics.classifier_features((x + 1) / 2, classifier))
    floor = metrics.fid(load_mnist("val")[0].to(device), train_stats, classifier)

    def fid_of(G: nn.Module) -> float:
        return metrics.fid(G.sample(FID_N, generator=torch.Generator().manual_seed(FID_SEED)), train_stats, classifier)

    G = Generator(s["latent_dim"], s["g_width"]).to(device)
    D = Discriminator(s["d_width"]).to(device)
    pair = nn.ModuleDict({"G": G, "D": D})
    ema = EMA(pair, s["ema_decay"])         # D's average is kept too (the loop averages the model it trains)
    opt_g, opt_d = adam_pair(G, D, lr=s["lr"])
    data_g, noise_g = torch.Generator().manual_seed(s["seed"]), torch.Generator().manual_seed(s["seed"] + 1)

    def batch() -> torch.Tensor:
        return x[torch.randint(len(x), (s["batch_size"],), generator=data_g).to(device)]

    window: dict[str, list[float]] = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}

    def step_fn(_: nn.Module, real: torch.Tensor) -> dict[str, float]:
        r = gan_step(G, D, real, opt_g, opt_d, generator=noise_g)
        for k, v in r._asdict().items():
            window[k].append(v)
        return {"loss": r.d_loss, "g_loss": r.g_loss, "d_real": r.d_real, "d_fake": r.d_fake}

    x_seen, x_unseen = x[:1000], (load_mnist("val")[0] * 2 - 1).to(device)

    def d_mean(images: torch.Tensor) -> float:
        """D's mean probability 'real' over batches as in training (batch norm on each batch, no running stats)."""
        D.train()
        out = torch.cat([torch.sigmoid(D(images[i:i + s["batch_size"]]))
                         for i in range(0, len(images) - s["batch_size"] + 1, s["batch_size"])])
        D.eval()
        return out.mean().item()

    def curve_point(_: nn.Module) -> dict[str, float]:
        """The means of each number since the last point, the FID of the EMA and of the raw generator now, and D's
        output on training digits it has seen against validation digits it has not (the gap: D memorizing)."""
        point = {k: sum(v) / max(1, len(v)) for k, v in window.items()}
        point.update(fid_ema=fid_of(ema.model["G"]), fid_raw=fid_of(G), d_train=d_mean(x_seen), d_val=d_mean(x_unseen))
        for v in window.values():
            v.clear()
        print(", ".join(f"{k} {v:.3f}" for k, v in point.items()), flush=True)
        return point

    history = train(pair, None, batch, steps=args.steps, seconds=60 * s["minutes"], optimizer=[opt_g, opt_d],
                    lr_schedule=lambda p: min(1.0, 2 * (1 - p)), step_fn=step_fn, ema=ema, eval_fn=curve_point,
                    eval_every=args.eval_every, state_every=180,
                    state_path=STATE_DIR / f"dcgan_mnist{'.trial' if args.no_register else ''}.state.pt",
                    rng=data_g, desc="DCGAN")
    s["steps_played"] = len(history.steps)
    scores = {"ema": fid_of(ema.model["G"]), "raw": fid_of(G)}
    s["shipped"] = min(scores, key=scores.get)     # the averaged generator, unless the raw one scores better
    shipped = ema.model["G"] if s["shipped"] == "ema" else G
    score = scores[s["shipped"]]
    print(f"DCGAN: {s['steps_played']} steps in {history.seconds:.0f} s; FID {scores['ema']:.2f} (EMA generator), "
          f"{scores['raw']:.2f} (raw) against the training set (real floor: validation images {floor:.2f})", flush=True)
    if args.no_register:
        return
    path = checkpoint_dir() / "dcgan_mnist.pt"
    save_weights(shipped, path)
    curve = {"step": [i + 1 for i in history.eval_steps],
             **{k: [round(e[k], 4) for e in history.evals] for k in history.evals[0]}}
    register("dcgan_mnist", path, script="scripts/train_gan.py", settings=s,
             metric={"name": "fid", "value": round(score, 2), "n_samples": FID_N, "reference": "train",
                     "sample_seed": FID_SEED},
             real_floor_fid=round(floor, 2), train_seconds=round(history.seconds, 1), device=str(device),
             torch=torch.__version__, params=sum(p.numel() for p in shipped.parameters()), curve=curve)


if __name__ == "__main__":
    main()
