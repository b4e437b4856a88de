"""Autoencoder, VAE, VQ-VAE: ELBO terms vs closed forms, importance sampling vs quadrature, the shipped weights."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal

from genlib.checkpoints import load_checkpoint
from genlib.data import load_mnist
from genlib.image import vae as V


def test_kl_matches_closed_form_and_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    reference = torch.distributions.kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(V.kl_divergence(mu, logvar), reference)
    z = V.reparameterize(mu.expand(50_000, 4, 3), logvar.expand(50_000, 4, 3), generator=g)
    monte_carlo = (V.gaussian_log_prob(z, mu, logvar) - V.gaussian_log_prob(z)).mean(0)  # E_q[log q - log p]
    torch.testing.assert_close(monte_carlo, reference, atol=0.05, rtol=0)
    assert V.kl_divergence(torch.zeros(2, 5), torch.zeros(2, 5)).abs().max() == 0  # q = prior


def test_log_densities_match_torch_distributions():
    g = torch.Generator().manual_seed(1)
    z, mu, logvar = (torch.randn(6, 4, generator=g) for _ in range(3))
    torch.testing.assert_close(V.gaussian_log_prob(z, mu, logvar), Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1))
    torch.testing.assert_close(V.gaussian_log_prob(z), Normal(0.0, 1.0).log_prob(z).sum(-1))
    logits, x = torch.randn(3, 1, 28, 28, generator=g), torch.rand(3, 1, 28, 28, generator=g)
    p = torch.sigmoid(logits)
    expected = (x * p.log() + (1 - x) * (1 - p).log()).sum((1, 2, 3))
    torch.testing.assert_close(V.bernoulli_log_likelihood(logits, x), expected)


def test_reparameterization_sends_gradients_to_mu_and_logvar():
    mu = torch.tensor([[0.5, -1.0]], requires_grad=True)
    logvar = torch.tensor([[0.2, -0.4]], requires_grad=True)
    eps = torch.tensor([[1.5, -0.3]])
    z = V.reparameterize(mu, logvar, eps)
    torch.testing.assert_close(z, mu + (0.5 * logvar).exp() * eps)
    z.sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))                          # dz/dmu = 1
    torch.testing.assert_close(logvar.grad, 0.5 * (0.5 * logvar.detach()).exp() * eps)  # dz/dlogvar = sigma eps / 2


def test_elbo_terms_and_loss():
    torch.manual_seed(0)
    model = V.VAE(latent_dim=3, hidden=16)
    x = torch.rand(5, 1, 28, 28)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    terms = V.elbo(model, x, generator=g1)
    logits, mu, logvar = model(x, generator=g2)
    torch.testing.assert_close(terms.reconstruction, V.bernoulli_log_likelihood(logits, x))
    torch.testing.assert_close(terms.elbo, terms.reconstruction - V.kl_divergence(mu, logvar))
    assert model.sample(4).shape == (4, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\[N, 1, 28, 28\]"):
        V.elbo(model, x.view(5, 784))
    with pytest.raises(ValueError, match=r"k must be >= 1"):
        V.importance_sampled_nll(model, x, k=0)


def _one_dim_vae():
    """A 1-D latent VAE whose decoder depends on z gently (so log p(x) is a 1-D integral we can do on a grid) and
    whose encoder is off-centre by 1.5 (so q(z|x) is not the posterior and the ELBO has a visible gap)."""
    torch.manual_seed(3)
    model = V.VAE(latent_dim=1, hidden=8)
    with torch.no_grad():
        model.decoder[-1].weight.mul_(0.2)
        model.encoder[-1].bias[0] += 1.5
    return model.eval()


@torch.no_grad()
def _log_px_by_quadrature(model, x):
    zs = torch.linspace(-8, 8, 1601, dtype=torch.float64)[:, None]
    logits = model.decode(zs.float())
    log_px_z = torch.stack([V.bernoulli_log_likelihood(logits, xi.expand(len(zs), 1, 28, 28)) for xi in x])
    log_joint = log_px_z.double() + Normal(0.0, 1.0).log_prob(zs[:, 0])
    return torch.logsumexp(log_joint, 1) + math.log(zs[1, 0] - zs[0, 0])


def test_importance_sampling_matches_quadrature_and_bounds_the_elbo():
    model = _one_dim_vae()
    x = load_mnist("val")[0][:20]
    exact = _log_px_by_quadrature(model, x)
    g = torch.Generator().manual_seed(0)
    is_k = {k: -V.importance_sampled_nll(model, x, k=k, generator=g).double() for k in (1, 10, 100, 2000)}
    with torch.no_grad():
        elbo = V.elbo(model, x.repeat(200, 1, 1, 1), generator=g).elbo.view(200, -1).mean(0).double()
    err = is_k[2000] - exact
    assert err.abs().max() < 0.15 and err.mean().abs() < 0.05, err
    assert (elbo < exact - 0.1).all()                      # Jensen: the ELBO is a lower bound on log p(x)
    means = [is_k[k].mean().item() for k in (1, 10, 100)]
    assert means[0] < means[1] < means[2] < exact.mean().item() + 0.05   # more samples, tighter bound


def test_importance_sampling_is_exact_when_q_is_the_posterior():
    # decoder ignores z and encoder outputs the prior: the true posterior is the prior, every weight equals p(x)
    model = V.VAE(latent_dim=2, hidden=8)
    with torch.no_grad():
        for layer in (model.encoder[-1], model.decoder[-1]):
            layer.weight.zero_()
            layer.bias.zero_()
        model.decoder[-1].bias.fill_(-1.0)
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    exact = -V.bernoulli_log_likelihood(torch.full_like(x, -1.0), x)
    torch.testing.assert_close(V.importance_sampled_nll(model, x, k=7), exact)


def test_vector_quantizer_picks_nearest_code_and_passes_gradients_straight_through():
    torch.manual_seed(0)
    vq = V.VectorQuantizer(num_codes=10, dim=4).eval()   # eval: no codebook upkeep (tested below)
    with torch.no_grad():
        vq.codebook.weight.normal_()
    encoder = torch.nn.Conv2d(3, 4, 1)
    z_e = encoder(torch.randn(2, 3, 5, 5))
    z_q, loss, codes = vq(z_e)
    flat = z_e.detach().movedim(1, -1).reshape(-1, 4)
    torch.testing.assert_close(codes.flatten(), torch.cdist(flat, vq.codebook.weight).argmin(1))   # brute force
    torch.testing.assert_close(z_q.detach().movedim(1, -1).reshape(-1, 4), vq.codebook.weight[codes.flatten()].detach())
    expected = (1 + vq.beta) * F.mse_loss(z_q.detach(), z_e.detach())
    torch.testing.assert_close(loss.detach(), expected)
    target = torch.randn_like(z_q)
    (z_q * target).sum().backward()                       # a loss on the quantized output only
    assert encoder.weight.grad is not None and encoder.weight.grad.abs().sum() > 0
    z_e2 = z_e.detach().requires_grad_(True)
    (vq(z_e2)[0] * target).sum().backward()
    torch.testing.assert_close(z_e2.grad, target)          # identity gradient: d z_q / d z_e = I
    torch.testing.assert_close(vq.lookup(codes), z_q.detach())
    with pytest.raises(ValueError, match=r"\[B, 4, \.\.\.\]"):
        vq(torch.randn(2, 3, 5, 5))


def test_perplexity_and_usage():
    assert V.perplexity(torch.arange(8).repeat(5), 8) == pytest.approx(8.0)
    assert V.perplexity(torch.zeros(20, dtype=torch.long), 8) == pytest.approx(1.0)
    expected = torch.tensor([0.5, 0.25, 0, 0.25], dtype=torch.float64)
    torch.testing.assert_close(V.codebook_usage(torch.tensor([0, 0, 1, 3]), 4), expected)


def test_vqvae_shapes_and_loss():
    model = V.VQVAE(num_codes=16, code_dim=4, width=8)
    x = torch.rand(3, 1, 28, 28)
    logits, vq_loss, codes = model(x)
    assert logits.shape == x.shape and codes.shape == (3, 7, 7) and codes.max() < 16
    torch.testing.assert_close(model.decode_codes(model.encode(x)), logits)
    expected = -V.bernoulli_log_likelihood(logits, x).mean() + vq_loss * 49 * 4
    torch.testing.assert_close(V.vqvae_loss(model, x), expected)


def test_autoencoder_loss_is_binary_cross_entropy_in_nats():
    model = V.Autoencoder(latent_dim=4, hidden=16)
    x = torch.rand(3, 1, 28, 28)
    assert model.encode(x).shape == (3, 4)
    bce = F.binary_cross_entropy(torch.sigmoid(model(x)), x, reduction="sum") / 3
    torch.testing.assert_close(V.autoencoder_loss(model, x), bce, rtol=1e-4, atol=1e-3)


# ---- shipped checkpoints ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def x_val():
    return load_mnist("val")[0]


def test_shipped_vae_reaches_its_stated_nll(x_val):
    model = V.VAE()
    entry = load_checkpoint("mnist_vae", model)  # checks the sha256
    model.eval()
    g = torch.Generator().manual_seed(0)
    quick = V.importance_sampled_nll(model, x_val[::2], k=25, generator=g).mean().item()
    stated = entry["metric"]["value"]
    # fewer samples bias the estimate up (on average, ~0.5 nat at k=25); half the images adds ~0.3 nat of noise
    assert stated - 1.0 < quick < stated + 2.0, (quick, stated)
    with torch.no_grad():
        elbo = V.elbo(model, x_val[::2], generator=g).elbo.mean().item()
    assert elbo < -quick + 1.0 and elbo == pytest.approx(entry["val_elbo_nats"], abs=3.0)


def test_shipped_vqvae_reaches_its_stated_reconstruction(x_val):
    model = V.VQVAE()
    entry = load_checkpoint("mnist_vqvae", model)
    model.eval()
    with torch.no_grad():
        logits, _, codes = model(x_val)
    rec = -V.bernoulli_log_likelihood(logits, x_val).mean().item()
    assert rec == pytest.approx(entry["metric"]["value"], abs=0.05)
    assert V.perplexity(codes, model.quantizer.num_codes) == pytest.approx(entry["codebook_perplexity"], abs=0.05)


def test_codebook_starts_at_encoder_outputs_and_restarts_unused_codes():
    torch.manual_seed(0)
    vq = V.VectorQuantizer(num_codes=8, dim=2)
    data = torch.randn(4, 2, 10) + 5.0                     # far from the tiny initial codebook
    vq.eval()
    vq(data)
    assert not vq.initialized and vq.codebook.weight.abs().max() < 1   # eval mode never touches the codebook
    vq.train()
    vq(data)
    flat = data.movedim(1, -1).reshape(-1, 2)
    assert vq.initialized and torch.cdist(vq.codebook.weight.detach(), flat).min(1).values.max() < 1e-6
    with torch.no_grad():
        vq.codebook.weight[0] = torch.tensor([100.0, 100.0])            # a code no vector will ever pick
    for _ in range(400):
        vq(data)
    assert torch.cdist(vq.codebook.weight[:1].detach(), flat).min() < 1e-6   # restarted onto an encoder output
    fresh = V.VectorQuantizer(num_codes=8, dim=2)
    fresh.load_state_dict(vq.state_dict())
    before = fresh.codebook.weight.detach().clone()
    fresh.train()(data)
    assert fresh.initialized and torch.equal(fresh.codebook.weight.detach(), before)  # a loaded codebook is kept
