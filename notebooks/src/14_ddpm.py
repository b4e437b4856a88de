# %% [markdown]
# # 14 · DDPM: learning to remove noise
#
# **The idea:** notebook 13 destroyed digits with noise, step by step, and showed that the way back needs one thing:
# a good guess of the noise in a noisy image. Here we train a neural network to make that guess, a **U-Net**
# ε_θ(x_t, t), and then generate digits from pure noise by removing the predicted noise a little at a time, 1000
# times. This is **DDPM**, the denoising diffusion probabilistic model of Ho, Jain & Abbeel (2020): the method
# underneath DALL-E 2, Imagen and Stable Diffusion. Notebook 15 then tries to make sampling 20–50 times faster.
#
# **Learning objectives.** After this notebook you can
# - write DDPM's training objective (predict the noise, score it by mean squared error) and check it against `genlib`;
# - name the parts of a diffusion U-Net: time embedding, residual blocks, self-attention, skip connections;
# - train the noise predictor for a minute, read its loss curve, then load the shipped, longer-trained weights;
# - say why the shipped network predicts the "velocity" v instead of the noise, and turn v back into noise;
# - write the 1000-step ancestral sampler as a plain loop, prove it equals the library's, and watch a digit emerge;
# - measure the samples with FID next to the real-data floor, and say what a small N does to the number.
#
# **Prerequisites.** Notebook 13 (the forward process, q(x_t | x_0), the posterior q(x_{t−1} | x_t, x_0)); notebook 05
# (self-attention); notebook 11 (FID and the real floor).
#
# **Estimated time.** 50 minutes; one to two minutes to run on a laptop CPU (the 1000-step loop is most of it).

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
import inspect
import math
import torch
import torch.nn.functional as F
import matplotlib.pyplot as plt
from tqdm.auto import tqdm
from genlib.device import describe, get_device, pick, seed_everything
from genlib.data import load_mnist
from genlib.train import cosine_lr, train
from genlib.checkpoints import load_or_train, read_manifest
from genlib import diffusion, metrics, viz
from genlib.diffusion.ddpm import noise_prediction_loss, sample_images
from genlib.image import unet as U

seed_everything(0)
device = get_device()
print(describe())

images, labels = load_mnist("train")
data = (images * 2 - 1).to(device)                     # pixels in [-1, 1], as in notebook 13
T = 1000
betas = diffusion.linear_betas(T)                      # Ho et al.'s linear schedule, 1e-4 ... 0.02
alphas_cumprod = diffusion.alphas_cumprod(betas)       # alpha-bar_t, float64


def to_pixels(x):
    return ((x + 1) / 2).clamp(0, 1).cpu()


# %% [markdown]
# ## 1. The objective: guess the noise
#
# Training needs no sampling at all. Take a clean digit x_0, a random timestep t and fresh noise ε, jump to the
# noisy x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε in one line (notebook 13), and ask the network for ε:
#
#   L_simple = E_{x_0, t, ε} ‖ε − ε_θ(x_t, t)‖².
#
# Ho et al. derived it from the variational bound (the ELBO of notebook 11) and then dropped the bound's weights
# per t, because the unweighted version trained better. Why is guessing noise enough? Because x_t and ε together
# determine x_0: x̂_0 = (x_t − sqrt(1 − ᾱ_t) ε̂) / sqrt(ᾱ_t). We write the loss and check it against the library's.

# %%
def my_loss(model, x0, t, noise):
    ab = alphas_cumprod[t].float().to(x0.device).view(-1, 1, 1, 1)   # alpha-bar of each image's t
    xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    return ((model(xt, t.to(x0.device)) - noise) ** 2).mean()


model = U.UNet().to(device)
x0 = data[:16]
t = torch.randint(0, T, (16,), generator=torch.Generator().manual_seed(0))
noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1)).to(device)
ours = my_loss(model, x0, t, noise)
lib = noise_prediction_loss(model, x0, alphas_cumprod, t=t, noise=noise)
torch.testing.assert_close(ours, lib)
print(f"hand-written loss == genlib's: {ours.item():.4f} for a fresh U-Net (it predicts zero noise, so about "
      f"E[eps^2] = {noise.pow(2).mean().item():.4f})")
assert abs(ours.item() - noise.pow(2).mean().item()) < 1e-6


# %% [markdown]
# A freshly built U-Net scores exactly the mean of ε², because its last layer starts at zero: it predicts "no
# noise". Every bit of learning shows as a loss below that.
#
# ## 2. The U-Net, part by part
#
# The noise predictor must return an image the size of its input, see the whole digit (a stroke's noise depends
# on where the rest of the digit is), and know how noisy its input is. The U-Net of Ronneberger et al. (2015),
# adapted by Ho et al., does all three; ours is the same design, shrunk to train on a CPU.
#
# **Telling it t.** The timestep enters through a **sinusoidal embedding**, the positional encoding of
# transformers: sines and cosines of t at geometrically spaced frequencies. It is smooth in t, which matters in
# notebook 15, where fast samplers ask the network about fractional timesteps such as t = 512.7.

# %%
def my_timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half) / half)      # 1 down to almost 1/10000
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


ts = torch.arange(0, T, 10)
emb = my_timestep_embedding(ts, 128)
torch.testing.assert_close(emb, U.timestep_embedding(ts, 128))
fig, ax = plt.subplots(figsize=(6, 2.6))
ax.imshow(emb.T.numpy(), aspect="auto", cmap="RdBu", extent=(0, T, 128, 0), interpolation="nearest")
ax.set(title="Sinusoidal time embedding (128 numbers per timestep)", xlabel="timestep t", ylabel="embedding dimension")
plt.show()

# %% [markdown]
# The first dimensions oscillate fast (they tell neighbouring timesteps apart), the last ones slowly (they say
# roughly where in the chain we are): together they give every t its own smooth fingerprint. A small MLP turns
# it into the vector each residual block adds to its features. Here is that block, straight from `genlib`:

# %%
print(inspect.getsource(U.ResBlock.forward))

# %% [markdown]
# GroupNorm (normalization over groups of channels, which works with any batch size), the SiLU activation, a 3 × 3
# convolution, *add the time embedding*, again, and a shortcut around it all. At the lowest resolution a
# **self-attention** layer (notebook 05, with the 7 × 7 = 49 positions as the tokens) lets every part of the digit
# see every other part:

# %%
print(inspect.getsource(U.SelfAttention.forward))

# %% [markdown]
# The whole network goes *down* (halving the resolution, doubling the channels), through the attention in the
# middle, and back *up*, and each level of the way up receives the features of the same level of the way down: the
# **skip connections** that give the "U" its fine detail. To make the CPU's life easier, our U-Net first folds each
# 2 × 2 block of pixels into 4 channels (`pixel_unshuffle`, the "patchify" step of DiT and U-ViT), so it works at
# 14 × 14 and 7 × 7 instead of 28 × 28 and 14 × 14: a quarter of the positions. Hooks print the shapes on the way.

# %%
shapes = []
hooks = [m.register_forward_hook(lambda m, i, o, name=name: shapes.append((name, tuple(o.shape))))
         for name, m in model.named_children() if name in ("conv_in", "mid_attn", "conv_out")]
hooks += [b.register_forward_hook(lambda m, i, o, name=f"{part}[{k}]": shapes.append((name, tuple(o.shape))))
          for part in ("down", "up") for k, b in enumerate(getattr(model, part))]
with torch.no_grad():
    out = model(data[:2], torch.tensor([10, 500], device=device))
for h in hooks:
    h.remove()
for name, shape in shapes:
    print(f"{name:9s} -> {shape}")
print(f"output {tuple(out.shape)}: the input's shape. {U.count_parameters(model):,} parameters "
      f"({U.count_parameters(model) * 4 / 1e6:.1f} MB as float32); {model.config}")
assert out.shape == data[:2].shape

# %% [markdown]
# Down: 4 folded channels at 14 × 14 become 32 features, then 64 at 7 × 7, where attention works; up: back to 32 at
# 14 × 14, and the last layer returns 4 channels that unfold into the 1 × 28 × 28 noise prediction. (Ho et al.'s
# CIFAR-10 U-Net has 35.7M parameters; ours, half a million, trains on a laptop.)
#
# ## 3. Training: a short visible run
#
# The genlib trainer runs the loop of notebook 02 with the loss of section 1: a random batch of digits, random t,
# fresh noise, one AdamW step.

# %%
steps, batch_size = pick(30, 3000), pick(32, 128)
g = torch.Generator().manual_seed(0)


def batch():
    return data[torch.randint(len(data), (batch_size,), generator=g).to(device)]


def loss_fn(model, x0):
    return noise_prediction_loss(model, x0, alphas_cumprod, generator=g)


seed_everything(0)
model = U.UNet().to(device)
history = train(model, loss_fn, batch, steps=steps, lr=2e-3, grad_clip=1.0,
                lr_schedule=lambda p: cosine_lr(p, warmup=5 / steps))
print(f"{steps} steps of {batch_size} digits: loss {history.loss[0]:.3f} -> "
      f"{sum(history.loss[-5:]) / 5:.3f} (mean of the last 5)")
assert sum(history.loss[-5:]) / 5 < 0.6 * history.loss[0]

# %% [markdown]
# The loss falls fast at first: the easy part is predicting the noise at large t, where x_t is almost all noise
# (there ε ≈ x_t). The hard part, finding the noise at small t where it hides among the strokes, takes far longer.
#
# `scripts/train_ddpm.py` trains the same U-Net for an hour with two changes. It keeps an **exponential moving
# average** (EMA) of the weights, w_ema ← 0.999 w_ema + 0.001 w after every step: a smoothed model that samples much
# better than the last step's noisy weights. And it asks the network for a different target.
#
# ### Predicting v instead of ε
#
# Whatever the network predicts, a sampler needs the clean image it implies, x̂_0 = (x_t − sqrt(1 − ᾱ_t) ε̂) / sqrt(ᾱ_t).
# That formula multiplies any error in ε̂ by σ_t = sqrt((1 − ᾱ_t) / ᾱ_t), about **157** at t = 999: there an
# ε-network must copy its input almost exactly, and its small slips become wild guesses of the digit. Salimans & Ho
# (2022) ask instead for the **velocity** v = sqrt(ᾱ_t) ε − sqrt(1 − ᾱ_t) x_0. The noise follows from it,
#
#   ε̂ = sqrt(1 − ᾱ_t) x_t + sqrt(ᾱ_t) v̂,
#
# and at large t the first term, which needs no learning, is nearly all of it. The samplers still get a noise
# predictor: `genlib.diffusion.ddpm.EpsFromV` wraps the v-network with that line. We check the algebra on real
# digits with the exact v, at integer and in-between timesteps (the fast samplers of notebook 15 use both).

# %%
from genlib.diffusion.ddpm import EpsFromV, as_noise_predictor, v_prediction_loss, v_target

x0, eps = data[:6], torch.randn(data[:6].shape, generator=g).to(device)
t = torch.tensor([0, 10, 300, 700, 990, 999])
xt = diffusion.q_sample(x0, t, alphas_cumprod, eps)
a = alphas_cumprod[t].float().reshape(-1, 1, 1, 1).to(device)
v = a.sqrt() * eps - (1 - a).sqrt() * x0                       # the velocity, by hand
torch.testing.assert_close(v, v_target(x0, t, alphas_cumprod, eps))
torch.testing.assert_close((1 - a).sqrt() * xt + a.sqrt() * v, eps)  # the noise comes back exactly
wrapped = EpsFromV(lambda x, tt: v, alphas_cumprod)            # an oracle "network" that knows v
torch.testing.assert_close(wrapped(xt, t), eps, rtol=1e-5, atol=1e-5)
torch.testing.assert_close(wrapped(xt, t.float() + 0.0), eps, rtol=1e-5, atol=1e-5)
know_nothing = EpsFromV(lambda x, tt: torch.zeros_like(x), alphas_cumprod)(xt, t)
print("noise MSE of a v-network that predicts 0, by t:",
      {int(tt): round((know_nothing[i] - eps[i]).pow(2).mean().item(), 4) for i, tt in enumerate(t)})

# %% [markdown]
# A v-network that knows nothing already predicts the noise at t = 999 to within 0.0001; an ε-network starts from
# an error of 1 there and must learn the identity. Now the shipped, v-predicting U-Net: we load it, hash-checked
# (`load_or_train` would fall back to training here if the file were missing), and wrap it.

# %%
entry = read_manifest().get("ddpm_mnist")
prediction = entry["settings"].get("prediction", "eps") if entry else "v"
net = U.UNet(entry["settings"]["model"] if entry else None).to(device)
shipped_loss = v_prediction_loss if prediction == "v" else noise_prediction_loss


def train_fallback(m):  # used only if the checkpoint is missing: a longer run of the same loop
    train(m, lambda m_, x: shipped_loss(m_, x, alphas_cumprod, generator=g), batch, steps=pick(600, 20000),
          lr=2e-3, grad_clip=1.0)


status = load_or_train("ddpm_mnist", net, train_fallback)
net.eval().requires_grad_(False)
shipped = as_noise_predictor(net, alphas_cumprod, prediction)   # EpsFromV(net) for v: noise either way
print(f"shipped U-Net ({prediction}-prediction): {status}")
if status == "loaded":
    s = entry["settings"]
    print(f"trained {s['steps']:,} steps of {s['batch_size']} digits in {entry['train_seconds'] / 60:.0f} minutes "
          f"({entry['device']}), {s['schedule']} schedule, T = {s['timesteps']}, EMA decay {s['ema_decay']}")
    curve = entry["loss_curve"]                          # [step, mean loss of the 100 steps up to it]
    ax = viz.loss_curves({"shipped run (mean of 100 steps)": ([c[0] - 50 for c in curve], [c[1] for c in curve])},
                         title=f"The shipped run's training loss ({prediction}-prediction MSE)",
                         xlabel="optimizer step (log scale)", ylabel="loss")
    ax.set_xscale("log")
    plt.show()
    print(f"shipped run: loss {curve[1][1]:.3f} around step {curve[1][0]}, {curve[-1][1]:.3f} at the end")
    assert curve[-1][1] < 0.8 * curve[1][1]

# %% [markdown]
# The v-loss is not on the ε-loss's scale (at large t, v is mostly −x_0, and guessing a whole digit from noise is
# harder than copying noise), so compare shapes, not heights: the same plunge, then thousands of steps of slow
# creep. It never approaches 0: at every t some of the answer is genuinely unpredictable.
#
# ## 4. Sampling: 1000 small steps back
#
# Notebook 13 found the exact reverse step when x_0 is known: q(x_{t−1} | x_t, x_0) is Gaussian with
# variance β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t). DDPM plugs in the predicted x̂_0; Ho et al. wrote the resulting mean
# directly in terms of the predicted noise:
#
#   x_{t−1} = (x_t − β_t / sqrt(1 − ᾱ_t) · ε_θ(x_t, t)) / sqrt(1 − β_t) + sqrt(β̃_t) z,  z ~ N(0, I),
#
# with no noise added at the very last step. Start from pure noise x_999 ~ N(0, I), apply it 1000 times. That is the
# whole sampler, written as a plain loop:

# %%
ab_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])   # alpha-bar_{t-1}


def ddpm_step(x, t, eps, z):
    beta, ab = betas[t].item(), alphas_cumprod[t].item()
    mean = (x - beta / math.sqrt(1 - ab) * eps) / math.sqrt(1 - beta)
    if t == 0:
        return mean                                      # the last step adds no noise
    var = beta * (1 - ab_prev[t].item()) / (1 - ab)      # beta-tilde, the posterior variance
    return mean + math.sqrt(var) * z


def ddpm_sample(model, x_T, generator, keep_every=None):
    x, kept = x_T, {}
    for t in tqdm(range(T - 1, -1, -1), desc="DDPM, 1000 steps", leave=False):
        eps = model(x, torch.full((len(x),), t, device=x.device))
        if keep_every and t % keep_every == 0 or t == T - 1:
            ab = alphas_cumprod[t].item()
            kept[t] = (x.cpu(), ((x - math.sqrt(1 - ab) * eps) / math.sqrt(ab)).cpu())   # x_t and predicted x_0
        z = torch.randn(x.shape, generator=generator).to(x.device) if t > 0 else None
        x = ddpm_step(x, t, eps, z)
    return x, kept


# %% [markdown]
# **Prove it.** The library's `diffusion.sample(..., "ddpm", 1000)` writes the same step the other way round, as
# the posterior mean c₀ x̂_0 + c_t x_t. To compare the two loops over all 1000 steps cheaply we hand both the same
# starting noise, the same random generator, and a stand-in noise predictor that costs nothing (the per-pixel
# Gaussian predictor from the end of notebook 13). Then we check a single step with the U-Net itself against
# `diffusion.posterior_mean_variance` fed the predicted x̂_0.

# %%
mu, s = data.mean(0), data.std(0)


def pixel_gaussian_eps(x, t):
    ab = alphas_cumprod[t.cpu()].float().to(x.device).view(-1, 1, 1, 1)
    return (1 - ab).sqrt() * (x - ab.sqrt() * mu) / (ab * s ** 2 + 1 - ab)


x_T = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(0)).to(device)
ours, _ = ddpm_sample(pixel_gaussian_eps, x_T, torch.Generator().manual_seed(1))
lib = diffusion.sample(pixel_gaussian_eps, x_T.shape, "ddpm", 1000, alphas_cumprod=alphas_cumprod, x_T=x_T,
                       generator=torch.Generator().manual_seed(1), progress=False)
torch.testing.assert_close(ours, lib.x, rtol=1e-4, atol=1e-4)
print(f"1000 hand-written steps == genlib's ddpm sampler (largest gap {(ours - lib.x).abs().max():.1e}, "
      f"{lib.nfe} model calls)")

t = 500                                                   # one step with the trained U-Net
with torch.no_grad():
    eps = shipped(x_T, torch.full((8,), t, device=device))
z = torch.randn(x_T.shape, generator=torch.Generator().manual_seed(2)).to(device)
x0_hat = (x_T - math.sqrt(1 - alphas_cumprod[t]) * eps) / math.sqrt(alphas_cumprod[t])
mean, var = diffusion.posterior_mean_variance(x0_hat, x_T, t, betas)
torch.testing.assert_close(ddpm_step(x_T, t, eps, z), mean + var.sqrt() * z, rtol=1e-4, atol=1e-4)
print(f"one U-Net step at t = {t} == the posterior q(x_(t-1) | x_t, x0_hat) with std {var.sqrt().item():.4f}")

# %% [markdown]
# Both checks pass: Ho et al.'s form and the posterior form are the same step, and our loop is the library's. Now
# the real thing: the trained U-Net, 1000 steps, keeping x_t and the predicted x̂_0 every 10 steps.

# %%
n_show = pick(3, 8)
x_T = torch.randn(n_show, 1, 28, 28, generator=torch.Generator().manual_seed(3)).to(device)
with torch.no_grad():
    samples, kept = ddpm_sample(shipped, x_T, torch.Generator().manual_seed(4), keep_every=10)
shown = [999, 800, 600, 500, 400, 300, 200, 100, 0]
fig, axes = plt.subplots(2, 1, figsize=(0.6 * len(shown) + 0.4, 1.2 * n_show + 0.9))
viz.show_images(to_pixels(torch.stack([kept[t][0] for t in shown], 1).flatten(0, 1)), nrow=len(shown), ax=axes[0],
                title="x_t at t = " + ", ".join(map(str, shown)))
viz.show_images(to_pixels(torch.stack([kept[t][1] for t in shown], 1).flatten(0, 1)), nrow=len(shown), ax=axes[1],
                title="x0_hat: the U-Net's guess of x_0")
plt.show()
print(f"final samples: pixel values in [{samples.min():.2f}, {samples.max():.2f}]; "
      f"{(samples.abs() > 0.9).float().mean():.0%} of pixels within 0.1 of pure black or white")
assert samples.abs().max() < 1.5 and (samples.abs() > 0.9).float().mean() > 0.6


# %% [markdown]
# Read the bottom panel. At t = 999 and 800 the guess is a grey blur, the average digit: x_t says almost nothing
# about x_0 yet, and the best guess is then the mean (a v-network gets there on its own; an ε-network's guess would
# be speckle, its noise errors magnified about 157 times). Between t = 600 and 400 the digit's shape is decided,
# and the last few hundred steps only sharpen strokes:
# **coarse structure first, detail last**, the order in which notebook 13 saw the forward process destroy them. The
# final pixels are mostly pure black or white, as MNIST's are. Move the slider to see any timestep (the static
# figure shows t = 300).

# %%
def draw(t):
    t = 999 if t >= 995 else int(round(t / 10)) * 10      # the nearest stored timestep
    x_t, x0_guess = kept[t]
    fig, axes = plt.subplots(1, 2, figsize=(7, 1.9))
    viz.show_images(to_pixels(x_t), nrow=min(n_show, 8), ax=axes[0], title=f"x_t at t = {t}")
    viz.show_images(to_pixels(x0_guess), nrow=min(n_show, 8), ax=axes[1], title=f"predicted x0 at t = {t}")


viz.slider_plot(draw, t=(0, 999, 10, 300))

# %% [markdown]
# At t = 300 the digit is hard to make out in the snow of x_t, yet the U-Net's guess is already a clean digit.
#
# ## 5. How good are the samples? FID beside the real floor
#
# FID (notebook 11 explains it, and why our numbers are not on the scale of published FIDs) compares the
# classifier features of samples with those of the 9,000 training digits. FID is biased upwards at small N, and
# noisy there, so the honest comparison is with the **real floor at the same N**: real validation digits scored
# the same way — here four disjoint random sets of N, so we also see how much the score moves by chance alone.
# To keep this notebook quick we draw only a few samples with the library's DDPM sampler (the loop above, proven
# equal) respaced to fewer steps, which notebook 15 explains; the full-size numbers (N = 1,000, DDPM with all
# 1000 steps) come from `benchmarks/sampler_fid.py`, stored in `benchmarks/results/sampler_fid.md`, and the
# shipped model's headline number sits in its manifest entry.

# %%
n_fid, fid_steps = pick(250, 1000), pick(50, 1000)
classifier = metrics.load_fid_classifier(device)
train_features = metrics.classifier_features(images, classifier)
train_stats = metrics.feature_stats(train_features)
val_images, _ = load_mnist("val")
spread = metrics.real_subset_spread(metrics.classifier_features(val_images, classifier), train_features, n_fid,
                                    k=len(val_images) // n_fid)["fid"]    # real digits, disjoint random sets
fake, nfe = sample_images(shipped, alphas_cumprod, n_fid, "ddpm", fid_steps, seed=0, device=device)
blur = metrics.fid(F.avg_pool2d(val_images[:n_fid], 3, 1, 1, count_include_pad=False), train_stats, classifier)
noise_fid = metrics.fid(to_pixels(torch.randn(n_fid, 1, 28, 28)), train_stats, classifier)
fid_ddpm = metrics.fid(fake, train_stats, classifier)
print(f"N = {n_fid}: real floor {min(spread):.1f} to {max(spread):.1f} over {len(spread)} random sets of real digits | "
      f"DDPM ({fid_steps} steps) samples {fid_ddpm:.1f} | blurred real digits {blur:.1f} | pure noise {noise_fid:,.0f}")
assert max(spread) < fid_ddpm < noise_fid / 10   # above chance's whole range for real digits, far below noise
fig, ax = plt.subplots(figsize=(5.5, 1.8))
viz.show_images(fake[:16], nrow=8, ax=ax, title=f"DDPM samples ({fid_steps} steps) from the shipped U-Net")
plt.show()

# %% [markdown]
# The samples sit far closer to the real floor than noise does, but not at the floor, and above the whole range
# that chance gives real digits at this N. The benchmark's larger runs put it in context:

# %%
from pathlib import Path
import genlib

report = Path(genlib.__file__).resolve().parents[1] / "benchmarks" / "results" / "sampler_fid.md"
lines = report.read_text().splitlines()
header = next(l for l in lines if l.startswith("| sampler |"))
col = {name.strip(): i for i, name in enumerate(header.split("|"))}
rows = [l for l in lines if l.startswith("| ddpm |") or l.startswith("| real data")]
print("\n".join([lines[0], header] + rows))
ddpm_fid = {int(r.split("|")[col["steps"]]): float(r.split("|")[col["FID"]]) for r in rows if r.startswith("| ddpm")}
steps_sorted = sorted(ddpm_fid)
assert all(ddpm_fid[a] > ddpm_fid[b] for a, b in zip(steps_sorted, steps_sorted[1:]))   # more steps, lower FID
assert ddpm_fid[10] - ddpm_fid[50] > 5 * (ddpm_fid[50] - ddpm_fid[1000])               # most of the gain by 50
m = entry["metric"]
print(f"manifest: FID {m['value']:.2f} with {m['sampler']} ({m['steps']} steps), N = {m['n']}; "
      f"real floor {m['real_floor_val']:.2f}")

# %% [markdown]
# More steps give a better FID, and DDPM does its best with all 1000 steps, though on this model most of the gain
# is already there at 50. Every FID here is far above the real floor at the same N: a half-million-parameter U-Net
# trained for an hour draws recognisable but imperfect digits. (The manifest's numbers use N = 1,000, so its
# floor is lower: compare FIDs only at equal N.) Notebook 15 asks how few steps other samplers can get away with,
# on this same trained model, including the DPM++ 2M Karras sampler behind the manifest's headline number.
#
# ## Summary
#
# - DDPM trains a network to predict the noise ε in x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε, with the mean squared
#   error ("L_simple") over random t; we wrote it and matched `genlib.diffusion.ddpm.noise_prediction_loss`.
# - The U-Net sees t through a sinusoidal embedding added in every residual block, sees the whole digit through
#   self-attention at 7 × 7, and keeps detail through skip connections; ours has half a million parameters.
# - Training is a plain regression loop; the loss drops fast, then creeps. An EMA of the weights samples better.
# - Predicting v = sqrt(ᾱ_t) ε − sqrt(1 − ᾱ_t) x_0 instead of ε keeps the implied x̂_0 sane at the noisiest steps;
#   one line (`EpsFromV`) turns it back into the noise predictor every sampler expects.
# - Sampling is the exact posterior step of notebook 13 with the predicted x̂_0, 1000 times: our loop equals the
#   library's over all 1000 steps, and one U-Net step equals `posterior_mean_variance`.
# - Structure appears first, detail last. FID must be compared with the real floor at the same N.

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. *(easy)* In the trajectory figure, at which t does the predicted x̂_0 first look like the final digit? Use
#    `kept` to compute the mean absolute difference between `kept[t][1]` and `samples` for each stored t, and plot it.

# %% tags=["exercise"]
# Exercise 1: for each stored t in sorted(kept), compute the mean absolute difference between kept[t][1] (the
# predicted x0, clamped to [-1, 1]) and samples, and plot it against t with labelled axes.

# %% [markdown] tags=["exercise"]
# 2. *(change the code)* Ho et al. found that using β_t instead of β̃_t as the variance of each step works about as
#    well. Change `ddpm_step` to use `var = beta`, sample the same starting noise, and compare the images.

# %% tags=["exercise"]
# Exercise 2: redefine ddpm_step with the variance beta_t instead of beta-tilde_t, sample from the same starting
# noise, and show the images beside the ones above.

# %% [markdown] tags=["exercise"]
# 3. *(open question)* A third choice is to predict x_0 itself. Write the ε̂ that an x̂_0 implies. At which timesteps
#    does a small error in x̂_0 become a large error in ε̂? What do errors in v̂ become, in ε̂ and in x̂_0?

# %% [markdown] tags=["solution"]
# <details><summary>Solution</summary>
#
# 1. ```python
#    ts = sorted(kept)
#    gap = [(kept[t][1].clamp(-1, 1) - samples.cpu()).abs().mean().item() for t in ts]
#    plt.plot(ts, gap)
#    plt.xlabel("timestep t"); plt.ylabel("mean |x0_hat - final|"); plt.title("When is the digit decided?")
#    ```
#    The gap falls fastest between about t = 900 and t = 700, then steadily; by t = 200 it is about a tenth of its
#    starting value. The digit's identity is settled early in the chain, and the last couple of hundred steps
#    polish it.
# 2. ```python
#    def ddpm_step(x, t, eps, z):
#        beta, ab = betas[t].item(), alphas_cumprod[t].item()
#        mean = (x - beta / math.sqrt(1 - ab) * eps) / math.sqrt(1 - beta)
#        return mean if t == 0 else mean + math.sqrt(beta) * z
#    ```
#    The images look alike. β_t and β̃_t differ noticeably only at the first few steps (small t), where
#    β̃_1 = β_1 (1 − ᾱ_0) / (1 − ᾱ_1) is about half of β_1; with 1000 steps each step's noise is tiny either way.
#    Ho et al. report the two choices give similar sample quality; they are the upper and lower bounds on the true
#    reverse variance (Nichol & Dhariwal learn a mix of the two).
# 3. ε̂ = (x_t − sqrt(ᾱ_t) x̂_0) / sqrt(1 − ᾱ_t): an error δ in x̂_0 becomes an error δ / σ_t in ε̂, large at small t
#    (σ_0 ≈ 0.01 on the linear schedule, so about 100 δ), the mirror image of ε-prediction's trouble at large t.
#    With v, ε̂ = sqrt(1 − ᾱ_t) x_t + sqrt(ᾱ_t) v̂ and x̂_0 = sqrt(ᾱ_t) x_t − sqrt(1 − ᾱ_t) v̂, so an error δ in v̂
#    becomes sqrt(ᾱ_t) δ in ε̂ and sqrt(1 − ᾱ_t) δ in x̂_0: never more than δ, at any t. That balance is why
#    Stable Diffusion 2 and many video models predict v (it also stays defined at zero terminal SNR, notebook 13,
#    exercise 3).
# </details>
