"""Latent diffusion's codec: the VQ-VAE's latent grid scaled for the denoiser, decoding with and without snapping."""
import pytest
import torch

from genlib.data import load_mnist
from genlib.diffusion.latent import VQLatents, load_vq_latents
from genlib.image.vae import VQVAE


def test_encode_scales_the_quantized_vectors_and_decode_undoes_it():
    codec = load_vq_latents(0.4)
    x = load_mnist("val")[0][:16]
    z = codec.encode(x)
    assert z.shape == (16, *codec.shape) == (16, 16, 7, 7)
    with torch.no_grad():
        reference = torch.sigmoid(codec.vqvae(x)[0])       # the VQ-VAE's own reconstruction
    torch.testing.assert_close(codec.decode(z), reference)
    torch.testing.assert_close(codec.decode(z, snap=False), reference)  # encoded latents already are codebook vectors
    q = codec.vqvae.quantizer
    torch.testing.assert_close(q.lookup(q.nearest(z / 0.4)), z / 0.4)  # every latent vector is a codebook entry


def test_snapping_moves_a_nudged_latent_back_onto_the_codebook():
    codec = load_vq_latents(0.4)
    z = codec.encode(load_mnist("val")[0][:8])
    nudged = z + 0.005 * torch.randn(z.shape, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(codec.decode(nudged, snap=True), codec.decode(z))
    assert not torch.allclose(codec.decode(nudged, snap=False), codec.decode(z))


def test_latent_codec_errors_name_the_fix():
    with pytest.raises(ValueError, match="scale must be > 0"):
        VQLatents(VQVAE(), 0.0)
    codec = VQLatents(VQVAE(), 1.0)
    with pytest.raises(ValueError, match=r"MNIST images \[N, 1, 28, 28\]"):
        codec.encode(torch.zeros(2, 3, 28, 28))
    with pytest.raises(ValueError, match=r"latents \[N, 16, 7, 7\]"):
        codec.decode(torch.zeros(2, 4, 7, 7))


def test_encoder_latents_are_the_outputs_before_snapping_and_snapping_decodes_them_like_the_vqvae():
    codec = load_vq_latents(0.4, quantized=False)
    x = load_mnist("val")[0][:16]
    z = codec.encode(x)
    with torch.no_grad():
        torch.testing.assert_close(z, codec.vqvae.encoder(x) * 0.4)
        reference = torch.sigmoid(codec.vqvae(x)[0])
    q = codec.vqvae.quantizer
    assert not torch.allclose(q.lookup(q.nearest(z / 0.4)), z / 0.4)      # not on the codebook before snapping
    torch.testing.assert_close(codec.decode(z, snap=True), reference)     # the quantizer is the decoder's first step


class _ZeroEps(torch.nn.Module):
    """A noise predictor that always says 'no noise': a deterministic stand-in for a trained denoiser."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t):
        return torch.zeros_like(x) * self.w


def test_latent_samples_are_seeded_batched_and_decoded():
    from genlib.diffusion import alphas_cumprod, linear_betas
    from genlib.diffusion.latent import latent_samples
    codec, ab = load_vq_latents(0.4), alphas_cumprod(linear_betas(1000))
    a = latent_samples(_ZeroEps(), ab, codec, 5, steps=3, seed=1, batch=2)
    b = latent_samples(_ZeroEps(), ab, codec, 5, steps=3, seed=1, batch=5)
    assert a.shape == (5, 1, 28, 28) and 0 <= a.min() and a.max() <= 1
    torch.testing.assert_close(a, b)                                       # batching does not change the samples
    assert not torch.allclose(a, latent_samples(_ZeroEps(), ab, codec, 5, steps=3, seed=2))


def test_the_shipped_latent_model_denoises_held_out_latents_and_its_manifest_holds_the_notebooks_claims():
    from genlib.diffusion.latent import load_latent_mnist
    model, ab, codec, entry = load_latent_mnist("cpu")
    assert not codec.quantized and codec.scale == entry["settings"]["latent_scale"]
    z0 = codec.encode(load_mnist("val")[0][:64])                    # validation digits: never trained on
    g = torch.Generator().manual_seed(0)
    eps = torch.randn(z0.shape, generator=g)
    t = 300                                                          # sigma about 0.7: more noise than signal
    a = ab[t].float()
    zt = a.sqrt() * z0 + (1 - a).sqrt() * eps
    with torch.no_grad():
        x0_hat = (zt - (1 - a).sqrt() * model(zt, t)) / a.sqrt()
    assert (x0_hat - z0).pow(2).mean() < 0.25 * z0.var()              # far better than guessing the mean
    m = entry["metric"]
    assert m["reconstruction_val_nosnap"] < m["reconstruction_val"] and m["latent_20_nosnap"] < m["latent_20"]
    assert m["real_floor_val"] < m["reconstruction_val_nosnap"] < m["value"] == m["latent_20_nosnap"]
