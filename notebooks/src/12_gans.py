# %% [markdown]
# # 12 · GANs: a forger and a detective
#
# **The idea:** train two networks against each other. A **generator** G turns random noise into images; a
# **discriminator** D looks at an image and says how likely it is to be real. D learns to catch G's fakes, G learns
# to fool D, and if the game is played well, G ends up drawing images D cannot tell from real ones. This is the
# generative adversarial network (GAN) of Goodfellow et al. (2014); its convolutional form, the **DCGAN** (Radford et
# al., 2015), led image generation until diffusion models took over (notebooks 13–15), and GAN losses still sharpen
# the VAE inside Stable Diffusion and distil diffusion models into one-step generators.
#
# **Learning objectives.** After this notebook you can
# - write the two-player game as two losses, check them against `genlib.image.gan`, and say why G uses the
#   "non-saturating" loss;
# - show that the best discriminator computes the ratio of two densities;
# - train a DCGAN on MNIST, read its loss curves and D's outputs on real and fake images;
# - score the shipped generator with FID next to the real floor and the VAE of notebook 11;
# - make **mode collapse** visible on a ring of eight Gaussians, count the modes covered, and fix it with the
#   minibatch standard-deviation feature of ProGAN and StyleGAN;
# - explain why diffusion models replaced GANs for most image generation.
#
# **Prerequisites.** Notebook 02 (training loop, cross-entropy), notebook 11 (FID on our MNIST classifier, the VAE);
# convolutions at the level of "a small filter slides over the image".
#
# **Estimated time.** 60 minutes; about a minute to run on a laptop CPU.

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
import json, math
from pathlib import Path
import torch
import torch.nn.functional as F
import matplotlib.pyplot as plt
from tqdm.auto import tqdm
from genlib.device import describe, get_device, pick, seed_everything
from genlib.data import load_mnist, ring_of_gaussians
from genlib.checkpoints import load_checkpoint, load_or_train, read_manifest
from genlib.image import gan
from genlib.image.vae import VAE
import genlib
from genlib import metrics, viz

seed_everything(0)
device = get_device()
print(describe())
x_train, x_val = load_mnist("train")[0].to(device), load_mnist("val")[0].to(device)
real = x_train * 2 - 1          # GANs work on pixels in [-1, 1], the range of the generator's tanh


def batches(seed=0, batch_size=64):
    g = torch.Generator().manual_seed(seed)
    return lambda: real[torch.randint(len(real), (batch_size,), generator=g).to(device)]


# %% [markdown]
# ## 1. The game
#
# D outputs a **logit** a; D(x) = sigmoid(a) is its probability that x is real. The two players share one score,
#
#   V(D, G) = E_x[log D(x)] + E_z[log(1 − D(G(z)))],
#
# which D tries to **raise** (say "real" to real images, "fake" to G's) and G tries to **lower**. For a fixed G the
# best D has a closed form (Goodfellow et al., 2014): at each x it should answer
#
#   D*(x) = p_data(x) / (p_data(x) + p_G(x)),  so its logit is log p_data(x) − log p_G(x).
#
# The detective is a **density-ratio estimator**. When G draws exactly the data distribution, D* = 1/2 everywhere
# and can do no better than a coin. We check the closed form in 1-D: real points from N(0, 1), "fake" points from
# N(1, 1). Then log p_data − log p_G = −x²/2 + (x − 1)²/2 = −x + 1/2, a straight line, so a logistic D(x) = sigmoid(w x
# + b) trained on the game's loss should find w = −1 and b = 0.5.

# %%
g = torch.Generator().manual_seed(0)
real_1d, fake_1d = torch.randn(10_000, 1, generator=g), torch.randn(10_000, 1, generator=g) + 1
D_1d = torch.nn.Linear(1, 1)
opt = torch.optim.Adam(D_1d.parameters(), lr=0.05)
for step in range(200):
    loss = gan.discriminator_loss(D_1d(real_1d), D_1d(fake_1d))   # the game's loss for D (defined in section 2)
    opt.zero_grad(); loss.backward(); opt.step()
w, b = D_1d.weight.item(), D_1d.bias.item()
print(f"trained D: logit = {w:.3f} x + {b:.3f}; the closed form D*: logit = -1 x + 0.5")
assert abs(w + 1) < 0.05 and abs(b - 0.5) < 0.05


# %% [markdown]
# The trained detective recovered the log density ratio: D learns *where fakes are too common and where too rare*,
# and that is exactly the signal G's gradient follows. Put D* back into V and G is left minimizing
# 2 · JS(p_data ‖ p_G) − 2 log 2, a divergence between the two distributions that is smallest, −2 log 2, when
# p_G = p_data.
#
# ## 2. The losses, by hand
#
# Both players minimize, so D's loss is −V, a binary cross-entropy with labels 1 for real and 0 for fake:
# −log D(x) − log(1 − D(G(z))). For G the paper's own advice is *not* to minimize log(1 − D(G(z))): early in training D
# rejects the fakes with D(G(z)) ≈ 0, where that curve is flat and G learns nothing. G minimizes −log D(G(z))
# instead, the **non-saturating** loss: same goal (make D say "real"), strong gradients exactly when G is losing. On
# logits, −log sigmoid(a) = softplus(−a) and −log(1 − sigmoid(a)) = softplus(a), which never overflow.

# %%
def my_discriminator_loss(real_logits, fake_logits):
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()   # -log D(x) - log(1 - D(G(z)))


def my_generator_loss(fake_logits):
    return F.softplus(-fake_logits).mean()                                      # -log D(G(z)), non-saturating


r, f = 3 * torch.randn(2, 256, generator=torch.Generator().manual_seed(1))
bce = F.binary_cross_entropy_with_logits
torch.testing.assert_close(my_discriminator_loss(r, f), -(torch.sigmoid(r).log().mean() + (1 - torch.sigmoid(f)).log().mean()))
torch.testing.assert_close(my_discriminator_loss(r, f), bce(r, torch.ones(256)) + bce(f, torch.zeros(256)))
torch.testing.assert_close(my_discriminator_loss(r, f), gan.discriminator_loss(r, f))
torch.testing.assert_close(my_generator_loss(f), gan.generator_loss(f))
zero = torch.zeros(8)
at_half = (gan.discriminator_loss(zero, zero).item(), gan.generator_loss(zero).item())
print(f"our losses == the formulas == BCE == genlib; when D says 1/2 to everything: D loss {at_half[0]:.4f} "
      f"(2 log 2 = {2 * math.log(2):.4f}), G loss {at_half[1]:.4f} (log 2)")
assert abs(at_half[0] - 2 * math.log(2)) < 1e-6 and abs(at_half[1] - math.log(2)) < 1e-6

# %% [markdown]
# Those two numbers, 2 log 2 ≈ 1.39 and log 2 ≈ 0.69, are the losses at the game's balance point: worth
# remembering when reading GAN loss curves. Now the gradient each G loss sends back through D's logit a, as a
# function of how convinced D is that the fake is real (for both, |∂loss/∂a| has a closed form: D and 1 − D).

# %%
d_out = torch.logspace(-4, -0.01, 200)
a = torch.logit(d_out).requires_grad_(True)
(grad_minimax,) = torch.autograd.grad((-F.softplus(a)).sum(), a)       # G minimizes log(1 - D(G(z)))
(grad_ns,) = torch.autograd.grad(gan.generator_loss(a) * len(a), a)      # G minimizes -log D(G(z))
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.loglog(d_out, grad_minimax.abs(), label="minimax: log(1 − D(G(z)))")
ax.loglog(d_out, grad_ns.abs(), label="non-saturating: −log D(G(z))")
ax.set(title="Gradient reaching G, through D's logit", xlabel="D(G(z)) (D's belief the fake is real)", ylabel="|∂ loss / ∂ logit|")
ax.legend(); ax.grid(alpha=0.3); plt.show()
i = int((d_out - 0.01).abs().argmin())
print(f"when D(G(z)) = {d_out[i]:.3f}: minimax gradient {grad_minimax[i].abs():.4f}, non-saturating {grad_ns[i].abs():.4f}")
torch.testing.assert_close(grad_minimax.abs(), d_out, rtol=1e-4, atol=1e-6)
torch.testing.assert_close(grad_ns.abs(), 1 - d_out, rtol=1e-4, atol=1e-6)


# %% [markdown]
# Where G starts (D(G(z)) near 0, at the left), the minimax loss's gradient is as small as D(G(z)) itself, about a
# hundred times weaker than the non-saturating one at D(G(z)) = 0.01. Every GAN since uses the non-saturating
# form or a close cousin.
#
# ## 3. A DCGAN on MNIST
#
# Radford et al. (2015) found the architecture rules that made GANs train on images: the generator grows a small
# feature map with **stride-2 transposed convolutions** and batch norm, ending in tanh; the discriminator shrinks the
# image with **stride-2 convolutions**, batch norm and LeakyReLU (no pooling); Adam with β₁ = 0.5. Ours maps 64
# noise numbers to a 7 × 7 map, then 14 × 14, then 28 × 28, where a last 3 × 3 convolution draws the pixels; the
# discriminator walks the same road backwards. Here are both networks, layer by layer, as `genlib.image.gan` writes
# them.

# %%
from torch import nn


class MyGenerator(nn.Module):
    def __init__(self, latent_dim=64, width=64):
        super().__init__()
        self.latent_dim, w = latent_dim, width
        self.net = nn.Sequential(
            nn.Linear(latent_dim, w * 7 * 7, bias=False),        # z -> w x 7 x 7 numbers (no bias: batch norm adds one)
            nn.Unflatten(1, (w, 7, 7)),                          # ... arranged as w feature maps of 7 x 7
            nn.BatchNorm2d(w), nn.ReLU(),                        # batch norm keeps every channel's scale steady
            nn.ConvTranspose2d(w, w // 2, 4, 2, 1, bias=False),  # stride 2: 7 x 7 -> 14 x 14, half the channels
            nn.BatchNorm2d(w // 2), nn.ReLU(),
            nn.ConvTranspose2d(w // 2, w // 4, 4, 2, 1, bias=False),  # stride 2: 14 x 14 -> 28 x 28, half again
            nn.BatchNorm2d(w // 4), nn.ReLU(),
            nn.Conv2d(w // 4, 1, 3, 1, 1),                       # 3 x 3 conv at full size: w/4 channels -> one grey
            nn.Tanh(),                                           # pixels in [-1, 1], the range of the real data
        )

    def forward(self, z):                                        # z: [N, latent_dim] -> images [N, 1, 28, 28]
        return self.net(z)


class MyDiscriminator(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(1, w, 4, 2, 1), nn.LeakyReLU(0.2),         # stride 2: 28 x 28 -> 14 x 14, w channels
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False),            # stride 2: 14 x 14 -> 7 x 7, 2w channels
            nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),            # batch norm here (not on the pixels), as in DCGAN
            nn.Flatten(),                                        # 2w x 7 x 7 numbers per image
            nn.Linear(2 * w * 7 * 7, 1),                         # one logit: log-odds that the image is real
        )                                                        # LeakyReLU: a little gradient even for x < 0

    def forward(self, x):                                        # x: [N, 1, 28, 28] in [-1, 1] -> logits [N]
        return self.net(x).squeeze(1)


# %% [markdown]
# Before we use the library's versions we prove they are these: the same parameter names and shapes, and, with
# genlib's weights loaded into ours, the same outputs on the same input (in training mode, where batch norm uses
# the batch's statistics, and in eval mode, where it uses its running averages).

# %%
torch.manual_seed(0)
lib_G, lib_D = gan.Generator(64, 64), gan.Discriminator(32)
my_G, my_D = MyGenerator(64, 64), MyDiscriminator(32)
for mine, lib in ((my_G, lib_G), (my_D, lib_D)):
    assert [(k, v.shape) for k, v in mine.state_dict().items()] == [(k, v.shape) for k, v in lib.state_dict().items()]
    mine.load_state_dict(lib.state_dict())
z = torch.randn(16, 64, generator=torch.Generator().manual_seed(0))
for mode in ("train", "eval"):
    for net in (my_G, lib_G, my_D, lib_D):
        net.train(mode == "train")
    fake = lib_G(z)                              # one pass each: in training mode a pass updates batch norm's averages
    torch.testing.assert_close(my_G(z), fake)
    torch.testing.assert_close(my_D(fake), lib_D(fake))
count = lambda net: sum(p.numel() for p in net.parameters())
print(f"our networks == gan.Generator and gan.Discriminator: same {len(lib_G.state_dict())} + "
      f"{len(lib_D.state_dict())} tensors, same outputs; G has {count(lib_G):,} weights, D {count(lib_D):,}")

# %% [markdown]
# From here on we use `gan.Generator` and `gan.Discriminator`; they add only input checks (D, for instance, refuses
# pixels outside [-1, 1], and says how to convert 0–255 or [0, 1] images). Here is one round of the game, the body
# of `gan.gan_step`: a D step on a real and a fake batch, then a G step on fresh fakes.

# %%
def my_gan_step(G, D, real_batch, opt_g, opt_d):
    fake = G(torch.randn(len(real_batch), G.latent_dim).to(device))
    d_loss = my_discriminator_loss(D(real_batch), D(fake.detach()))   # detach: this step only trains D
    opt_d.zero_grad(); d_loss.backward(); opt_d.step()
    fake = G(torch.randn(len(real_batch), G.latent_dim).to(device))
    g_loss = my_generator_loss(D(fake))                                # gradients flow through D into G
    opt_g.zero_grad(); g_loss.backward(); opt_g.step()                 # only G's weights move
    return d_loss.item(), g_loss.item()


def pair(seed):
    torch.manual_seed(seed)
    return gan.Generator(latent_dim=64, width=32).to(device), gan.Discriminator(width=16).to(device)


(G1, D1), (G2, D2) = pair(0), pair(0)                                  # two identical copies
batch = batches(seed=5)()
torch.manual_seed(1); mine = my_gan_step(G1, D1, batch, *gan.adam_pair(G1, D1))
torch.manual_seed(1); lib = gan.gan_step(G2, D2, batch, *gan.adam_pair(G2, D2))
assert abs(mine[0] - lib.d_loss) < 1e-5 and abs(mine[1] - lib.g_loss) < 1e-5
for p1, p2 in zip([*G1.parameters(), *D1.parameters()], [*G2.parameters(), *D2.parameters()]):
    torch.testing.assert_close(p1, p2)
print(f"one round by hand == gan.gan_step: D loss {lib.d_loss:.4f}, G loss {lib.g_loss:.4f}; both players' weights equal")

# %% [markdown]
# A short visible run of a narrow DCGAN (half the channels of the shipped one, so it runs in seconds on a CPU), with a
# learning rate of 1e-3 instead of the paper's 2e-4 so that something happens within 150 steps.
# `gan.train_gan` records, at every step, both losses and D's mean probability of "real" on the real and on the fake
# batch.

# %%
G_short, D_short = pair(0)
short_steps = pick(150, 3000)
history = gan.train_gan(G_short, D_short, batches(seed=1), short_steps, *gan.adam_pair(G_short, D_short, lr=1e-3))
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
viz.loss_curves({"D loss": history["d_loss"], "G loss": history["g_loss"]}, window=10, ax=axes[0],
                title="DCGAN losses (running mean of 10 steps)", ylabel="loss (nats)")
axes[0].axhline(2 * math.log(2), color="C0", ls=":", lw=1); axes[0].axhline(math.log(2), color="C1", ls=":", lw=1)
viz.loss_curves({"D(real)": history["d_real"], "D(fake)": history["d_fake"]}, window=10, ax=axes[1],
                title="D's mean output on each batch", ylabel="probability 'real'")
axes[1].axhline(0.5, color="gray", ls=":", lw=1)
plt.show()
w = 25                                                  # D's lead, D(real) - D(fake), in windows of 25 steps
gaps = [sum(r - f for r, f in zip(history["d_real"][i:i + w], history["d_fake"][i:i + w])) / w
        for i in range(0, short_steps - w + 1, w)]
peak = max(range(len(gaps)), key=gaps.__getitem__)
print(f"D(real) - D(fake): {gaps[0]:.2f} in steps 1-{w}, peak {gaps[peak]:.2f} in steps {peak * w + 1}-{(peak + 1) * w}, "
      f"{gaps[-1]:.2f} in the last {w}")
assert gaps[peak] > 0.5 and peak < len(gaps) - 1 and gaps[-1] < 0.8 * gaps[peak]

# %% [markdown]
# Dotted lines mark the balance point (2 log 2 for D, log 2 for G, D = 1/2). D wins at once: the first fakes are
# grey noise, easy to spot, so D(real) and D(fake) split apart and G's loss climbs. Then G starts to catch up and
# D's lead shrinks. The curves never settle the way a classifier's loss does: each player's loss depends on the
# other, so a GAN's loss does not tell you how good the images are. The images do:

# %%
viz.show_images(G_short.sample(16, generator=torch.Generator().manual_seed(0)).cpu(), nrow=16,
                title=f"The narrow DCGAN after {short_steps} steps")
plt.show()

# %% [markdown]
# Rough, noisy strokes in the shape of digits, a few already legible: not yet real-looking. The shipped generator
# (`scripts/train_gan.py`) is twice as wide and played many more rounds, for an hour on one CPU core: Adam at a
# learning rate of 2e-3, decaying linearly to 0 over the second half of the hour, batch 64. It ships the
# **exponential moving average** (EMA) of G's weights, a slowly updated copy that smooths out the last steps' jitter.
# We load it, or train it here if the file is missing.

# %%
entry = read_manifest().get("dcgan_mnist", {"settings": {"latent_dim": 64, "g_width": 64, "d_width": 32, "lr": 2e-3}})
s = entry["settings"]
G = gan.Generator(s["latent_dim"], s["g_width"]).to(device)


def train_fallback(model):
    torch.manual_seed(0)
    D_fallback = gan.Discriminator(s["d_width"]).to(device)
    gan.train_gan(model, D_fallback, batches(seed=2), pick(300, 3000), *gan.adam_pair(model, D_fallback, lr=s["lr"]))


status = load_or_train("dcgan_mnist", G, train_fallback)
G.eval()
samples = G.sample(1000, generator=torch.Generator().manual_seed(entry.get("metric", {}).get("sample_seed", 1234)))
print(f"{status} 'dcgan_mnist'" + (f" ({entry['settings']['steps_played']} steps, {entry['train_seconds']:.0f} s in "
                                   f"{entry['script']})" if status == "loaded" else ""))
viz.show_images(samples[:48].cpu(), nrow=16, title="Shipped DCGAN: 48 samples, z ~ N(0, I)")
plt.show()

# %% [markdown]
# Sharp strokes on clean paper: no blur, because nothing in a GAN's loss rewards averaging; a blurry digit is
# simply an easy fake for D. Most samples are clear digits of every kind; a few are malformed, a mix of two digits
# or a broken stroke. FID puts a number on
# both, with the same 1,000-image recipe as notebook 11, next to the real floor and the shipped VAE. (These FIDs are
# measured on our digit classifier's features, so they are not on the scale of published FIDs: notebook 11, end of
# section 6, explains why, and why the real floor is the number to compare with.)

# %%
classifier = metrics.load_fid_classifier(device)
train_stats = metrics.feature_stats(metrics.classifier_features(x_train, classifier))
vae = VAE(latent_dim=16, hidden=512).to(device)
load_checkpoint("mnist_vae", vae)
fids = {"real validation digits (floor)": metrics.fid(x_val, train_stats, classifier),
        "DCGAN (shipped)": metrics.fid(samples, train_stats, classifier),
        "VAE (shipped, notebook 11)": metrics.fid(vae.eval().sample(1000, generator=torch.Generator().manual_seed(0)),
                                                 train_stats, classifier),
        f"narrow DCGAN, {short_steps} steps": metrics.fid(G_short.sample(1000, generator=torch.Generator().manual_seed(0)),
                                                         train_stats, classifier)}
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.barh(list(fids), list(fids.values()), color=["C2", "C0", "C1", "C3"])
ax.set(xscale="log", title="FID against the training digits (1,000 images each; lower is better)", xlabel="FID (log scale)")
ax.invert_yaxis(); plt.show()
for name, value in fids.items():
    print(f"{name:32s} FID {value:7.1f}")
floor, fid_gan = fids["real validation digits (floor)"], fids["DCGAN (shipped)"]
if status == "loaded":
    print(f"manifest: FID {entry['metric']['value']:.1f}, floor {entry['real_floor_fid']:.1f}")
    assert abs(fid_gan - entry["metric"]["value"]) < 0.02 * entry["metric"]["value"]
vae_params, g_params = sum(p.numel() for p in vae.parameters()), sum(p.numel() for p in G.parameters())
print(f"the DCGAN is {fid_gan / floor:.0f}x the floor; its generator has {g_params:,} weights, the VAE {vae_params:,}")
assert floor < fid_gan < fids["VAE (shipped, notebook 11)"] < fids[f"narrow DCGAN, {short_steps} steps"]
assert 10 * fid_gan < fids["VAE (shipped, notebook 11)"] and fid_gan < 5 * floor   # "an order of magnitude", "a few times"
assert g_params < vae_params / 4

# %% [markdown]
# The DCGAN beats the VAE by an order of magnitude, with a fraction of its weights, and is within a few times the
# floor. The rest of the gap is partly quality (the malformed samples) and partly variety, which FID also measures:
# a generator that drew only perfect 1s would score badly.
#
# **How it got there, and why it stops there.** An earlier version of this generator, trained for 14 minutes,
# scored 627 with half-legible digits. No bug: its game was too slow, with a weak D (D(real) ≈ 0.6, D(fake) ≈ 0.4)
# and a generator that drew its pixels straight from a 14 × 14 map. Three changes, tested one at a time on equal
# numbers of steps in `benchmarks/results/gan_variants.md`, fixed it: a learning rate of 2e-3 instead of 5e-4, the
# generator's third layer at 28 × 28, and batch norm in D. The training script recorded, every 500 steps, the FID
# of 1,000 samples and D's mean output on the real and fake batches; here is that curve from the manifest.

# %%
curve = entry.get("curve") if status == "loaded" else None
if curve:
    steps_c = curve["step"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    axes[0].plot(steps_c, curve["fid_raw"], lw=1, label="G's weights")
    axes[0].plot(steps_c, curve["fid_ema"], label="EMA of G's weights")
    axes[0].axhline(entry["real_floor_fid"], color="C2", ls=":", label="real floor")
    axes[0].set(yscale="log", title="FID during training (1,000 samples)", xlabel="step", ylabel="FID (log scale)")
    axes[0].legend(); axes[0].grid(alpha=0.3)
    axes[1].plot(steps_c, curve["d_real"], label="D(real)")
    axes[1].plot(steps_c, curve["d_fake"], label="D(fake)")
    axes[1].axhline(0.5, color="gray", ls=":", lw=1)
    axes[1].set(title="D's mean output (500-step averages)", xlabel="step", ylabel="probability 'real'")
    axes[1].legend(); axes[1].grid(alpha=0.3)
    plt.show()
    at = lambda k, step: curve[k][steps_c.index(step)]                         # noqa: E731
    fid_c = curve["fid_" + s["shipped"]]
    i100 = next(i for i, f in enumerate(fid_c) if f <= 100)
    gap_start, gap_end = curve["d_real"][0] - curve["d_fake"][0], curve["d_real"][-1] - curve["d_fake"][-1]
    print(f"FID {fid_c[0]:.0f} at step {steps_c[0]}, {fid_c[i100]:.0f} at step {steps_c[i100]:,}, "
          f"{fid_c[-1]:.1f} at step {steps_c[-1]:,} (the {s['shipped']} weights ship; at the end EMA "
          f"{curve['fid_ema'][-1]:.1f}, raw {curve['fid_raw'][-1]:.1f})")
    print(f"D(real) - D(fake): {gap_start:.2f} at the start, {gap_end:.2f} at the end")
    assert fid_c[-1] < fid_c[i100] < fid_c[0] / 4 and steps_c[i100] < steps_c[-1] / 2
    assert gap_end > 2 * gap_start

    results_dir = Path(genlib.__file__).resolve().parents[1] / "benchmarks" / "results"
    memo = json.loads((results_dir / "gan_d_memorization.json").read_text())
    for r in (memo[0], memo[-1]):
        print(f"step {r['step']:,}: D on 1,000 training digits {r['d_train']:.2f}, on the 1,000 validation "
              f"digits it never saw {r['d_val']:.2f}")
    assert memo[-1]["d_train"] - memo[-1]["d_val"] > memo[0]["d_train"] - memo[0]["d_val"] > 0.1

# %% [markdown]
# FID falls fast, then slowly: it takes fewer than half the steps to reach 100 and all the rest to gain the last
# stretch. Two things end it. The budget, by design: the learning rate decays to 0 at the end of the hour. And,
# before that, a discriminator that **memorizes**. D's lead over G never stops growing (right panel), which would be
# fine if D were learning what digits look like. It is not only that: `benchmarks/gan_d_memorization.py` loaded D
# from the run's saved states and showed it the 1,000 validation digits, real digits it never trained on. It calls
# them less real than the training digits, and the gap widens (printed above): after some 200 passes over the same
# 9,000 images D has learned *those images*, so its gradient tells G "look like these" more than "look like a
# digit", and each extra step buys less. More steps of the same recipe would not fix that; more data would, or
# augmenting what D sees (DiffAugment, ADA: Karras et al., 2020), the standard remedies for GANs on small data sets.
# The EMA of G's weights smooths the jumpy raw curve but ends within a few FID points of it (printed above); the
# run ships whichever scores better at the end.
#
# ## 4. Mode collapse, made visible
#
# FID mixes two failures: bad samples, and **missing variety**. The second is the GAN's signature problem. G is
# only ever asked to fool D *one sample at a time*, so nothing stops it from drawing the same convincing thing over
# and over: **mode collapse**. MNIST hides it among ten digits; a toy makes it plain. Eight small Gaussians on a
# circle (notebook 01's `ring_of_gaussians`), a generator and a discriminator that are small MLPs.
#
# To count what a generator covers we use the measure of Srivastava et al. (2017): a sample is **high quality** if it
# lies within 3 standard deviations of some mode's centre, and a mode is **covered** if at least 1% of the samples are
# high-quality samples of that mode. Real data covers all 8 modes with 99% high-quality samples.

# %%
ring = ring_of_gaussians(10_000, modes=8, radius=2.0, std=0.1, seed=0).to(device)
centres = gan.ring_centres(8, radius=2.0)
real_cov = gan.mode_coverage(ring[:2000], centres, std=0.1)
print(f"real data: {real_cov.modes_covered} modes covered, {real_cov.high_quality:.1%} high-quality; per mode {real_cov.counts}")
assert real_cov.modes_covered == 8 and real_cov.high_quality > 0.98

# %% [markdown]
# Collapse is most likely when G out-paces D: G jumps to whatever D currently likes best, D slowly learns to
# reject it, and G jumps to the next spot. We provoke it by giving D a quarter of G's learning rate (2e-3 for G,
# 5e-4 for D).
#
# The fix we try is the **minibatch standard deviation** feature of ProGAN (Karras et al., 2018), also in StyleGAN:
# D gets one extra input, the spread of the whole batch it is judging. A real batch is spread over the eight modes;
# a collapsed batch is not, and D can now say so. (`gan.ToyDiscriminator(minibatch_std=True)`; the tests check
# that a per-point D cannot tell a collapsed batch from a spread one and this D can.) Same seed, same data, same
# learning rates; 600 steps each, counting modes every 100.

# %%
toy_steps, every = 600, 100


def train_toy(minibatch_std, seed=0):
    torch.manual_seed(seed)
    G_toy = gan.ToyGenerator(latent_dim=2, hidden=64).to(device)
    D_toy = gan.ToyDiscriminator(hidden=64, minibatch_std=minibatch_std).to(device)
    opt_g = torch.optim.Adam(G_toy.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D_toy.parameters(), lr=5e-4, betas=(0.5, 0.999))   # D learns 4x slower than G
    g = torch.Generator().manual_seed(seed)
    data = lambda: ring[torch.randint(len(ring), (128,), generator=g).to(device)]
    modes, history = [], None
    for _ in tqdm(range(toy_steps // every), desc="minibatch std" if minibatch_std else "plain GAN"):
        history = gan.train_gan(G_toy, D_toy, data, every, opt_g, opt_d, generator=g, progress=False, history=history)
        modes.append(gan.mode_coverage(G_toy.sample(2000, generator=torch.Generator().manual_seed(0)), centres, 0.1).modes_covered)
    return G_toy, modes


G_plain, modes_plain = train_toy(minibatch_std=False)
G_fixed, modes_fixed = train_toy(minibatch_std=True)

# %%
pts = {name: G_toy.sample(2000, generator=torch.Generator().manual_seed(0)).cpu()
       for name, G_toy in (("plain GAN", G_plain), ("with minibatch std", G_fixed))}
cov = {name: gan.mode_coverage(p, centres, std=0.1) for name, p in pts.items()}
fig, axes = plt.subplots(1, 3, figsize=(13, 4))
for ax, (name, p) in zip(axes, pts.items()):
    viz.scatter2d({"real": ring[:2000].cpu(), "generated": p}, ax=ax, lim=3,
                  title=f"{name}: {cov[name].modes_covered} of 8 modes covered")
steps_axis = [every * (i + 1) for i in range(len(modes_plain))]
axes[2].plot(steps_axis, modes_plain, marker="o", label="plain GAN")
axes[2].plot(steps_axis, modes_fixed, marker="o", label="with minibatch std")
axes[2].set(title="Modes covered during training", xlabel="training step", ylabel="modes covered (of 8)", ylim=(-0.3, 8.5))
axes[2].legend(); axes[2].grid(alpha=0.3)
plt.show()
for name, c in cov.items():
    print(f"{name:20s}: {c.modes_covered} of 8 modes, {c.high_quality:.0%} high-quality samples; per mode {c.counts}")
assert cov["with minibatch std"].modes_covered > cov["plain GAN"].modes_covered
assert cov["plain GAN"].modes_covered <= 2 and cov["with minibatch std"].modes_covered == 8

# %% [markdown]
# The plain GAN has collapsed: its points form one narrow streak, and at most one mode gets its 1% share at any
# point during training. With the minibatch-std feature, D (training at the same slow pace) can tell that the
# generated batch is too narrow, and G spreads out until all eight modes are covered.
#
# Coverage is not quality: after 600 steps many of the fixed GAN's points still lie *between* modes, outside the 3-σ
# circles (its share of high-quality samples is well below real data's 99%); more training sharpens them. But it
# has found every mode, and a plain GAN that has collapsed has no reason ever to go back.
#
# ## 5. Why diffusion took over
#
# GANs make sharp images in **one** network pass, and for years (StyleGAN, BigGAN) they made the best ones. But
# training them is a balancing act: two players whose losses say little about quality, collapse when one out-paces
# the other, and many tricks (minibatch std, spectral norm, gradient penalties, two learning rates) to hold them
# level. Diffusion models (notebooks 13–15) replaced that game with one plain regression loss, "predict the noise",
# which is stable, keeps falling as the model gets better, and covers every mode because each training image is
# reconstructed from its own noisy copy; they also give a likelihood bound. The price is many network passes per
# sample. GANs' ideas did not die: Stable Diffusion's VAE decoder is trained with an adversarial loss to keep it
# sharp, and adversarial distillation (SDXL Turbo) turns a diffusion model back into a one-to-four-step generator.
#
# ## Summary
#
# - A GAN is a game: D minimizes a binary cross-entropy (real = 1, fake = 0); G minimizes the **non-saturating**
#   −log D(G(z)), which keeps its gradient when D is winning. At balance D says 1/2: losses 2 log 2 and log 2.
# - The best D computes the density ratio p_data / (p_data + p_G); G follows its gradient.
# - A **DCGAN** (strided convolutions, batch norm in G, LeakyReLU in D, Adam β₁ = 0.5) draws sharp digits; its losses
#   do not measure quality, so we score samples with **FID** next to the real floor.
# - **Mode collapse**: G finds a few outputs that fool D and stops there. Counting covered modes on a ring of eight
#   Gaussians shows it; letting D see a batch statistic (**minibatch std**) fixes it.
# - Diffusion won on stability and coverage; GAN losses live on inside diffusion systems.

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. *(easy)* Rerun section 4 with `seed=1` and `seed=2` in `train_toy`. Does the plain GAN still collapse, and does
#    minibatch std still cover all modes?

# %% tags=["exercise"]
# Exercise 1: run train_toy with seed=1 and seed=2, for the plain GAN and with minibatch std, and print each
# generator's modes covered and high-quality share (gan.mode_coverage of 2,000 samples).

# %% [markdown] tags=["exercise"]
# 2. *(change the code)* Give the DCGAN discriminator a minibatch-std feature: a subclass of `gan.Discriminator` whose
#    last linear layer gets one extra input per image, the batch's standard deviation averaged over all the
#    flattened features (ProGAN appends it as an extra feature map before its last convolution; in our D, whose last
#    layer is linear, one extra number does the same job). Train the narrow DCGAN with it for the same number of
#    steps and compare FIDs.

# %% tags=["exercise"]
# Exercise 2: write MinibatchStdDiscriminator(gan.Discriminator) whose last linear layer gets one more input, the
# batch's standard deviation averaged over the flattened features; train the narrow DCGAN with it for short_steps
# and print its FID beside the plain narrow run's.

# %% [markdown] tags=["exercise"]
# 3. *(open question)* The shipped run computed FID every 500 steps, which costs a trained classifier and a
#    thousand samples each time. What else could you watch *during* GAN training to know when to stop, given that
#    the losses do not settle?

# %% [markdown] tags=["solution"]
# <details><summary>Solution</summary>
#
# 1. `G_plain, m = train_toy(False, seed=1)` and so on. While developing this notebook we ran seeds 0–4: the plain
#    GAN ended with 0 or 1 modes covered every time, and the minibatch-std GAN with all 8 every time (its
#    high-quality share between 38% and 46%). With seed 1 the plain GAN covers no mode at all (its points sit
#    between modes), with seed 2 it sits on one mode with 42% high-quality samples: a collapse that *looks* good
#    point by point. The exact numbers change with the seed, the pattern does not.
# 2. ```python
#    class MinibatchStdDiscriminator(gan.Discriminator):
#        def __init__(self, width=16):
#            super().__init__(width)
#            self.net[-1] = torch.nn.Linear(2 * width * 7 * 7 + 1, 1)      # one more input: the batch spread
#        def forward(self, x):
#            h = self.net[:-1](x)                                         # features before the last layer
#            spread = h.std(0).mean().expand(len(h), 1)
#            return self.net[-1](torch.cat([h, spread], 1)).squeeze(1)
#
#    torch.manual_seed(0)
#    G3, D3 = gan.Generator(64, 32).to(device), MinibatchStdDiscriminator(16).to(device)
#    gan.train_gan(G3, D3, batches(seed=1), short_steps, *gan.adam_pair(G3, D3, lr=1e-3))
#    print(metrics.fid(G3.sample(1000, generator=torch.Generator().manual_seed(0)), train_stats, classifier))
#    ```
#    At 150 steps both are still rough: we got a FID of about 1,850, against 1,900 for the plain narrow run, the
#    same. The short run is not limited by collapse; the feature matters most when G out-paces D, as in
#    section 4, and in long runs, where collapse has time to set in.
# 3. A cheap FID every few hundred steps (the shipped run's curve), keeping the best checkpoint; a fixed grid of
#    samples from the *same* z each time, which shows collapse as rows that become alike; mode or class coverage
#    (the share of each digit our classifier finds in the samples); or, as section 3 did, D's output on held-out
#    real images: when it falls below D's output on the training images, D is memorizing and G's gains will slow. GAN quality can get worse again late in training, so
#    "the last checkpoint" is not always the best.
# </details>
