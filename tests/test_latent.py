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
