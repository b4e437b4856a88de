"""Why the old shipped DCGAN stopped at FID 627: train variants of its recipe for the same number of steps and score each.

    OMP_NUM_THREADS=1 python benchmarks/gan_variants.py --name base --steps 1500
    OMP_NUM_THREADS=1 python benchmarks/gan_variants.py --name ema --ema 0.999 --steps 1500

Each run appends one row (what changed, steps, minutes, FID at N=1,000 on the course's classifier features, and
the FID along the way) to build/gan_variants.jsonl; --table prints them all as markdown. The variants change one
thing at a time from the old shipped recipe (lr 5e-4, generator width 64, discriminator width 32, batch 64).
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from genlib import metrics  # noqa: E402
from genlib.data import load_mnist  # noqa: E402
from genlib.image import gan  # noqa: E402

LOG = ROOT / "build" / "gan_variants.jsonl"


class Disc(nn.Module):
    """The old shipped discriminator with optional BatchNorm after the second conv (as genlib's has now), spectral
    norm, and a third conv."""

    def __init__(self, width: int, bn: bool = False, sn: bool = False, deep: bool = False):
        super().__init__()
        w = width
        wrap = nn.utils.parametrizations.spectral_norm if sn else (lambda m: m)
        layers: list[nn.Module] = [wrap(nn.Conv2d(1, w, 4, 2, 1)), nn.LeakyReLU(0.2),
                                   wrap(nn.Conv2d(w, 2 * w, 4, 2, 1))]
        if bn:
            layers.append(nn.BatchNorm2d(2 * w))
        layers.append(nn.LeakyReLU(0.2))
        if deep:
            layers += [wrap(nn.Conv2d(2 * w, 2 * w, 3, 1, 1)), nn.LeakyReLU(0.2)]
        layers += [nn.Flatten(), wrap(nn.Linear(2 * w * 7 * 7, 1))]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


class Gen(gan.Generator):
    """The old shipped generator (two transposed convs, the second straight to pixels) or, with deep=True, the new
    genlib.image.gan.Generator (a third upsampling layer at 28 x 28, then a 3x3 conv to the pixels)."""

    def __init__(self, latent_dim: int, width: int, deep: bool = False):
        super().__init__(latent_dim, width)
        if not deep:
            w = width
            self.net = nn.Sequential(
                nn.Linear(latent_dim, w * 7 * 7, bias=False), nn.Unflatten(1, (w, 7, 7)), nn.BatchNorm2d(w), nn.ReLU(),
                nn.ConvTranspose2d(w, w // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(w // 2), nn.ReLU(),  # 7 -> 14
                nn.ConvTranspose2d(w // 2, 1, 4, 2, 1), nn.Tanh())                                    # 14 -> 28


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--minutes", type=float, default=1e9)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--lr-d", type=float, default=None, help="D's learning rate (default: --lr)")
    p.add_argument("--beta1", type=float, default=0.5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--g-width", type=int, default=64)
    p.add_argument("--d-width", type=int, default=32)
    p.add_argument("--latent", type=int, default=64)
    p.add_argument("--d-bn", action="store_true")
    p.add_argument("--sn", action="store_true")
    p.add_argument("--d-deep", action="store_true")
    p.add_argument("--g-deep", action="store_true")
    p.add_argument("--loss", choices=("bce", "hinge"), default="bce")
    p.add_argument("--smooth", type=float, default=1.0, help="one-sided label smoothing: D's target for real")
    p.add_argument("--ema", type=float, default=0.0, help="EMA decay of G's weights (0: none)")
    p.add_argument("--decay", choices=("none", "half", "linear"), default="half",
                   help="lr schedule: constant, constant then linear decay over the second half, linear from 0")
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--table", action="store_true", help="print build/gan_variants.jsonl as markdown and exit")
    a = p.parse_args()
    if a.table:
        print("| variant | what changed (from the old recipe) | steps | minutes | FID at step 1000 | FID at 2000 "
              "(N=1000) | D(real) / D(fake) at the end |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for line in LOG.read_text().splitlines():
            r = json.loads(line)
            at = {c[0]: c for c in r["curve"]}
            end = r["curve"][-1]
            print(f"| {r['name']} | {r['changed'].replace('--steps 2000', '').strip() or 'nothing (the old recipe)'} | "
                  f"{r['steps']} | {r['minutes']:.1f} | {at[1000][1]:.1f} | {r['fid']:.1f} | "
                  f"{end[2]:.2f} / {end[3]:.2f} |")
        return

    torch.manual_seed(a.seed)
    x = load_mnist("train")[0] * 2 - 1
    clf = metrics.load_fid_classifier("cpu")
    stats = metrics.feature_stats(metrics.classifier_features((x + 1) / 2, clf))
    G = Gen(a.latent, a.g_width, a.g_deep)
    D = Disc(a.d_width, a.d_bn, a.sn, a.d_deep)
    G_ema = copy.deepcopy(G).eval() if a.ema else None
    lr_d = a.lr_d or a.lr
    opt_g = torch.optim.Adam(G.parameters(), lr=a.lr, betas=(a.beta1, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(a.beta1, 0.999))
    data_g, noise_g = torch.Generator().manual_seed(a.seed), torch.Generator().manual_seed(a.seed + 1)

    def d_loss_fn(r: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        if a.loss == "hinge":
            return F.relu(1 - r).mean() + F.relu(1 + f).mean()
        return F.binary_cross_entropy_with_logits(r, torch.full_like(r, a.smooth)) + F.softplus(f).mean()

    def g_loss_fn(f: torch.Tensor) -> torch.Tensor:
        return -f.mean() if a.loss == "hinge" else F.softplus(-f).mean()

    def fid_now() -> float:
        net = G_ema if G_ema is not None else G
        return metrics.fid(net.sample(1000, generator=torch.Generator().manual_seed(1234)), stats, clf)

    curve, start, step = [], time.perf_counter(), 0
    G.train(), D.train()
    for step in range(a.steps):
        progress = step / a.steps
        mult = {"none": 1.0, "half": min(1.0, 2 * (1 - progress)), "linear": 1 - progress}[a.decay]
        opt_g.param_groups[0]["lr"], opt_d.param_groups[0]["lr"] = a.lr * mult, lr_d * mult
        real = x[torch.randint(len(x), (a.batch,), generator=data_g)]
        fake = G(torch.randn(a.batch, a.latent, generator=noise_g))
        rl, fl = D(real), D(fake.detach())
        d_loss = d_loss_fn(rl, fl)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        fake = G(torch.randn(a.batch, a.latent, generator=noise_g))
        D.requires_grad_(False)
        g_loss = g_loss_fn(D(fake))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        D.requires_grad_(True)
        opt_g.step()
        if G_ema is not None:
            with torch.no_grad():
                d = min(a.ema, (1 + step) / (10 + step))
                for pe, pg in zip(G_ema.state_dict().values(), G.state_dict().values()):
                    pe.lerp_(pg, 1 - d) if pe.is_floating_point() else pe.copy_(pg)
        if (step + 1) % a.eval_every == 0:
            score = fid_now()
            G.train()
            curve.append([step + 1, round(score, 1), round(torch.sigmoid(rl).mean().item(), 3),
                          round(torch.sigmoid(fl).mean().item(), 3)])
            print(f"{a.name} step {step + 1} {time.perf_counter() - start:.0f}s D {d_loss.item():.3f} "
                  f"G {g_loss.item():.3f} D(real) {curve[-1][2]} D(fake) {curve[-1][3]} FID {score:.1f}", flush=True)
        if time.perf_counter() - start > 60 * a.minutes:
            break
    minutes = (time.perf_counter() - start) / 60
    score = fid_now()
    changed = " ".join(arg for arg in sys.argv[1:] if not arg.startswith("--name") and arg != a.name) or "old recipe"
    row = {"name": a.name, "changed": changed, "steps": step + 1, "minutes": round(minutes, 2), "fid": round(score, 1),
           "curve": curve, "g_params": sum(q.numel() for q in G.parameters()),
           "d_params": sum(q.numel() for q in D.parameters())}
    LOG.parent.mkdir(exist_ok=True)
    with LOG.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
