"""Train the shipped VAE and VQ-VAE on MNIST; ships checkpoints/mnist_vae.pt and checkpoints/mnist_vqvae.pt.

    python scripts/train_vae.py --threads 1               # both, cpu-small: a few CPU-minutes each
    python scripts/train_vae.py --which vae               # only the VAE
    python scripts/train_vae.py --scale gpu-full          # longer runs on a GPU

VAE metric: negative log-likelihood of the 1,000 validation images in nats, importance-sampled with k
samples from q(z|x) (genlib.image.vae.importance_sampled_nll); the ELBO is recorded beside it.
VQ-VAE metric: validation reconstruction loss -log p(x | z_q) in nats per image, with codebook perplexity.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genlib.checkpoints import checkpoint_dir, register, save_weights  # noqa: E402
from genlib.data import load_mnist  # noqa: E402
from genlib.device import get_device, scale, seed_everything  # noqa: E402
from genlib.image.vae import (VAE, VQVAE, bernoulli_log_likelihood, elbo, importance_sampled_nll,  # noqa: E402
                              perplexity, vae_loss, vqvae_loss)
from genlib.train import cosine_lr, train  # noqa: E402

SETTINGS = {
    "vae": {"cpu-small": {"latent_dim": 16, "hidden": 512, "steps": 6000, "batch_size": 128, "lr": 1e-3, "nll_k": 500},
            "gpu-full": {"latent_dim": 16, "hidden": 512, "steps": 30000, "batch_size": 256, "lr": 1e-3, "nll_k": 2000}},
    "vqvae": {"cpu-small": {"num_codes": 64, "code_dim": 16, "width": 32, "beta": 0.25, "steps": 3000,
                            "batch_size": 128, "lr": 2e-3},
              "gpu-full": {"num_codes": 64, "code_dim": 16, "width": 32, "beta": 0.25, "steps": 20000,
                           "batch_size": 256, "lr": 2e-3}},
}
VAE_KEYS, VQ_KEYS = ("latent_dim", "hidden"), ("num_codes", "code_dim", "width", "beta")


def sampler(x: torch.Tensor, batch_size: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return lambda: x[torch.randint(len(x), (batch_size,), generator=g).to(x.device)]


def train_vae(s: dict, x: torch.Tensor, x_val: torch.Tensor, device: torch.device) -> None:
    model = VAE(**{k: s[k] for k in VAE_KEYS}).to(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    train(model, vae_loss, sampler(x, s["batch_size"], s["seed"]), steps=s["steps"], lr=s["lr"],
          lr_schedule=lambda p: cosine_lr(p, warmup=100 / s["steps"], min_ratio=0.05),
          eval_fn=lambda m: {"val_elbo": elbo(m, x_val).elbo.mean()}, eval_every=1000)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        val_elbo = torch.stack([elbo(model, x_val, generator=g).elbo for _ in range(10)]).mean().item()
    nll = importance_sampled_nll(model, x_val, k=s["nll_k"], generator=g).mean().item()
    print(f"VAE: {seconds:.0f} s; validation ELBO {val_elbo:.2f} nats, "
          f"importance-sampled NLL {nll:.2f} nats (k={s['nll_k']})")
    path = checkpoint_dir() / "mnist_vae.pt"
    save_weights(model, path)
    register("mnist_vae", path, script="scripts/train_vae.py", settings=s,
             metric={"name": "val_nll_nats", "value": round(nll, 2), "split": "val", "k": s["nll_k"]},
             val_elbo_nats=round(val_elbo, 2), train_seconds=round(seconds, 1), cpu_seconds=round(cpu_seconds, 1),
             device=str(device), torch=torch.__version__, params=sum(p.numel() for p in model.parameters()))


def train_vqvae(s: dict, x: torch.Tensor, x_val: torch.Tensor, device: torch.device) -> None:
    model = VQVAE(**{k: s[k] for k in VQ_KEYS}).to(device)

    def evaluate(m):
        logits, _, codes = m(x_val)
        return {"val_rec": -bernoulli_log_likelihood(logits, x_val).mean(), "perplexity": perplexity(codes, s["num_codes"])}

    start, cpu_start = time.perf_counter(), time.process_time()
    train(model, vqvae_loss, sampler(x, s["batch_size"], s["seed"]), steps=s["steps"], lr=s["lr"],
          lr_schedule=lambda p: cosine_lr(p, warmup=100 / s["steps"], min_ratio=0.05),
          eval_fn=evaluate, eval_every=500)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    model.eval()
    with torch.no_grad():
        result = evaluate(model)
    rec, ppl = float(result["val_rec"]), result["perplexity"]
    used = int(torch.bincount(model(x_val)[2].flatten(), minlength=s["num_codes"]).gt(0).sum())
    print(f"VQ-VAE: {seconds:.0f} s; validation reconstruction {rec:.2f} nats, perplexity {ppl:.1f}, "
          f"{used}/{s['num_codes']} codes used")
    path = checkpoint_dir() / "mnist_vqvae.pt"
    save_weights(model, path)
    register("mnist_vqvae", path, script="scripts/train_vae.py", settings=s,
             metric={"name": "val_reconstruction_nats", "value": round(rec, 2), "split": "val"},
             codebook_perplexity=round(ppl, 2), codes_used=used, train_seconds=round(seconds, 1),
             cpu_seconds=round(cpu_seconds, 1), device=str(device), torch=torch.__version__, params=sum(p.numel() for p in model.parameters()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--which", choices=("vae", "vqvae", "both"), default="both")
    parser.add_argument("--scale", choices=("cpu-small", "gpu-full"), default=None, help="default: genlib.device.scale()")
    parser.add_argument("--steps", type=int, default=None, help="override the number of steps (quick trials)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a busy machine)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    device = get_device()
    x = load_mnist("train")[0].to(device)
    x_val = load_mnist("val")[0].to(device)
    for which, fn in (("vae", train_vae), ("vqvae", train_vqvae)):
        if args.which in (which, "both"):
            s = dict(SETTINGS[which][args.scale or scale()], seed=args.seed)
            if args.steps:
                s["steps"] = args.steps
            fn(s, x, x_val, device)


if __name__ == "__main__":
    main()
