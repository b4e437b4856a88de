# %% [markdown]
# # 11 · Autoencoders and VAEs
#
# **The idea:** squeeze an image through a narrow **latent** code and learn to rebuild it. A plain autoencoder
# does only that; a **variational autoencoder** (VAE, Kingma & Welling 2013) also makes the codes follow a
# simple distribution, so that decoding a *random* code gives a new digit. It is the first image model in this
# course that we can both **sample** and **score** — with a log-likelihood in nats — and its compressed latent
# space is where Stable Diffusion runs (notebook 17).
#
# **Learning objectives.** After this notebook you can
# - train an autoencoder and say why it is not, by itself, a generative model;
# - write the VAE's reparameterization trick and its loss, the ELBO = reconstruction − KL, and check both
#   against `genlib`;
# - walk the latent space: interpolate between two digits and draw the map of a 2-D latent;
# - estimate a VAE's negative log-likelihood in nats by importance sampling and see that the ELBO bounds it;
# - measure sample quality with FID computed on the course's own MNIST classifier, next to the "real floor";
# - explain the VQ-VAE: a codebook, the straight-through estimator, codebook usage — images as tokens.
#
# **Prerequisites.** Notebooks 01–02 (sampling, log-likelihood, the training loop); the normal distribution.
# The KL divergence is introduced here.
#
# **Estimated time.** 75 minutes; about a minute to run on a laptop CPU.

# %%
# Colab set-up: on Google Colab this fetches the course (code, data, checkpoints); elsewhere it does nothing.
import os, subprocess, sys
try:
    import google.colab  # noqa: F401  (this module exists only on Colab)
    ON_COLAB = True
except ImportError:
    ON_COLAB = False
if ON_COLAB:
    root = os.environ.get("GENLIB_COLAB_DIR", "/content/genai-from-scratch")
    if not os.path.isdir(root):
        url = os.environ.get("GENLIB_REPO_URL", "https://github.com/genai-from-scratch/genai-from-scratch.git")
        subprocess.run(["git", "clone", "--depth", "1", url, root], check=True)
    sys.path.insert(0, root)  # Colab already has torch, torchvision, matplotlib, ipywidgets and tqdm
    os.chdir(os.path.join(root, "notebooks"))

# %%
import math
import torch
import torch.nn.functional as F
import matplotlib.pyplot as plt
from genlib.device import describe, get_device, pick, seed_everything
from genlib.data import load_mnist
from genlib.train import train
from genlib.checkpoints import load_or_train, read_manifest
from genlib.image import vae as V
from genlib import metrics, viz

seed_everything(0)
device = get_device()
print(describe())
x_train, y_train = load_mnist("train")
x_val, y_val = load_mnist("val")
x_train, x_val = x_train.to(device), x_val.to(device)

def batches(seed=0, batch_size=128):
    g = torch.Generator().manual_seed(seed)
    return lambda: x_train[torch.randint(len(x_train), (batch_size,), generator=g).to(device)]


# %% [markdown]
# ## 1. An autoencoder: compress, then rebuild
#
# The encoder maps 784 pixels to 16 numbers, the decoder maps them back to 784 pixel **logits**. We read
# sigmoid(logit) as the probability that a pixel is ink and score a reconstruction by the Bernoulli
# log-likelihood log p(x | z) = Σᵢ xᵢ log pᵢ + (1 − xᵢ) log(1 − pᵢ) — minus the binary cross-entropy, in nats per
# image. (MNIST pixels are grey values in [0, 1], not 0/1; using this likelihood on them is the common choice,
# documented in `genlib/image/vae.py`.)

# %%
torch.manual_seed(0)
ae = V.Autoencoder(latent_dim=16, hidden=128).to(device)
with torch.no_grad():
    ae_before = V.autoencoder_loss(ae, x_val).item()
train(ae, V.autoencoder_loss, batches(), steps=pick(300, 3000), lr=3e-3)
with torch.no_grad():
    ae_after = V.autoencoder_loss(ae, x_val).item()
    recon = torch.sigmoid(ae(x_val[:12]))
print(f"validation reconstruction loss: {ae_before:.0f} nats per image untrained, {ae_after:.0f} after training")
assert ae_after < 0.3 * ae_before
viz.show_images(torch.cat([x_val[:12], recon]).cpu(), nrow=12, title="Autoencoder: validation digits (top), reconstructions (bottom)")
plt.show()

# %% [markdown]
# Sixteen numbers are enough to redraw digits the network never saw, a little blurred. But is this a
# generative model? To *sample* we need a code to decode. The encoder put the training codes wherever it
# liked, so we guess: draw each of the 16 numbers from a normal distribution with the same mean and spread as
# the training codes, and decode.

# %%
with torch.no_grad():
    codes = ae.encode(x_train)
    g = torch.Generator().manual_seed(0)
    z = codes.mean(0) + codes.std(0) * torch.randn(1000, 16, generator=g).to(device)
    ae_samples = torch.sigmoid(ae.decode(z))
viz.show_images(ae_samples[:24].cpu(), nrow=12, title="Autoencoder decoding random codes: not a sampler")
plt.show()


# %% [markdown]
# Some look like digits, many are blots and hybrids: the codes of real digits fill only thin, oddly shaped
# regions of the 16-D space, and a random point usually lands between them, where the decoder was never
# trained. (Section 6 puts a number on how bad these are.) The VAE fixes this by *training* the codes to fill a
# known distribution.
#
# ## 2. The variational autoencoder
#
# Three changes turn the autoencoder into a VAE:
#
# 1. **Prior.** Codes should look like draws from p(z) = N(0, I).
# 2. **Encoder gives a distribution.** For an image x it outputs a mean μ and a log-variance log σ², i.e.
#    q(z | x) = N(μ, diag σ²) — a fuzzy region of codes, not one point.
# 3. **Loss: the ELBO.** For each image maximise
#    ELBO(x) = E_{z∼q(z|x)}[log p(x | z)] − KL(q(z | x) ‖ p(z)) ≤ log p(x).
#    The first term is the autoencoder's reconstruction; the KL term (in closed form for two Gaussians:
#    ½ Σ (μ² + σ² − 1 − log σ²)) pulls every q(z | x) towards the prior, so the codes fill N(0, I) with no gaps.
#
# To train through the sampling step we write z = μ + σ · ε with ε ∼ N(0, I): the randomness sits in ε, and
# z is an ordinary differentiable function of μ and σ. This is the **reparameterization trick**.

# %%
def reparameterize(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps             # sigma = exp(log(sigma^2) / 2)

def kl_to_prior(mu, logvar):                              # KL(N(mu, sigma^2) || N(0, 1)), summed over dimensions
    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)

def my_elbo(model, x, eps):
    mu, logvar = model.encode(x)
    logits = model.decode(reparameterize(mu, logvar, eps))
    reconstruction = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))
    kl = kl_to_prior(mu, logvar)
    return reconstruction - kl, reconstruction, kl


# %% [markdown]
# **Prove it.** With the same noise ε our ELBO equals `genlib.image.vae.elbo`; the KL formula equals the one
# `torch.distributions` computes; and gradients reach both μ and log σ² through the sample.

# %%
torch.manual_seed(0)
vae_short = V.VAE(latent_dim=16, hidden=512).to(device)
x = x_val[:64]
eps = torch.randn(64, 16, generator=torch.Generator().manual_seed(1)).to(device)
mine = my_elbo(vae_short, x, eps)
lib = V.elbo(vae_short, x, generator=torch.Generator().manual_seed(1))       # draws the same eps inside
for a, b in zip(mine, lib):
    torch.testing.assert_close(a, b)

mu, logvar = torch.randn(5, 16), torch.randn(5, 16)
ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()), torch.distributions.Normal(0.0, 1.0))
torch.testing.assert_close(kl_to_prior(mu, logvar), ref.sum(-1))

mu.requires_grad_(True); logvar.requires_grad_(True)
reparameterize(mu, logvar, torch.randn(5, 16)).sum().backward()
assert mu.grad.abs().sum() > 0 and logvar.grad.abs().sum() > 0
print(f"our ELBO == genlib's (mean {mine[0].mean().item():.1f} nats untrained); KL == torch.distributions; gradients reach mu and log sigma^2")

# %% [markdown]
# A short visible training run of that VAE with `genlib.image.vae.vae_loss` (= −mean ELBO), recording the two
# terms of the ELBO at every step.

# %%
curves = {"reconstruction": [], "KL": []}

def loss_with_terms(model, x):
    terms = V.elbo(model, x)
    curves["reconstruction"].append(-terms.reconstruction.mean().item())
    curves["KL"].append(terms.kl.mean().item())
    return -terms.elbo.mean()

short_steps = pick(150, 3000)
train(vae_short, loss_with_terms, batches(), steps=short_steps, lr=1e-3)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
viz.loss_curves({"−E[log p(x|z)] (reconstruction)": curves["reconstruction"]}, title="VAE: reconstruction term",
                ylabel="nats per image", window=10, ax=axes[0])
viz.loss_curves({"KL(q(z|x) ‖ p(z))": curves["KL"]}, title="VAE: KL term", ylabel="nats per image", window=10, ax=axes[1])
plt.show()
kl_start, kl_end = sum(curves["KL"][:5]) / 5, sum(curves["KL"][-20:]) / 20
print(f"reconstruction {curves['reconstruction'][0]:.0f} -> {sum(curves['reconstruction'][-20:]) / 20:.0f} nats; "
      f"KL {kl_start:.1f} -> {kl_end:.1f} nats")
assert kl_end > 5 * kl_start and curves["reconstruction"][-1] < 0.5 * curves["reconstruction"][0]

# %% [markdown]
# The two terms pull against each other. In this run the KL first jumps, then falls back almost to zero while
# the reconstruction plateaus: the quickest win is a decoder that draws the *average* digit whatever the code,
# and a code that carries no information costs no KL. To do better the encoder must spread the codes of
# different images apart, which **costs KL** — so from then on the KL rises while the reconstruction keeps
# falling, by much more. The ELBO trades nats spent in the code (KL) against nats saved in the pixels.
#
# The shipped VAE has the same architecture, trained for longer by `scripts/train_vae.py`; we load it (or
# train it here if the file is missing).

# %%
vae = V.VAE(latent_dim=16, hidden=512).to(device)
status = load_or_train("mnist_vae", vae, lambda m: train(m, V.vae_loss, batches(1), steps=pick(3000, 30000), lr=1e-3))
vae.eval()
entry = read_manifest()["mnist_vae"]
with torch.no_grad():
    g = torch.Generator().manual_seed(0)
    elbo_short = V.elbo(vae_short, x_val, generator=g).elbo.mean().item()
    terms_shipped = V.elbo(vae, x_val, generator=g)
elbo_shipped, rec_shipped = terms_shipped.elbo.mean().item(), -terms_shipped.reconstruction.mean().item()
print(f"{status} 'mnist_vae' ({entry['settings']['steps']} steps, {entry['train_seconds']:.0f} s in {entry['script']})")
print(f"validation ELBO: {elbo_short:.1f} nats after our {short_steps} steps, {elbo_shipped:.1f} nats for the shipped weights")
assert elbo_shipped > elbo_short

# %% [markdown]
# ## 3. Sampling and walking the latent space
#
# Sampling is now two lines: z ∼ N(0, I), decode. And because nearby codes decode to similar images, we can walk
# in a straight line from the code of one digit to the code of another.

# %%
vae_samples = vae.sample(1000, generator=torch.Generator().manual_seed(0))
viz.show_images(vae_samples[:32].cpu(), nrow=16, title="VAE samples: z ~ N(0, I), decoded")
plt.show()

# %% [markdown]
# Most samples are recognisable digits, but soft-edged: the decoder outputs the *average* of what a code
# could mean. Now interpolate between a 3 and an 8 of the validation set, in pixel space (a cross-fade) and in
# latent space (decode the points between the two codes' means).

# %%
a, b = x_val[y_val == 3][0:1], x_val[y_val == 8][0:1]
t = torch.linspace(0, 1, 9, device=device)[:, None]
with torch.no_grad():
    (mu_a, _), (mu_b, _) = vae.encode(a), vae.encode(b)
    latent_path = torch.sigmoid(vae.decode((1 - t) * mu_a + t * mu_b))
pixel_path = (1 - t[:, :, None, None]) * a + t[:, :, None, None] * b
viz.show_images(torch.cat([pixel_path, latent_path]).cpu(), nrow=9, title="From a 3 to an 8: pixel cross-fade (top), VAE latent path (bottom)")
plt.show()

def grey_share(img):                                       # share of pixels that are neither ink nor paper
    return ((img > 0.25) & (img < 0.75)).float().mean().item()
print(f"half-tone pixels at the midpoint: {grey_share(pixel_path[4]):.1%} for the cross-fade, {grey_share(latent_path[4]):.1%} on the latent path")
assert grey_share(latent_path[4]) < grey_share(pixel_path[4])

# %% [markdown]
# The cross-fade is two ghosts laid over each other. The latent path instead passes through shapes that are
# themselves digit-like, bending the strokes of the 3 into an 8: the VAE has learned a space where "in
# between" means something.
#
# ## 4. A map of a 2-D latent space
#
# With two latent dimensions we can look at the whole space at once. We train a small VAE with a 2-D code for a
# short while, then draw (left) where the validation digits land — the means μ of q(z | x), coloured by digit —
# and (right) what the decoder draws at each point of a grid over the prior.

# %%
torch.manual_seed(0)
vae2 = V.VAE(latent_dim=2, hidden=256).to(device)
train(vae2, V.vae_loss, batches(2), steps=pick(500, 6000), lr=2e-3)
vae2.eval()
with torch.no_grad():
    mu2, _ = vae2.encode(x_val)
    n = 12
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.03, 0.97, n))  # grid over the prior's quantiles
    grid_z = torch.stack(torch.meshgrid(q, q.flip(0), indexing="xy"), -1).reshape(-1, 2).to(device)
    grid_img = torch.sigmoid(vae2.decode(grid_z))

fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.6))
pts = axes[0].scatter(*mu2.cpu().T, c=y_val, cmap="tab10", s=6)
fig.colorbar(pts, ax=axes[0], label="digit")
axes[0].set(title="Validation digits in the 2-D latent space (means of q(z|x))", xlabel="$z_1$", ylabel="$z_2$", aspect="equal")
viz.show_images(grid_img.cpu(), nrow=n, title="Decoder output over a grid of z (prior quantiles 3%–97%)", ax=axes[1])
plt.show()

# %% [markdown]
# Digits gather in regions (4, 7 and 9, similar shapes, overlap), the regions touch with no empty gaps, and the
# decoded grid changes smoothly from one digit to the next: that is the KL term at work. Two numbers are too few for fine detail, though; the
# likelihood says by how much.

# %%
with torch.no_grad():
    g = torch.Generator().manual_seed(0)
    elbo_2d = V.elbo(vae2, x_val, generator=g).elbo.mean().item()
centroids = torch.stack([mu2[y_val.to(device) == c].mean(0) for c in range(10)])
nearest_centroid_acc = (torch.cdist(mu2, centroids).argmin(1).cpu() == y_val).float().mean().item()
print(f"validation ELBO: {elbo_2d:.1f} nats with a 2-D code vs {elbo_shipped:.1f} with 16-D; "
      f"nearest-centroid digit accuracy in the 2-D map: {nearest_centroid_acc:.0%} (chance 10%)")
assert elbo_2d < elbo_shipped and nearest_centroid_acc > 0.4


# %% [markdown]
# ## 5. How likely is a digit? NLL in nats by importance sampling
#
# The ELBO is a lower bound on log p(x). The true value is an integral over all codes,
# log p(x) = log ∫ p(x | z) p(z) dz, which we estimate by sampling codes from the encoder's q(z | x) and
# re-weighting (**importance sampling**, Burda et al.'s IWAE bound):
#
# log p(x) ≈ log (1/k) Σⱼ p(x | zⱼ) p(zⱼ) / q(zⱼ | x),  zⱼ ∼ q(z | x).
#
# With k = 1 its expectation is the ELBO; as k grows it rises towards log p(x). We write it, check it against
# `genlib.image.vae.importance_sampled_nll`, then use the library version.

# %%
def log_normal(z, mu, logvar):
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu) ** 2 / logvar.exp()).sum(-1)

@torch.no_grad()
def my_nll(model, x, k, generator):
    mu, logvar = model.encode(x)
    eps = torch.randn((k, *mu.shape), generator=generator).to(x.device)
    z = mu + (0.5 * logvar).exp() * eps                                        # [k, n, D]
    logits = model.decode(z.flatten(0, 1))
    log_px_z = -F.binary_cross_entropy_with_logits(logits, x.repeat(k, 1, 1, 1), reduction="none").sum((1, 2, 3)).view(k, -1)
    log_w = log_px_z + log_normal(z, torch.zeros_like(z), torch.zeros_like(z)) - log_normal(z, mu, logvar)
    return -(torch.logsumexp(log_w, 0) - math.log(k))                          # nats per image

x = x_val[:50]
torch.testing.assert_close(my_nll(vae, x, 20, torch.Generator().manual_seed(0)),
                           V.importance_sampled_nll(vae, x, k=20, generator=torch.Generator().manual_seed(0)))
print("our importance-sampled NLL == genlib's")

# %%
x = x_val[::5]                                                    # 200 validation digits, all ten classes
g = torch.Generator().manual_seed(0)
with torch.no_grad():
    neg_elbo = -torch.stack([V.elbo(vae, x, generator=g).elbo for _ in range(10)]).mean().item()
ks = [1, 4, 16, 64, 256]
nll = {k: V.importance_sampled_nll(vae, x, k=k, generator=g).mean().item() for k in ks}
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(ks, [nll[k] for k in ks], marker="o", label="importance-sampled NLL")
ax.axhline(neg_elbo, color="C3", ls="--", label="−ELBO")
ax.set(xscale="log", title="Shipped VAE: NLL estimate vs number of samples k", xlabel="k (samples per image)", ylabel="nats per image")
ax.legend(); ax.grid(alpha=0.3); plt.show()
print(f"-ELBO {neg_elbo:.2f} nats; importance-sampled NLL {nll[1]:.2f} (k=1) -> {nll[256]:.2f} (k=256) nats "
      f"= {metrics.nats_to_bits(nll[256]) / 784:.3f} bits per pixel; manifest (1,000 images, k={entry['metric']['k']}): {entry['metric']['value']:.2f}")
assert neg_elbo >= nll[256] and all(nll[a] >= nll[b] for a, b in zip(ks, ks[1:]))


# %% [markdown]
# The estimate falls steadily with k and flattens: the gap between −ELBO and the k = 256 estimate (a few
# nats) is what the ELBO gives away because q(z | x) is not exactly the true posterior p(z | x). A likelihood in
# nats is a strict, comparable score for any model that can compute one — notebook 22 compares families with it.
#
# ## 6. Measuring sample quality: FID without Inception
#
# A likelihood does not say whether *samples* look right. The **Fréchet Inception Distance** (FID) does: pass
# real and generated images through a trained classifier, fit a Gaussian to each set's features, and measure
# the distance between the two Gaussians,
#
# FID = ‖μ₁ − μ₂‖² + tr(Σ₁) + tr(Σ₂) − 2 tr( (Σ₁^½ Σ₂ Σ₁^½)^½ ).
#
# The usual classifier is Inception-v3, trained on ImageNet photos. We use our own: a small CNN trained on the
# 9,000 training digits by `scripts/train_classifier.py`, whose 128 penultimate features are the "eyes".

# %%
def my_frechet(mu1, cov1, mu2, cov2):
    w, v = torch.linalg.eigh(cov1)
    s1 = v @ torch.diag(w.clamp(min=0).sqrt()) @ v.T                           # sqrt(Sigma_1)
    middle = torch.linalg.eigvalsh(s1 @ cov2 @ s1).clamp(min=0).sqrt().sum()  # tr sqrt(...): symmetric, so eigvalsh
    return ((mu1 - mu2) ** 2).sum() + cov1.trace() + cov2.trace() - 2 * middle

classifier = metrics.load_fid_classifier(device)
clf_entry = read_manifest()["mnist_classifier"]
train_stats = metrics.feature_stats(metrics.classifier_features(x_train, classifier))
val_stats = metrics.feature_stats(metrics.classifier_features(x_val, classifier))
assert abs(my_frechet(*val_stats, *train_stats).item() - metrics.frechet_distance(*val_stats, *train_stats)) < 1e-6
print(f"classifier: {clf_entry['metric']['value']:.1%} validation accuracy; our Fréchet distance == genlib's")

# %% [markdown]
# **The real floor.** Even real digits do not score 0: a finite sample's mean and covariance are noisy. So
# the first number to compute is the FID of *real held-out* digits against the training set — the best a
# model could hope for at the same sample size. And the sample size matters: FID is **biased upwards for small
# N**, so only compare FIDs computed with the same number of images (here always 1,000 against the 9,000
# training images).

# %%
floor_by_n = {n: metrics.fid(x_val[:: 1000 // n], train_stats, classifier) for n in (100, 250, 500, 1000)}
for n, f in floor_by_n.items():
    print(f"real validation digits, N = {n:>4}: FID {f:6.1f}")
floor = floor_by_n[1000]
print(f"N = 100 inflates the floor {floor_by_n[100] / floor:.1f}-fold")
assert floor_by_n[100] > floor_by_n[250] > floor_by_n[500] > floor and floor_by_n[100] > 3 * floor

# %% [markdown]
# The same real digits score several times worse at N = 100 than at N = 1,000 — pure estimation bias, no
# change in quality. Now the models, each with 1,000 samples.

# %%
vae2_samples = vae2.sample(1000, generator=torch.Generator().manual_seed(0))
blurred = F.avg_pool2d(x_val, 3, stride=1, padding=1, count_include_pad=False)       # real digits, 3x3 box blur
fids = {"real validation digits (floor)": floor,
        "real digits, blurred 3x3": metrics.fid(blurred, train_stats, classifier),
        "VAE, 16-D latent (shipped)": metrics.fid(vae_samples, train_stats, classifier),
        "VAE, 2-D latent (section 4)": metrics.fid(vae2_samples, train_stats, classifier),
        "autoencoder, random codes": metrics.fid(ae_samples, train_stats, classifier)}
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.barh(list(fids), list(fids.values()), color=["C2", "C7", "C0", "C1", "C3"])
ax.set(xscale="log", title="FID against the training digits (1,000 images each; lower is better)", xlabel="FID (log scale)")
ax.invert_yaxis(); plt.show()
for name, f in fids.items():
    print(f"{name:32s} FID {f:7.1f}")
assert floor < fids["VAE, 16-D latent (shipped)"] < fids["autoencoder, random codes"]
assert fids["real digits, blurred 3x3"] > 10 * floor                     # blur alone costs a lot of FID
assert fids["VAE, 2-D latent (section 4)"] > fids["VAE, 16-D latent (shipped)"]


# %% [markdown]
# Real digits sit at the floor. Blurring those same real digits a little already multiplies their FID many
# times over: the classifier's features notice soft edges at once, and soft edges are what the VAE's samples
# have. The 2-D VAE is worse again (two numbers hold little detail), and the autoencoder decoding random codes
# is far worse than the 16-D VAE: the number we promised in section 1. GANs (notebook 12) and diffusion models (notebooks 13–15)
# will push this number towards the floor.
#
# **How to read these numbers.** Papers report FIDs of single digits to a few tens for good image models; ours
# run from 18 to thousands. The two scales cannot be compared. FID is a squared distance in the units of the
# features: published FIDs use the 2,048 pooled features of Inception-v3 (a network trained on ImageNet photos)
# and usually 10,000 or 50,000 images; ours uses the 128 features of our small digit classifier and 1,000 images.
# Another network is another ruler (the cell below measures how widely ours spreads the training digits), and
# fewer images raise the number, as the floors above showed. So an FID can only be compared with one computed
# with the same feature extractor, the same reference images and the same N. That is why every FID in this course
# uses the shipped classifier, the 9,000 training digits and N = 1,000, and why each is printed beside the **real
# floor**: 1,000 real validation digits scored against the training digits, the score a perfect model (one that
# draws exactly the distribution of real digits) could hope for at this N. Read a model's FID as a multiple of
# that floor, never against a number from a paper.

# %%
spread = train_stats[1].trace().item()                    # tr(Σ): the total variance of the training features
print(f"total variance of the training digits' features: {spread:,.0f} (squared feature units)")
print(f"real floor {floor:.1f} = {floor / spread:.2%} of it; shipped VAE "
      f"{fids['VAE, 16-D latent (shipped)']:.1f} = {fids['VAE, 16-D latent (shipped)'] / floor:.0f}x the floor")
assert floor < 0.01 * spread < fids["VAE, 16-D latent (shipped)"]

# %% [markdown]
# ## 7. The VQ-VAE: images as tokens
#
# A **VQ-VAE** (van den Oord et al., 2017) makes the latent *discrete*. The encoder turns a 28 × 28 image into a
# 7 × 7 grid of 16-D vectors; each vector is replaced by the nearest of 64 learned **codebook** vectors, so the
# image becomes 49 integers — tokens, like words. A transformer can then model images (and sound, notebook 20)
# exactly as it models text (notebook 21), and latent diffusion (notebook 17) can reuse the encoder.
#
# Choosing the nearest code is an argmin, which has no gradient. The **straight-through estimator** copies the
# decoder's gradient from the quantized vector z_q straight onto the encoder's output z_e: in code,
# `z_e + (z_q − z_e).detach()` equals z_q going forward and has gradient 1 with respect to z_e going back. Two
# extra loss terms move the codebook towards the encoder outputs and keep the encoder **committed** to its codes.

# %%
def quantize(z_e, codebook):
    flat = z_e.movedim(1, -1).reshape(-1, z_e.shape[1])                 # every position's vector, [B*7*7, D]
    codes = torch.cdist(flat, codebook).argmin(1)                        # nearest codebook entry
    z_q = codebook[codes].view(*z_e.shape[:1], *z_e.shape[2:], -1).movedim(-1, 1)
    return z_e + (z_q - z_e).detach(), codes.view(z_e.shape[0], *z_e.shape[2:])

torch.manual_seed(0)
vq = V.VectorQuantizer(num_codes=64, dim=16).eval()            # eval mode: no codebook upkeep, just the lookup
z_e = torch.randn(2, 16, 7, 7, requires_grad=True)
z_q, codes = quantize(z_e, vq.codebook.weight)
lib_q, vq_loss, lib_codes = vq(z_e)
torch.testing.assert_close(z_q, lib_q); assert torch.equal(codes, lib_codes)
torch.testing.assert_close(z_q.detach().movedim(1, -1).reshape(-1, 16), vq.codebook.weight[codes.flatten()].detach())  # codebook rows
upstream = torch.randn_like(z_q)
(z_q * upstream).sum().backward()
torch.testing.assert_close(z_e.grad, upstream)                            # straight through: gradient copied unchanged
print("quantize == genlib VectorQuantizer; outputs are codebook vectors; the gradient passes straight through")

# %% [markdown]
# A short training run of the small VQ-VAE. Besides the reconstruction we watch the **perplexity** — exp of the
# entropy of code usage, the number of codes used "effectively" (64 if all were used equally, 1 if only one).
# `VectorQuantizer` starts its codebook at encoder outputs from the first batch and, during training, moves
# codes that nobody uses onto fresh encoder outputs ("random restarts"), a standard guard against codebook
# collapse.

# %%
torch.manual_seed(0)
vqvae_short = V.VQVAE(num_codes=64, code_dim=16, width=32).to(device)
def vq_eval(m):
    logits, _, codes = m(x_val[:300])
    return {"val_reconstruction": -V.bernoulli_log_likelihood(logits, x_val[:300]).mean().item(), "perplexity": V.perplexity(codes, 64)}

vq_hist = train(vqvae_short, V.vqvae_loss, batches(3), steps=pick(60, 3000), lr=2e-3, eval_fn=vq_eval, eval_every=pick(20, 500))
for s, e in zip(vq_hist.eval_steps, vq_hist.evals):
    print(f"step {s + 1:4d}: reconstruction {e['val_reconstruction']:6.1f} nats, perplexity {e['perplexity']:4.1f} of 64 codes")
assert vq_hist.evals[-1]["val_reconstruction"] < vq_hist.evals[0]["val_reconstruction"]

# %% [markdown]
# The reconstruction falls fast, but the perplexity stays tiny: the encoder is still nearly random and sends
# almost every position to the same few codes (restarts only act on codes left unused for a few hundred
# steps). The shipped VQ-VAE (`scripts/train_vae.py`) trained for 3,000 steps. Its reconstructions, the token
# grid of one digit, and how often each code is used:

# %%
vqvae = V.VQVAE(num_codes=64, code_dim=16, width=32).to(device)
vq_status = load_or_train("mnist_vqvae", vqvae, lambda m: train(m, V.vqvae_loss, batches(4), steps=pick(3000, 20000), lr=2e-3))
vqvae.eval()
with torch.no_grad():
    logits, _, val_codes = vqvae(x_val)
vq_rec = -V.bernoulli_log_likelihood(logits, x_val).mean().item()
usage = V.codebook_usage(val_codes, 64)
fig, axes = plt.subplots(1, 3, figsize=(14, 3.3), gridspec_kw={"width_ratios": [3, 1, 2]})
viz.show_images(torch.cat([x_val[:8], torch.sigmoid(logits[:8])]).cpu(), nrow=8, title="VQ-VAE: digits (top), from 49 tokens (bottom)", ax=axes[0])
axes[1].imshow(val_codes[0].cpu(), cmap="tab20"); axes[1].set(title="token grid of the first digit", xlabel="column", ylabel="row")
for (r, c), k in zip(torch.cartesian_prod(torch.arange(7), torch.arange(7)).tolist(), val_codes[0].flatten().tolist()):
    axes[1].text(c, r, k, ha="center", va="center", fontsize=7)
axes[2].bar(range(64), usage.sort(descending=True).values.numpy())
axes[2].set(yscale="log", title="code usage on validation digits", xlabel="code (sorted by use)", ylabel="share of positions")
plt.show()
ppl, used, top5 = V.perplexity(val_codes, 64), int((usage > 0).sum()), usage.sort(descending=True).values[:5].sum().item()
blank = val_codes[x_val.view(-1, 1, 7, 4, 7, 4).amax((1, 3, 5)) < 0.05]   # token positions whose 4x4 patch is empty paper
print(f"{vq_status} 'mnist_vqvae': reconstruction {vq_rec:.1f} nats per image (the VAE's reconstruction term: {rec_shipped:.1f})")
print(f"{used} of 64 codes used, perplexity {ppl:.1f}; the 5 most used codes cover {top5:.0%} of positions; "
      f"{len(blank) / val_codes.numel():.0%} of positions are blank paper, coded by {len(blank.unique())} codes")
print(f"one image = 49 tokens x log2(64) = 6 bits = 294 bits")
assert abs(vq_rec - read_manifest()["mnist_vqvae"]["metric"]["value"]) < 0.05 and vq_rec < rec_shipped
assert used == 64 and ppl > 4 * vq_hist.evals[-1]["perplexity"] and top5 > 0.3 and len(blank.unique()) > 5

# %% [markdown]
# The reconstructions are sharper than the VAE's (a lower reconstruction loss than the VAE's reconstruction
# term), because nothing pulls the tokens towards a prior. Every code is used, but unevenly: the five most used
# cover about 40% of positions, and the perplexity is well below 64. Blank paper is most of the image, yet it is
# coded by many different codes: each token sees more than its own 4 × 4 patch (the encoder's receptive field
# is 10 pixels wide), so "blank, with a stroke just to the left" gets a code of its own. The VQ-VAE alone is **not** a sampler: it has no prior over token grids. Fitting one — a transformer
# predicting token after token, or a diffusion model — is what notebooks 17, 20 and 21 do with this very model.
#
# ## Summary
#
# - An **autoencoder** compresses and rebuilds, but its codes fill an unknown region, so random codes decode
#   to blots (FID far above everything else).
# - A **VAE** encodes to a distribution, samples it with the **reparameterization** z = μ + σε, and maximises the
#   **ELBO** = reconstruction − KL(q(z|x) ‖ N(0, I)); the KL term makes the latent space smooth enough to sample
#   and interpolate, as the 2-D map shows.
# - **Importance sampling** turns the encoder into a likelihood estimator: the NLL in nats falls with k towards
#   log p(x), and the ELBO is below it.
# - **FID** on our own classifier's features scores samples; always report it next to the **real floor**, at the
#   same N, because small samples inflate it.
# - A **VQ-VAE** quantizes the latent to codebook entries with a straight-through gradient: images become
#   tokens that later notebooks model with transformers and diffusion.

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. *(easy)* Train the 2-D VAE with `lambda m, x: V.vae_loss(m, x, beta=4.0)` (a **β-VAE**). What happens to
#    the KL term, the spread of the digit regions in the map, and the reconstructions?

# %% tags=["exercise"]
# Exercise 1: train a 2-D V.VAE with the loss lambda m, x: V.vae_loss(m, x, beta=4.0) as the 2-D VAE was trained,
# then print its KL term and ELBO on x_val (V.elbo) and draw its latent map and reconstructions.

# %% [markdown] tags=["exercise"]
# 2. *(change the code)* Write a convolutional VAE: encoder `Conv2d(1, 32, 4, 2, 1) → ReLU → Conv2d(32, 64, 4, 2, 1)
#    → ReLU → Flatten → Linear(64·7·7, 2·16)`, decoder the mirror image with `ConvTranspose2d`. Keep `encode`,
#    `decode` and `latent_dim` so that `V.elbo`, `V.importance_sampled_nll` and `metrics.fid` work unchanged.
#    Compare its NLL and FID with the MLP VAE after the same number of steps.

# %% tags=["exercise"]
# Exercise 2: write a ConvVAE(nn.Module) with the encoder and decoder above and encode, decode, latent_dim as
# V.VAE has; train it for the same steps as the MLP VAE and print its NLL and FID beside the MLP VAE's.

# %% [markdown] tags=["exercise"]
# 3. *(open question)* The VAE has a much better likelihood than the autoencoder-with-random-codes, yet its
#    FID is still far from the floor. Why can a model have a good likelihood and blurry samples? What would you
#    change — in the likelihood, or in the model — to get sharper samples?

# %% [markdown] tags=["solution"]
# <details><summary>Solution</summary>
#
# 1. With β = 4 the KL term shrinks (codes stay closer to N(0, I)), the digit regions overlap more and
#    reconstructions get blurrier; the ELBO (computed with β = 1) gets worse. β < 1 does the opposite.
#    ```python
#    torch.manual_seed(0)
#    beta_vae = V.VAE(latent_dim=2, hidden=256).to(device)
#    train(beta_vae, lambda m, x: V.vae_loss(m, x, beta=4.0), batches(2), steps=1000, lr=2e-3)
#    with torch.no_grad():
#        t = V.elbo(beta_vae, x_val)
#    print(t.kl.mean(), t.elbo.mean())
#    ```
# 2. ```python
#    from torch import nn
#    class ConvVAE(nn.Module):
#        def __init__(self, latent_dim=16):
#            super().__init__()
#            self.latent_dim = latent_dim
#            self.encoder = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
#                                         nn.Flatten(), nn.Linear(64 * 7 * 7, 2 * latent_dim))
#            self.decoder = nn.Sequential(nn.Linear(latent_dim, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
#                                         nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1))
#        encode = V.VAE.encode
#        decode = V.VAE.decode
#        forward = V.VAE.forward
#        sample = V.VAE.sample
#    ```
#    It trains more slowly per step on a CPU, and usually reaches a better NLL and FID for the same number of steps.
# 3. The likelihood rewards putting *some* probability everywhere the data is; a Bernoulli (or Gaussian) decoder
#    that treats pixels as independent given z cannot express "either this stroke or that one", so it hedges with
#    a grey average, which costs little likelihood but looks blurry. Sharper samples need a more expressive
#    decoder (an autoregressive PixelCNN decoder, a VQ-VAE with a learned prior), a different objective (an
#    adversarial loss, notebook 12), or a different model family (diffusion, notebooks 13–15).
# </details>
