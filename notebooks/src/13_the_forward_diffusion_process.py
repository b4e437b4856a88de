# %% [markdown]
# # 13 · The forward diffusion process
#
# **The idea:** destroy an image *slowly*, by adding a little Gaussian noise at each of T = 1000 steps, until
# nothing but noise is left. Every step is written down exactly, so we know the noisy image's distribution at any
# step in closed form. A diffusion model (DDPM, Stable Diffusion) then learns to run this process **backwards**,
# turning noise into images. This notebook is the forward half: the part that needs no neural network at all.
# Notebook 14 trains the U-Net that predicts the noise and samples with DDPM; notebook 15 compares the fast
# samplers (DDIM, Euler, Heun, DPM++ 2M with Karras sigmas).
#
# **Learning objectives.** After this notebook you can
# - write the one-step noising rule and run it on MNIST digits;
# - derive the closed form q(x_t | x_0) and check it against step-by-step noising;
# - compare the linear (DDPM) and cosine (improved DDPM) noise schedules through alpha-bar and the signal-to-noise ratio;
# - measure how long a digit's identity survives the noise under each schedule;
# - move between the alpha-bar view and the sigma view that the Euler/Heun/DPM++ samplers use;
# - write the exact reverse step q(x_{t-1} | x_t, x_0), and say why the reverse process needs a learned noise predictor.
#
# **Prerequisites.** Notebook 01 (Gaussians, sampling); notebook 11 helps (the Gaussian "reparameterization"
# x = mean + std · noise); PyTorch tensors.
#
# **Estimated time.** 40 minutes; about 30 seconds to run on a laptop CPU.

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
from genlib.data import load_mnist
from genlib import diffusion, viz

seed_everything(0)
device = get_device()
print(describe())


def to_pixels(x):
    # [-1, 1] images (noisy ones spill beyond) -> [0, 1] for display
    return ((x + 1) / 2).clamp(0, 1).cpu()


# %% [markdown]
# ## 1. Noise, one small step at a time
#
# Diffusion models work on pixels scaled to [-1, 1]. One forward step takes the image x_{t-1} and makes
#
#   x_t = sqrt(1 − β_t) · x_{t-1} + sqrt(β_t) · ε,  ε ~ N(0, I),
#
# with a small β_t, the **noise schedule**. Shrinking by sqrt(1 − β_t) before adding noise of variance β_t keeps
# the total variance near 1 (a "variance-preserving" process), so after many steps the image has become standard
# normal noise. Ho et al. (2020) let β grow linearly from 0.0001 to 0.02 over T = 1000 steps. In code, timestep
# t = 0, …, 999 means that steps 0 … t have been applied (the convention of Hugging Face diffusers); the clean
# image is written x_0 in the maths.

# %%
images, labels = load_mnist("train")
data = images * 2 - 1                                    # pixels in [-1, 1]
x0 = data[[labels.tolist().index(d) for d in (0, 3, 7)]].to(device)   # one each of three digits

T = 1000
betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)   # Ho et al. (2020): linear in t
assert torch.equal(betas, diffusion.linear_betas(T))


def noise_step(x, beta):
    return math.sqrt(1 - beta) * x + math.sqrt(beta) * torch.randn_like(x)


shown = [0, 50, 100, 200, 300, 500, 999]
x, frames = x0, []
for t in range(T):
    x = noise_step(x, betas[t].item())
    if t in shown:
        frames.append(x)
strip = torch.stack([x0, *frames], 1).flatten(0, 1)     # one row per digit: clean, then the shown t
fig, ax = plt.subplots(figsize=(7, 2.8))
viz.show_images(to_pixels(strip), nrow=len(shown) + 1, ax=ax,
                title="Noising step by step (linear schedule): clean, then t = " + ", ".join(map(str, shown)))
plt.show()
print(f"after all {T} steps: pixel mean {x.mean():.3f}, std {x.std():.3f}; standard normal noise has 0 and 1")
assert abs(x.mean()) < 0.1 and abs(x.std() - 1) < 0.1

# %% [markdown]
# Each row is one digit on its way to noise. The strokes fade fast: by t = 300 they are faint, and by t = 500 the
# eye finds nothing. The last numbers confirm what the variance-preserving rule promised: what is left after 1000
# steps has mean 0 and standard deviation 1, whatever the digit was.
#
# ## 2. Jumping straight to step t: the closed form q(x_t | x_0)
#
# Training a diffusion model needs noisy images at *random* t, millions of times; running t steps each time would be
# far too slow. Luckily two Gaussian steps combine into one. Write α_t = 1 − β_t. Two steps give
#
#   sqrt(α_2) (sqrt(α_1) x_0 + sqrt(1 − α_1) ε_1) + sqrt(1 − α_2) ε_2 = sqrt(α_1 α_2) x_0 + noise,
#
# and because independent Gaussian noises add their variances, that noise has variance
# α_2 (1 − α_1) + (1 − α_2) = 1 − α_1 α_2. Repeating the argument, with **alpha-bar**
# ᾱ_t = α_0 α_1 ⋯ α_t, the share of the signal's variance that survives:
#
#   q(x_t | x_0) = N(sqrt(ᾱ_t) x_0, (1 − ᾱ_t) I),  that is, x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε.
#
# We write it, and check it against `genlib.diffusion`.

# %%
alphas_cumprod = torch.cumprod(1 - betas, dim=0)        # alpha-bar_t
torch.testing.assert_close(alphas_cumprod, diffusion.alphas_cumprod(betas))


def my_q_sample(x0, t, noise):
    ab = alphas_cumprod[t].item()
    return math.sqrt(ab) * x0 + math.sqrt(1 - ab) * noise


noise = torch.randn_like(x0)
torch.testing.assert_close(my_q_sample(x0, 300, noise), diffusion.q_sample(x0, 300, alphas_cumprod, noise))
print(f"hand-written q_sample == genlib.diffusion.q_sample; alpha-bar at t = 300 is {alphas_cumprod[300]:.4f}")

# %% [markdown]
# Equal numbers prove the two codes agree, not that the *maths* is right. For that we go back to the slow way:
# 40 copies of one digit, each noised step by step to t = 299, and compare every pixel's mean and spread across the
# copies with the closed form. Sampling noise makes a mean wander by about std / sqrt(40) (one "standard error"), so
# we measure the gaps in those units: if the closed form is right, they behave like draws from N(0, 1). And every
# noisy pixel value, standardized by its closed-form mean and std, should look like a draw from N(0, 1) too.

# %%
n, t = 40, 299
x = x0[:1].repeat(n, 1, 1, 1)
for s in range(t + 1):
    x = noise_step(x, betas[s].item())
mean, std = diffusion.forward_moments(x0[:1], t, betas)  # closed form: sqrt(ab) x0 and sqrt(1 - ab)
gap = (x.mean(0) - mean[0]) / (std / math.sqrt(n))        # mean gaps, in standard errors
spread = (x.std(0) / std).mean().item()
print(f"t = {t}: largest mean gap {gap.abs().max():.2f} standard errors over 784 pixels; mean squared gap "
      f"{gap.pow(2).mean():.3f} (1 for pure sampling noise); spread / closed-form std = {spread:.3f}")
assert gap.abs().max() < 4.5 and 0.8 < gap.pow(2).mean() < 1.2 and abs(spread - 1) < 0.03

z = ((x - mean) / std).flatten().cpu()                     # all 40 x 784 values, standardized
grid = torch.linspace(-4, 4, 200)
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.hist(z.numpy(), bins=80, range=(-4, 4), density=True, alpha=0.6, label=f"{len(z):,} step-by-step pixel values")
ax.plot(grid.numpy(), (torch.exp(-grid ** 2 / 2) / math.sqrt(2 * math.pi)).numpy(), "k--", label="N(0, 1)")
ax.set(title=f"Iterated noising at t = {t}, standardized by q(x_t | x_0)", xlabel="(x_t - mean) / std",
       ylabel="density")
ax.legend(fontsize=8)
plt.show()
print(f"standardized values: mean {z.mean():.3f}, std {z.std():.3f}")
assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03


# %% [markdown]
# Background and ink pixels alike, the step-by-step values fall on the standard bell curve once the closed form's
# mean and std are taken out, and the gap statistics are those of pure sampling noise. From now on we jump to any t
# in one line with `diffusion.q_sample`, which also takes one t per image, as training will.
#
# ## 3. Two schedules: linear and cosine
#
# How fast should the signal fade? Nichol & Dhariwal (2021) noticed that the linear schedule destroys small images
# too early: much of the chain is spent on images that are already pure noise. Their **cosine schedule** sets
# alpha-bar directly,
#
#   ᾱ_t = f(t + 1) / f(0),  f(u) = cos²(π/2 · (u/T + s) / (1 + s)),  s = 0.008,
#
# and takes β_t = 1 − ᾱ_t / ᾱ_{t−1}, clipped at 0.999 because the last ᾱ would be exactly 0 (a step that erases
# everything is a division by zero for a sampler). We build it and compare.

# %%
def my_cosine_alphas_cumprod(T, s=0.008):
    f = lambda u: torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    u = torch.arange(1, T + 1, dtype=torch.float64) / T
    return f(u) / f(torch.tensor(0.0, dtype=torch.float64))


ab_cos_ideal = my_cosine_alphas_cumprod(T)
torch.testing.assert_close(ab_cos_ideal, diffusion.cosine_alphas_cumprod(T))
previous = torch.cat([torch.ones(1, dtype=torch.float64), ab_cos_ideal[:-1]])
betas_cos = (1 - ab_cos_ideal / previous).clamp(max=0.999)
torch.testing.assert_close(betas_cos, diffusion.cosine_betas(T))

schedules = {"linear": diffusion.alphas_cumprod(betas), "cosine": diffusion.alphas_cumprod(betas_cos)}
print(f"alpha-bar at the last step: linear {schedules['linear'][-1]:.2e}, cosine {schedules['cosine'][-1]:.2e} "
      f"(the unclipped cosine curve: {ab_cos_ideal[-1]:.0e})")

# %% [markdown]
# Alpha-bar says how much signal is left; the **signal-to-noise ratio** SNR(t) = ᾱ_t / (1 − ᾱ_t) compares the
# signal's variance with the noise's (for data of unit variance). It spans many orders of magnitude, so we plot it
# on a log scale. SNR = 1 (dashed) is where signal and noise are equally strong.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for name, ab in schedules.items():
    axes[0].plot(ab.numpy(), label=name)
    axes[1].plot(diffusion.snr(ab).numpy(), label=name)
axes[0].set(title="Signal left: alpha-bar_t", xlabel="timestep t", ylabel="alpha-bar_t")
axes[1].set(title="Signal-to-noise ratio", xlabel="timestep t", ylabel="SNR(t) = ab / (1 - ab)", yscale="log")
axes[1].axhline(1, color="gray", ls="--", lw=1)
for ax in axes:
    ax.legend(); ax.grid(alpha=0.3)
plt.show()

cross = {name: int((diffusion.snr(ab) < 1).nonzero()[0]) for name, ab in schedules.items()}
lost = {name: (diffusion.snr(ab) < 0.01).float().mean().item() for name, ab in schedules.items()}
for name in schedules:
    print(f"{name:6s}: SNR falls below 1 at t = {cross[name]}; {lost[name]:.1%} of the steps have SNR < 0.01")
assert cross["linear"] < T / 3 and cross["cosine"] > 0.45 * T            # well before / almost at the middle
assert 0.3 < lost["linear"] < 0.36 and lost["linear"] > 3 * lost["cosine"]  # about a third, several times more

# %% [markdown]
# The linear schedule's SNR plunges early: it crosses 1 well before the middle of the chain and spends about a third
# of its steps below SNR 0.01, where the signal's standard deviation is under a tenth of the noise's. The cosine
# schedule's log-SNR falls almost in a straight line through the middle and wastes far fewer steps. Here is the same
# digit, with the same noise, under both.

# %%
one = x0[:1].expand(len(shown), -1, -1, -1)
same_noise = torch.randn_like(x0[:1]).expand(len(shown), -1, -1, -1)
t_batch = torch.tensor(shown)                            # one timestep per image
rows = [diffusion.q_sample(one, t_batch, ab, same_noise) for ab in schedules.values()]
fig, ax = plt.subplots(figsize=(7, 2.3))
viz.show_images(to_pixels(torch.cat(rows)), nrow=len(shown), ax=ax,
                title="Same digit and noise at t = " + ", ".join(map(str, shown)) + ": linear (top), cosine (bottom)")
plt.show()

# %% [markdown]
# Under the cosine schedule the digit is still plain at t = 300 and a clear ghost remains at t = 500, where the linear
# schedule's is barely visible.
#
# ## 4. How long does a digit survive?
#
# "Readable" can be measured. The best guess of a digit from a noisy image, if all we know of each class is its
# average image m_c, picks the class whose noised template sqrt(ᾱ_t) m_c is nearest to x_t. Its accuracy on 500
# validation digits, every 50 steps, shows when the identity of the digit is lost (chance is 10%).

# %%
val_images, val_labels = load_mnist("val")
val, val_y = (val_images[:500] * 2 - 1).to(device), val_labels[:500].to(device)
templates = torch.stack([data[labels == c].mean(0) for c in range(10)]).flatten(1).to(device)


def template_accuracy(ab, t):
    noise = torch.randn(val.shape, generator=torch.Generator().manual_seed(t)).to(device)
    xt = diffusion.q_sample(val, t, ab, noise)
    guess = torch.cdist(xt.flatten(1), ab[t].sqrt().item() * templates).argmin(1)
    return (guess == val_y).float().mean().item()


ts = list(range(0, T, 50)) + [T - 1]
acc = {name: [template_accuracy(ab, t) for t in ts] for name, ab in schedules.items()}
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, a in acc.items():
    ax.plot(ts, a, marker=".", label=name)
ax.axhline(0.1, color="gray", ls="--", lw=1, label="chance")
ax.set(title="Which digit is it? Nearest noised class template", xlabel="timestep t", ylabel="accuracy")
ax.legend(); ax.grid(alpha=0.3)
plt.show()
gone = {name: next(t for t, v in zip(ts, a) if v < 0.2) for name, a in acc.items()}
print(f"clean accuracy {acc['linear'][0]:.0%}; accuracy first below 20% at t = {gone['linear']} (linear) "
      f"and t = {gone['cosine']} (cosine)")
assert 0.7 < acc["linear"][0] < 0.82 and gone["cosine"] - gone["linear"] >= 200
assert max(acc["linear"][-1], acc["cosine"][-1]) < 0.2

# %% [markdown]
# The template guesser is crude (about three in four right on clean digits), yet it tells the story: under the linear
# schedule the class is gone a few hundred steps before it is under the cosine one. For the model we train in
# notebook 14 this means a larger share of the cosine chain carries information worth learning.
#
# ## 5. The sigma view: noise simply added
#
# Divide x_t by sqrt(ᾱ_t):
#
#   x_t / sqrt(ᾱ_t) = x_0 + σ_t ε,  σ_t = sqrt((1 − ᾱ_t) / ᾱ_t) = 1 / sqrt(SNR(t)).
#
# In this view nothing shrinks: noise of standard deviation σ is *added* to the clean image, and σ grows from near
# 0 to very large. Karras et al. (2022) describe every diffusion model this way, and the samplers in notebook 15
# (Euler, Heun, DPM++ 2M — "DPM++ 2M Karras" in Stable Diffusion's menus) take their steps in σ.

# %%
sigmas = {name: diffusion.sigmas_from_alphas_cumprod(ab) for name, ab in schedules.items()}
for name, ab in schedules.items():
    torch.testing.assert_close(sigmas[name], ((1 - ab) / ab).sqrt())
    torch.testing.assert_close(diffusion.snr(ab), 1 / sigmas[name] ** 2)
    torch.testing.assert_close(diffusion.alphas_cumprod_from_sigmas(sigmas[name]), ab)
    print(f"{name:6s}: sigma runs from {sigmas[name][0]:.4f} (t = 0) to {sigmas[name][-1]:,.0f} (t = {T - 1})")

t, eps = 300, torch.randn_like(x0)
xt = diffusion.q_sample(x0, t, schedules["linear"], eps)
scaled = xt / schedules["linear"][t].sqrt().item()
torch.testing.assert_close(scaled, x0 + sigmas["linear"][t].item() * eps)
print(f"at t = {t}: x_t / sqrt(alpha-bar) == x_0 + sigma eps with sigma = {sigmas['linear'][t]:.3f}")


# %% [markdown]
# The same process, two coordinate systems: ᾱ for training, σ for the fast samplers. The cosine schedule reaches an
# enormous σ at its last, clipped step; that is the price of ending at (almost) pure noise.
#
# ## 6. Explore: move t
#
# The slider redraws the three digits at any timestep under both schedules, with the histogram of all their pixel
# values. (Where widgets do not render you see t = 250.)

# %%
def draw(t):
    fig, axes = plt.subplots(1, 2, figsize=(9, 3), gridspec_kw={"width_ratios": [1, 1.1]})
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0)).to(device)
    noisy = [diffusion.q_sample(x0, t, ab, noise) for ab in schedules.values()]
    viz.show_images(to_pixels(torch.cat(noisy)), nrow=len(x0), title=f"t = {t}: linear (top), cosine (bottom)",
                    ax=axes[0])
    for (name, ab), img in zip(schedules.items(), noisy):
        axes[1].hist(img.flatten().cpu().numpy(), bins=60, range=(-4, 4), density=True, alpha=0.5,
                     label=f"{name}, SNR {diffusion.snr(ab)[t]:.3g}")
    grid = torch.linspace(-4, 4, 200)
    axes[1].plot(grid.numpy(), (torch.exp(-grid ** 2 / 2) / math.sqrt(2 * math.pi)).numpy(), "k--", label="N(0, 1)")
    axes[1].set(title="All pixel values", xlabel="pixel value", ylabel="density")
    axes[1].legend(fontsize=8)


viz.slider_plot(draw, t=(0, T - 1, 1, 250))


# %% [markdown]
# At t = 250 the linear schedule (SNR about 1, in the legend) has smeared the pixels into one broad hump, while under
# the cosine schedule (SNR about 5) the background still forms a sharp peak near −1 with a tail of ink. Slide t to
# 999 and both histograms become the dashed standard normal curve.
#
# ## 7. Looking ahead: running the process backwards
#
# To generate, we must go from noise at t = 999 back to an image, one step at a time. If we knew the clean image x_0,
# the step back would be exact: by Bayes' rule, q(x_{t−1} | x_t, x_0) ∝ q(x_{t−1} | x_0) · q(x_t | x_{t−1}) is a
# product of two Gaussians in x_{t−1}, hence a Gaussian whose precision is the sum of the two precisions. We work it
# out by hand and check it against `diffusion.posterior_mean_variance`.

# %%
def my_posterior(x0, xt, t):
    beta, ab_prev = betas[t].item(), alphas_cumprod[t - 1].item()
    prior_mean, prior_var = math.sqrt(ab_prev) * x0, 1 - ab_prev     # q(x_{t-1} | x_0)
    precision = 1 / prior_var + (1 - beta) / beta                   # q(x_t | x_{t-1}) read as a function of x_{t-1}
    mean = (prior_mean / prior_var + math.sqrt(1 - beta) * xt / beta) / precision
    return mean, 1 / precision


t, eps = 300, torch.randn_like(x0)
xt = diffusion.q_sample(x0, t, alphas_cumprod, eps)
mean, var = my_posterior(x0, xt, t)
lib_mean, lib_var = diffusion.posterior_mean_variance(x0, xt, t, betas)
torch.testing.assert_close(mean, lib_mean, rtol=1e-4, atol=1e-5)
assert math.isclose(var, lib_var.item(), rel_tol=1e-5)
print(f"Bayes by hand == genlib; at t = {t} the step back has std {math.sqrt(var):.4f} "
      f"(the forward step's noise: sqrt(beta) = {betas[t].sqrt():.4f})")

# %% [markdown]
# The catch: the mean needs x_0, the very image we want to make. But the closed form ties them together:
# x_0 = (x_t − sqrt(1 − ᾱ_t) ε) / sqrt(ᾱ_t), so a model that **predicts the noise ε** in x_t predicts x_0 too.
# DDPM trains a network ε_θ(x_t, t) to do exactly that, with the loss ‖ε − ε_θ(x_t, t)‖² on images noised by
# `q_sample` (notebook 14). `genlib.diffusion.sample` then walks the chain back with any such predictor.
#
# How good must the predictor be? Try the best one that needs no learning. Model each pixel as an independent
# Gaussian with the data's per-pixel mean μ and standard deviation s. Then x_t and ε are jointly Gaussian, and the
# best guess of the noise is a straight line in x_t:
#
#   ε*(x_t, t) = sqrt(1 − ᾱ_t) (x_t − sqrt(ᾱ_t) μ) / (ᾱ_t s² + 1 − ᾱ_t).
#
# We hand it to DDPM's 1000-step ancestral sampler.

# %%
mu, s = data.mean(0).to(device), data.std(0).to(device)


def pixel_gaussian_eps(x, t):  # the exact noise predictor if pixels were independent Gaussians
    ab = alphas_cumprod[t.cpu()].float().to(device).view(-1, 1, 1, 1)
    return (1 - ab).sqrt() * (x - ab.sqrt() * mu) / (ab * s ** 2 + 1 - ab)


out = diffusion.sample(pixel_gaussian_eps, (32, 1, 28, 28), "ddpm", steps=1000, alphas_cumprod=alphas_cumprod,
                       generator=torch.Generator().manual_seed(0), device=device, progress=False)
var_ratio = (out.x.var(0).mean() / s.pow(2).mean()).item()
print(f"{out.nfe} model calls; sample mean vs mu: mean |gap| {(out.x.mean(0) - mu).abs().mean():.3f}; "
      f"pixel variance / data variance = {var_ratio:.3f}")
assert out.nfe == 1000 and 0.85 < var_ratio < 1.15 and (out.x.mean(0) - mu).abs().mean() < 0.1

fig, axes = plt.subplots(2, 1, figsize=(9, 2.4))
viz.show_images(to_pixels(out.x[:16]), nrow=16, title="DDPM samples with the exact predictor for independent pixels",
                ax=axes[0])
viz.show_images(to_pixels(data[:16]), nrow=16, title="real training digits", ax=axes[1])
plt.show()

# %% [markdown]
# The sampler did its job exactly: the samples have the per-pixel mean and spread of the data, as the numbers show.
# But a world of independent pixels is a speckled cloud in the shape of an average digit: no strokes, because
# nothing tells neighbouring pixels to agree. Everything that makes a digit a digit has to come from a better noise
# predictor, one that looks at the whole image. That is the U-Net of notebook 14.
#
# ## Summary
#
# - The forward process adds a little Gaussian noise per step, x_t = sqrt(1 − β_t) x_{t−1} + sqrt(β_t) ε; after T
#   steps only standard normal noise is left (we measured mean 0, std 1).
# - Gaussian steps compose, so q(x_t | x_0) = N(sqrt(ᾱ_t) x_0, (1 − ᾱ_t) I): any t in one line. We checked the closed
#   form against 40 step-by-step runs, pixel by pixel.
# - The schedule decides how fast information fades. The linear schedule spends about a third of its steps at
#   SNR < 0.01; the cosine schedule keeps the digit recognisable hundreds of steps longer.
# - The sigma view x_t / sqrt(ᾱ_t) = x_0 + σ ε with σ = 1/sqrt(SNR) is the same process, the one fast samplers use.
# - The exact reverse step needs x_0; predicting the noise is predicting x_0. With a predictor that only knows
#   per-pixel statistics, DDPM faithfully produces those statistics and no digits: the network is the whole game.

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. *(easy)* At which timestep does each schedule's SNR fall below 1? Read it off the figure, then compute it.

# %% tags=["exercise"]
# Exercise 1: for each schedule in schedules, print the first timestep where diffusion.snr(alpha_bar) < 1.

# %% [markdown] tags=["exercise"]
# 2. *(change the code)* Stable Diffusion uses a "scaled linear" schedule:
#    β = linspace(sqrt(0.00085), sqrt(0.012), 1000)². Add it to `schedules`, re-run the plots, and find its
#    alpha-bar at the last step. What does it mean for the sampler's starting point?

# %% tags=["exercise"]
# Exercise 2: add schedules["scaled linear (SD)"], the alpha-bar of betas linspace(sqrt(0.00085), sqrt(0.012), T)**2
# (float64), re-run the plots, and print its alpha-bar at the last step.

# %% [markdown] tags=["exercise"]
# 3. *(open question)* Training only ever shows the model noisy images x_t from q(x_t | x_0); sampling starts from
#    pure noise N(0, I). When the schedule's last ᾱ is not (almost) zero, what could go wrong?

# %% [markdown] tags=["solution"]
# <details><summary>Solution</summary>
#
# 1. ```python
#    for name, ab in schedules.items():
#        print(name, int((diffusion.snr(ab) < 1).nonzero()[0]))
#    ```
#    t = 259 for the linear schedule and t = 496 for the cosine one:
#    the cosine schedule keeps signal stronger than noise for almost half the chain.
# 2. ```python
#    sd_betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, T, dtype=torch.float64) ** 2
#    schedules["scaled linear (SD)"] = diffusion.alphas_cumprod(sd_betas)
#    print(schedules["scaled linear (SD)"][-1])
#    ```
#    Its last alpha-bar is about 0.0047 (SNR crosses 1 at t = 354),
#    against 4.0e-05 for DDPM's linear schedule: at t = 999 the image is still present at
#    sqrt(alpha-bar) ≈ 0.068 of its amplitude (DDPM's: 0.006),
#    so the true x_999 is not quite the pure noise a sampler starts from. Exercise 3 asks what that costs.
# 3. The model never saw an input with *no* signal at t = 999, yet sampling gives it exactly that. It then behaves
#    as if a trace of the image (in particular its overall brightness, the lowest frequency, which survives longest)
#    were there, and keeps the mean brightness near the middle: Stable Diffusion famously struggled to make very
#    dark or very bright images. Lin et al. (2024), "Common diffusion noise schedules and sample steps are flawed",
#    rescale the schedule to zero terminal SNR (and predict velocity instead of noise so the last step stays
#    well-defined). DDPM's linear and the clipped cosine schedule leave so little signal that the gap is negligible.
# </details>
