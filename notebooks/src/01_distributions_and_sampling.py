# %% [markdown]
# # 01 · Distributions and sampling
#
# **The idea:** a *generative* model is a probability distribution p(x) over data that we can evaluate and
# draw samples from; a *discriminative* model only answers a question about x (such as "which digit?"). This
# notebook builds the first generative models — by counting and by expectation–maximization — and asks the
# question every later notebook asks again: *are the samples new, or copies of the training data?*
#
# **Learning objectives.** After this notebook you can
# - fit a histogram and a Gaussian mixture to 2-D data and sample from them;
# - measure a model by its log-likelihood on held-out data, in nats, and see over-fitting in that number;
# - explain what *temperature* does to sampling, and show it;
# - tell memorizing from generating by the nearest-training-neighbour distance of samples;
# - fit a model of MNIST pixels and read its likelihood in bits per pixel.
#
# **Prerequisites.** Notebook 00; basic probability (a density, a mean, a variance); PyTorch tensors.
#
# **Estimated time.** 45 minutes; about 20 seconds to run on a laptop CPU.

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
import matplotlib.pyplot as plt
from genlib.device import describe, get_device, seed_everything
from genlib.data import make_toy, load_mnist
from genlib import density, viz
from genlib.metrics import nearest_neighbour_distance, nats_to_bits

seed_everything(0)
device = get_device()
print(describe())

# %% [markdown]
# ## 1. Generative versus discriminative
#
# A classifier learns p(label | image): given a digit, say which. A generative model learns p(image) itself,
# so it can *score* any image ("how typical is this?") and *sample* new ones. Everything in this course is
# the second kind. We start in two dimensions, where every point can be seen. Three toy data sets, each
# drawn fresh from a seed: training points, plus a held-out set from a different seed for honest scoring.

# %%
names = ["two_moons", "ring", "spiral"]
train = {n: make_toy(n, 2000, seed=0) for n in names}
held_out = {n: make_toy(n, 2000, seed=1) for n in names}

fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
for ax, n in zip(axes, names):
    viz.scatter2d(train[n], title=f"{n} (2,000 training points)", ax=ax, lim=3)
plt.show()


# %% [markdown]
# ## 2. The simplest density model: a histogram
#
# Cut the plane into square bins, count the training points in each, divide by the total and by the bin's
# area. That *is* a probability density: it integrates to one. To sample, pick a bin with probability equal
# to its share of the points, then a uniform point inside it. We write it by hand first.

# %%
def histogram_probs(x, bins=30, lim=3.0, alpha=0.01):
    width = 2 * lim / bins
    ij = ((x + lim) / width).floor().long()
    inside = ((ij >= 0) & (ij < bins)).all(1)
    flat = ij[inside, 0] * bins + ij[inside, 1]
    counts = torch.bincount(flat, minlength=bins * bins).float() + alpha   # alpha: no bin is impossible
    return counts / counts.sum()

x = train["ring"]
mine = histogram_probs(x)
torch.testing.assert_close(mine, density.Histogram2D(bins=30, lim=3.0).fit(x).probs)
print(f"hand-built histogram == genlib.density.Histogram2D; total probability {mine.sum():.4f}")

# %% [markdown]
# They agree, so from here on we use `genlib.density.Histogram2D`. How good is the model? The standard score is
# the **average log-likelihood of held-out data**, in nats (natural-log units): higher is better, and it
# rewards a model for putting probability where *new* data actually falls. Watch what the bin count does.

# %%
bin_counts = [5, 10, 20, 40, 80, 160, 320]
scores = {"train": [], "held-out": []}
for b in bin_counts:
    h = density.Histogram2D(bins=b, lim=3.0).fit(train["ring"])
    scores["train"].append(h.log_prob(train["ring"]).mean().item())
    scores["held-out"].append(h.log_prob(held_out["ring"]).mean().item())

fig, ax = plt.subplots(figsize=(6, 3.5))
for k, v in scores.items():
    ax.plot(bin_counts, v, marker="o", label=k)
ax.set(xscale="log", xlabel="bins per side", ylabel="mean log-likelihood (nats per point)",
       title="Histogram on the ring: more bins fit the training set, not new data")
ax.legend(); ax.grid(alpha=0.3)
plt.show()
best = bin_counts[max(range(len(bin_counts)), key=lambda i: scores["held-out"][i])]
print(f"best held-out log-likelihood at {best} bins per side; train keeps rising: "
      + ", ".join(f"{s:.2f}" for s in scores["train"]))
assert scores["train"] == sorted(scores["train"]) and best not in (bin_counts[0], bin_counts[-1])


# %% [markdown]
# The training score climbs forever — with tiny bins, each training point gets a bin of its own — while the
# held-out score peaks and then collapses, because new points land in bins that held no training point. This
# is **over-fitting**, seen in its purest form; every model in the course is judged on held-out data for this
# reason.
#
# ## 3. A smoother model: a Gaussian mixture, fitted by EM
#
# A mixture of K Gaussians says: pick component k with probability w_k, then draw from a bell curve with mean
# μ_k and covariance Σ_k. It has far fewer numbers than a fine histogram and is smooth everywhere. We fit it
# by **expectation–maximization**: the E-step works out how responsible each component is for each point;
# the M-step refits each component to the points it is responsible for. Here is one step by hand.

# %%
def my_em_step(x, weights, means, covs):
    # E-step: responsibilities r[n, k] = w_k N(x_n | mu_k, S_k) / sum_j w_j N(x_n | mu_j, S_j)
    log_r = torch.distributions.MultivariateNormal(means, covs).log_prob(x[:, None]) + weights.log()
    r = log_r.softmax(dim=1)
    # M-step: each component refits to its share of the points
    nk = r.sum(0)
    new_means = r.T @ x / nk[:, None]
    d = x[:, None, :] - new_means[None]
    new_covs = torch.einsum("nk,nki,nkj->kij", r, d, d) / nk[:, None, None] + 1e-4 * torch.eye(2)
    return nk / nk.sum(), new_means, new_covs

start = density.fit_gmm(x, k=8, iters=0, seed=0)          # k-means++ starting point, no EM yet
w, m, c = my_em_step(x, start.weights, start.means, start.covs)
lib = density.em_step(x, start)
torch.testing.assert_close((w, m, c), (lib.weights, lib.means, lib.covs), rtol=1e-4, atol=1e-5)
print("hand-written EM step == genlib.density.em_step")

# %% [markdown]
# Same numbers, so we let `genlib.density.fit_gmm` iterate it. EM never lowers the training likelihood; we
# track the held-out score as it runs.

# %%
gmm, curve = start, []
for it in range(40):
    gmm = density.em_step(x, gmm)
    curve.append((gmm.log_prob(x).mean().item(), gmm.log_prob(held_out["ring"]).mean().item()))

viz.loss_curves({"train": [a for a, _ in curve], "held-out": [b for _, b in curve]},
                title="EM on the ring: log-likelihood per iteration", ylabel="mean log-likelihood (nats)",
                xlabel="EM iteration")
plt.show()
hist_best = max(scores["held-out"])
print(f"8-component mixture: held-out {curve[-1][1]:.3f} nats/point vs best histogram {hist_best:.3f}")
assert curve[-1][1] > hist_best

# %% [markdown]
# With 8 × (1 + 2 + 3) = 48 numbers the mixture beats the best histogram on held-out data. Here is its
# density next to the data, and fresh samples from it.

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
viz.density2d(gmm.log_prob, lim=3, title="fitted mixture density p(x)", ax=axes[0])
viz.scatter2d(x, title="training data", ax=axes[1], lim=3)
viz.scatter2d(gmm.sample(2000, generator=torch.Generator().manual_seed(0)), title="2,000 samples", ax=axes[2], lim=3)
plt.show()

# %% [markdown]
# ## 4. Temperature
#
# Language models and image models alike expose a **temperature** T. For a mixture we apply it in two places:
# pick components with probability ∝ w_k^(1/T), and scale each covariance by T. T < 1 sharpens (safer, less
# varied samples), T > 1 flattens (more varied, more mistakes). We measure it: the share of samples that land
# within 0.3 of a true ring centre.

# %%
centres = 2.0 * torch.stack([torch.cos(torch.arange(8) * math.pi / 4), torch.sin(torch.arange(8) * math.pi / 4)], 1)

def on_mode_share(points):
    return (torch.cdist(points, centres).min(1).values < 0.3).float().mean().item()

temps = [0.25, 0.5, 1.0, 2.0, 4.0]
shares = [on_mode_share(gmm.sample(4000, temperature=t, generator=torch.Generator().manual_seed(0))) for t in temps]
for t, s in zip(temps, shares):
    print(f"T = {t:4.2f}: {s:6.1%} of samples within 0.3 of a ring centre")
assert shares == sorted(shares, reverse=True)


# %% [markdown]
# Lower temperature, tighter samples, every time. Move the slider to see it (the figure below the slider
# updates in a live notebook; here you see it at T = 1).

# %%
def draw(temperature):
    s = gmm.sample(1500, temperature=temperature, generator=torch.Generator().manual_seed(0))
    viz.scatter2d(s, title=f"mixture samples at temperature {temperature:.2f}", lim=3)

viz.slider_plot(draw, temperature=(0.1, 3.0, 0.1, 1.0))

# %% [markdown]
# ## 5. Memorizing versus generating
#
# A model that simply replays its training points would score well on "do samples look like the data?" and
# be useless. The check is the **nearest-training-neighbour distance** of each sample: copies sit at distance
# zero; real new data — the held-out set — sits at some typical distance. A good generator's samples should
# look like held-out data by this measure, not like copies.

# %%
memorizer = x[torch.randint(len(x), (2000,), generator=torch.Generator().manual_seed(0))]  # 'samples' = training points
gmm_samples = gmm.sample(2000, generator=torch.Generator().manual_seed(0))
dist = {"held-out real data": nearest_neighbour_distance(held_out["ring"], x),
        "mixture samples": nearest_neighbour_distance(gmm_samples, x),
        "memorizer": nearest_neighbour_distance(memorizer, x)}

fig, ax = plt.subplots(figsize=(6, 3.5))
for k, d in dist.items():
    ax.hist(d.numpy(), bins=40, range=(0, 0.06), alpha=0.6, label=f"{k} (median {d.median():.4f})")
ax.set(title="Distance from each sample to its nearest training point", xlabel="distance", ylabel="count")
ax.legend(); plt.show()
med = {k: d.median().item() for k, d in dist.items()}
assert med["memorizer"] == 0 and 0.5 < med["mixture samples"] / med["held-out real data"] < 2

# %% [markdown]
# The memorizer's samples are all at distance 0; the mixture's samples sit at the same typical distance as
# genuinely new data. Notebook 22 returns to this check for images, where memorization is a real legal and
# ethical problem.
#
# ## 6. Pixels: a distribution over MNIST images
#
# Now the data are 784-dimensional: 28 × 28 pixels, which we make black-or-white. The simplest model treats
# every pixel as an independent coin with its own probability (a mixture with K = 1). A mixture of K
# "prototype" images, fitted by the same EM idea, lets pixels that belong to the same stroke agree.

# %%
imgs, labels = load_mnist("train")
val_imgs, _ = load_mnist("val")
xb, vb = (imgs.flatten(1) > 0.5).float(), (val_imgs.flatten(1) > 0.5).float()

models = {k: density.fit_bernoulli_mixture(xb, k=k, iters=20, seed=0) for k in (1, 5, 20, 50)}
val_bits = {k: nats_to_bits(-m.log_prob(vb).mean().item()) / 784 for k, m in models.items()}
for k, b in val_bits.items():
    print(f"K = {k:2d}: validation {b:.4f} bits per pixel ({b * 784:.1f} bits per image)")
assert val_bits[1] > val_bits[5] > val_bits[20]

# %% [markdown]
# Bits per pixel is the number of yes/no questions the model needs, on average, to pin down a pixel of a
# *new* image: lower is better, and a model that knew nothing would need 1. More prototypes help a great deal
# at first. What do samples look like?

# %%
fig, axes = plt.subplots(2, 1, figsize=(10, 3.4))
for ax, k in zip(axes, (1, 50)):
    s = models[k].sample(24, generator=torch.Generator().manual_seed(0)).reshape(-1, 1, 28, 28)
    viz.show_images(s, nrow=24, title=f"samples, K = {k} ({val_bits[k]:.3f} bits per pixel)", ax=ax)
plt.show()

# %% [markdown]
# Independent pixels give a grey smudge with the average digit's shape; fifty prototypes give recognisable
# digits, still speckled. Are they new? We compare each sample with its nearest training image, beside the
# same measure for real validation digits.

# %%
samples = models[50].sample(500, generator=torch.Generator().manual_seed(1))
d_samples = nearest_neighbour_distance(samples, xb)
d_val = nearest_neighbour_distance(vb[:500], xb)
print(f"median distance to nearest training image: samples {d_samples.median():.2f}, "
      f"real validation digits {d_val.median():.2f}, copies would be 0")
nearest = torch.cdist(samples[:8], xb).argmin(1)
viz.show_images(torch.cat([samples[:8], xb[nearest]]).reshape(-1, 1, 28, 28), nrow=8,
                title="top: samples · bottom: their nearest training images")
plt.show()
assert d_samples.median() > 0

# %% [markdown]
# The samples are not copies — but they are further from every training digit than real digits are, because
# the speckle makes them unlike *any* real image. A better model must be both close to the data's
# distribution and not a copy of its points: the whole course is about that balance.
#
# ## Summary
#
# - A generative model is a density you can evaluate and sample. Histograms and Gaussian mixtures are the
#   simplest; EM fits mixtures by alternating "who is responsible for what" and "refit to your share".
# - Judge a model by held-out log-likelihood (nats or bits). Training likelihood alone rewards over-fitting:
#   the histogram showed it, with the best held-out score at an intermediate bin count.
# - Temperature trades variety for safety: we measured the share of on-mode samples falling as T rose.
# - Nearest-training-neighbour distance separates generating from memorizing: copies are at 0, good samples
#   look like held-out data.
# - On MNIST, independent pixels are a smudge; a mixture of prototypes gives digits and a far lower bits-per-pixel.

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. *(easy)* Fit the Gaussian mixture to `two_moons` with K = 2, 8 and 32. Which K gives the best held-out
#    log-likelihood?

# %% tags=["exercise"]
# Exercise 1: fit density.fit_gmm to train["two_moons"] with k = 2, 8 and 32 and print each model's
# mean log-likelihood on held_out["two_moons"].

# %% [markdown] tags=["exercise"]
# 2. *(change the code)* Give `Histogram2D` a temperature slider like the mixture's: sample the ring at
#    T = 0.3 and T = 3 and describe the difference.

# %% tags=["exercise"]
# Exercise 2: fit a density.Histogram2D to the ring, then draw its samples at temperature 0.3 and 3
# (its sample method takes a temperature, like the mixture's) with viz.scatter2d or a viz.slider_plot.

# %% [markdown] tags=["exercise"]
# 3. *(open question)* A model can have an excellent held-out likelihood and still make ugly samples, and the
#    reverse. Why might likelihood and sample quality disagree?

# %% [markdown] tags=["solution"]
# <details><summary>Solutions</summary>
#
# 1. ```python
#    for k in (2, 8, 32):
#        m = density.fit_gmm(train["two_moons"], k=k, iters=60)
#        print(k, m.log_prob(held_out["two_moons"]).mean().item())
#    ```
#    K = 2 cannot bend around the moons; K = 8 and K = 32 do much better, and the gain from 8 to 32 is small
#    (with 2,000 points, 32 components start to over-fit).
# 2. `h = density.Histogram2D(30, 3).fit(x)`, then `viz.slider_plot(lambda temperature: viz.scatter2d(h.sample(2000, temperature), lim=3), temperature=(0.1, 3, 0.1, 1))`.
#    At T = 0.3 almost all samples fall in the few fullest bins; at T = 3 the near-empty bins (with their
#    α-smoothing) get a real share and samples spread over the whole square.
# 3. Likelihood rewards covering *every* held-out point (a model that misses a mode pays heavily), while
#    samples are judged by their worst-looking ones; a model can spread a little mass everywhere (good
#    likelihood, noisy samples) or sharpen on a few modes (nice samples, poor likelihood). Theis et al. (2016),
#    "A note on the evaluation of generative models", discusses this; notebook 22 measures both.
# </details>
