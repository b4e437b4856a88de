"""Latent diffusion (Rombach et al. 2022): run the denoiser on an autoencoder's small latent grid, not on pixels.

Notebook 17 uses notebook 11's VQ-VAE: a digit becomes a 16 x 7 x 7 grid of codebook vectors (16 times fewer
positions than 28 x 28 pixels). `VQLatents` turns images into those vectors, scaled to the spread the EDM
denoiser expects, and turns denoised latents back into images, optionally snapping each vector to its nearest
codebook entry first (the decoder only ever saw codebook vectors). With quantized=False the latents are the
encoder's outputs before snapping, as in Rombach et al.'s VQ models: the quantizer becomes the decoder's first step.
"""
from __future__ import annotations

import torch
from torch import nn

from genlib.image.vae import VQVAE

Tensor = torch.Tensor
NAME, AUTOENCODER = "latent_mnist", "mnist_vqvae"


class VQLatents(nn.Module):
    """Images [N, 1, 28, 28] in [0, 1] <-> scaled latents [N, code_dim, 7, 7] through a trained VQ-VAE."""

    def __init__(self, vqvae: VQVAE, scale: float, quantized: bool = True):
        super().__init__()
        if not scale > 0:
            raise ValueError(f"scale must be > 0 (the factor that gives the latents the denoiser's spread), got {scale}")
        self.vqvae, self.scale = vqvae.eval().requires_grad_(False), float(scale)
        self.quantized = bool(quantized)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.vqvae.quantizer.dim, 7, 7)

    @torch.no_grad()
    def encode(self, images: Tensor) -> Tensor:
        """The latent vectors of images (quantized, or the encoder's before snapping), times `scale`."""
        if images.dim() != 4 or images.shape[1:] != (1, 28, 28):
            raise ValueError(f"encode takes MNIST images [N, 1, 28, 28] in [0, 1], got {tuple(images.shape)}")
        z = self.vqvae.encoder(images)
        if self.quantized:
            z = self.vqvae.quantizer.lookup(self.vqvae.quantizer.nearest(z))
        return z * self.scale

    @torch.no_grad()
    def decode(self, latents: Tensor, snap: bool = True) -> Tensor:
        """Images in [0, 1] from scaled latents; snap=True replaces each vector by its nearest codebook entry."""
        if latents.dim() != 4 or tuple(latents.shape[1:]) != self.shape:
            raise ValueError(f"decode takes latents [N, {', '.join(map(str, self.shape))}], got {tuple(latents.shape)}")
        z = latents / self.scale
        if snap:
            z = self.vqvae.quantizer.lookup(self.vqvae.quantizer.nearest(z))
        return torch.sigmoid(self.vqvae.decoder(z))


def latent_samples(model: nn.Module, alphas_cumprod: Tensor, codec: VQLatents, n: int, steps: int = 20,
                   snap: bool = True, seed: int = 0, batch: int = 250, sampler: str = "dpmpp_2m") -> Tensor:
    """n images in [0, 1] (on the CPU): latents sampled from noise of `seed` with `sampler` (Karras steps), decoded.
    The pixel models' sample_images loop, with the latent's shape and the codec's decoder."""
    from genlib.diffusion.ddpm import sample_images
    return sample_images(model, alphas_cumprod, n, sampler, steps, karras=True, seed=seed, batch_size=batch,
                         image_shape=codec.shape, progress=False, decode=lambda z: codec.decode(z, snap=snap))[0]


def load_vq_latents(scale: float, device: torch.device | str = "cpu", quantized: bool = True) -> VQLatents:
    """The shipped VQ-VAE of notebook 11 (mnist_vqvae) as a latent codec with the given scale."""
    from genlib.checkpoints import load_checkpoint, read_manifest
    entry = read_manifest().get(AUTOENCODER)
    if entry is None:
        raise KeyError(f"no checkpoint {AUTOENCODER!r} in checkpoints/manifest.json: train it with "
                       "`python scripts/train_vae.py --which vqvae`")
    s = entry["settings"]
    vq = VQVAE(num_codes=s["num_codes"], code_dim=s["code_dim"], width=s["width"], beta=s["beta"]).to(device)
    load_checkpoint(AUTOENCODER, vq)
    return VQLatents(vq, scale, quantized)


def load_latent_mnist(device: torch.device | str | None = None) -> tuple[nn.Module, Tensor, VQLatents, dict]:
    """The shipped latent denoiser as a noise predictor (hash-checked, eval mode), its schedule's alphas_cumprod,
    the latent codec it was trained with, and its manifest entry."""
    from genlib.checkpoints import load_checkpoint, read_manifest
    from genlib.device import get_device
    from genlib.diffusion.edm import EpsFromEDM
    from genlib.diffusion.schedules import alphas_cumprod, linear_betas
    from genlib.image.unet import UNet
    entry = read_manifest().get(NAME)
    if entry is None:
        raise KeyError(f"no checkpoint {NAME!r} in checkpoints/manifest.json: train it with "
                       "`python scripts/train_latent.py` (60 minutes on one CPU core)")
    device = get_device(device) if device is None or isinstance(device, str) else device
    s = entry["settings"]
    net = UNet(s["model"]).to(device)
    load_checkpoint(NAME, net)
    ab = alphas_cumprod(linear_betas(s["timesteps"]))
    model = EpsFromEDM(net, ab, s["sigma_data"]).eval().requires_grad_(False)
    return model, ab, load_vq_latents(s["latent_scale"], device, s.get("latents", "quantized") == "quantized"), entry
