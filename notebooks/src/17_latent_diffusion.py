# %% [markdown]
# # 17 · Latent diffusion: denoise a small code, not the pixels
#
# **The idea:** most of what a pixel grid holds is detail the eye barely notices, and a diffusion model pays for
# every pixel at every step. **Latent diffusion** (Rombach et al. 2022, the "LD" of Stable Diffusion) splits the
# job in two: an autoencoder, trained once, squeezes each picture into a small grid of numbers and back; the
# diffusion model then learns and samples that small grid, and the decoder paints the pixels once at the end.
# Stable Diffusion denoises a 64 × 64 × 4 latent for a 512 × 512 × 3 picture, 48 times fewer numbers. Here the
# autoencoder is notebook 11's VQ-VAE and the denoiser is notebook 15's recipe; we measure what the split buys
# (cost per sample) and what it costs (the autoencoder's own errors become a floor for the result).
#
# **Learning objectives.** After this notebook you can
# - turn images into latents and back with a trained autoencoder, scaled to the spread the denoiser expects;
# - train and sample a diffusion model on latents with the same loss and samplers as on pixels;
# - count the work per sample (FLOPs) of pixel and latent diffusion, and read the measured time and FID;
# - explain, with two autoencoders measured side by side, why the autoencoder caps the quality.
#
# **Prerequisites.** Notebooks 11 (autoencoders and the VQ-VAE), 14 (DDPM) and 15 (samplers, EDM, FID).
#
# **Estimated time.** 40 minutes; about a minute to run on a laptop CPU.

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
import torch
import matplotlib.pyplot as plt
from genlib import metrics, viz
from genlib.data import load_mnist
from genlib.device import describe, get_device, pick, seed_everything
from genlib.diffusion.ddpm import load_ddpm_mnist, sample_images
from genlib.diffusion.latent import latent_samples, load_latent_mnist
from genlib.diffusion.samplers import sample

seed_everything(0)
device = get_device()
print(describe())

# %% [markdown]
# ## 1. The autoencoder: a digit as a 7 × 7 grid of vectors
#
# Notebook 11's VQ-VAE turns a 28 × 28 digit into a 7 × 7 grid: its encoder writes 16 numbers at each of the 49
# places, and its quantizer **snaps** each of those vectors to the nearest of 64 learned codebook vectors before the
# decoder paints the pixels. So a latent is 16 × 7 × 7: the same count of numbers as the pixels, but on a grid 16
# times smaller, and the denoiser's work grows with the grid, as we count in section 4. (Stable Diffusion's
# autoencoder shrinks the grid 8 × 8 times and keeps 4 numbers per place.)
#
# Which vectors does the diffusion model learn, the encoder's or the snapped ones? Rombach et al. diffuse the
# encoder's output **before** snapping and make the snap the decoder's first step; so do we. (A first run of this
# course diffused the snapped vectors; section 3 compares.) The denoiser of notebook 15 expects data with a
# standard deviation of about 0.5 (EDM's σ_data), so the latents are multiplied by a fixed **scale** measured on the
# training set (Stable Diffusion does the same with its 0.18215). By hand, checked against the library's codec:

# %%
model, ab, codec, entry = load_latent_mnist(device)
vq, scale = codec.vqvae, codec.scale
images, labels = load_mnist("val")
x = images[:8].to(device)
with torch.no_grad():
    z = vq.encoder(x) * scale                              # [8, 16, 7, 7]: the latent the denoiser sees
    codes = vq.quantizer.nearest(z / scale)                # [8, 7, 7]: the nearest codebook entry at each place
    decoded = torch.sigmoid(vq.decoder(vq.quantizer.lookup(codes)))   # snap, then paint the pixels
torch.testing.assert_close(z, codec.encode(x))
torch.testing.assert_close(decoded, codec.decode(z))
print(f"latent {tuple(z.shape[1:])}, scale {scale} (latent std on these 8: {z.std().item():.2f}); "
      f"codes of the first digit:\n{codes[0].tolist()}")

# %%
fig, axes = plt.subplots(3, 1, figsize=(6, 3.6))
viz.show_images(x.cpu(), nrow=8, ax=axes[0], title="digits")
viz.show_images(decoded.cpu(), nrow=8, ax=axes[1], title="decoded from their latents")
viz.show_images(((z[0, :8, None] / z[0].abs().max() + 1) / 2).cpu(), nrow=8, ax=axes[2],
                title="8 of the 16 latent channels of the first digit (7 x 7 each)")
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 2. The same diffusion, on latents
#
# Nothing in the diffusion machinery knows it is working on pixels. `scripts/train_latent.py` encoded the 9,000
# training digits once and trained a U-Net on their latents with exactly the EDM recipe of notebook 15's pixel
# model: the same loss, noise levels, optimiser, EMA. Only the network's shape changed: 16 input channels, one level
# and no patch folding, since the grid is already small. Sampling is the same sampler call with the latent's shape,
# then one decode at the very end (here without snapping; section 3 says why):

# %%
g = torch.Generator().manual_seed(0)
noise = torch.randn(8, *codec.shape, generator=g).to(device)              # noise in latent space, not pixel space
z = sample(model, (8, *codec.shape), "dpmpp_2m", 20, alphas_cumprod=ab, karras=True, x_T=noise, progress=False).x
by_hand = codec.decode(z, snap=False).cpu()                              # one decode at the very end
torch.testing.assert_close(by_hand, latent_samples(model, ab, codec, 8, steps=20, snap=False, seed=0))  # = library
print(f"latent U-Net: {entry['params']:,} parameters, {entry['steps']:,} steps in {entry['train_seconds'] / 60:.0f} "
      f"min (one CPU core)")
viz.show_images(latent_samples(model, ab, codec, 32, steps=20, snap=False, seed=0), nrow=16,
                title="latent diffusion: DPM++ 2M Karras, 20 steps, then one decode")
plt.show()

# %% [markdown]
# ## 3. Snap to the codebook, or not?
#
# The decoder was trained on codebook vectors only: the quantizer always snapped before it. A sampled latent lands
# *near* codebook vectors, not on them. So should we snap each of the 49 sampled vectors to its nearest code before
# decoding, as the VQ-VAE itself does? Two measurements decide, both with FID on 1,000 digits against the training
# set (notebook 15): the autoencoder's reconstructions of the validation digits, and 1,000 latent samples, each
# decoded both ways.

# %%
classifier = metrics.load_fid_classifier(device)
train_stats = metrics.feature_stats(metrics.classifier_features(load_mnist("train")[0].to(device), classifier))
val = images.to(device)
score = lambda imgs: metrics.fid(imgs.to(device), train_stats, classifier)
real_floor = score(val)
rec = {snap: score(codec.decode(codec.encode(val), snap=snap)) for snap in (True, False)}
samples20 = {snap: latent_samples(model, ab, codec, 1000, steps=20, snap=snap, seed=0) for snap in (True, False)}
fid20 = {snap: score(s) for snap, s in samples20.items()}
print(f"FID (real validation digits: {real_floor:.1f})      snapped   as sampled")
print(f"VQ-VAE reconstructions of validation digits {rec[True]:8.1f} {rec[False]:10.1f}")
print(f"latent samples, 20 steps (N = 1,000)        {fid20[True]:8.1f} {fid20[False]:10.1f}")
fig, axes = plt.subplots(2, 1, figsize=(6, 2.4))
viz.show_images(samples20[False][:8], nrow=8, ax=axes[0], title="decoded as sampled")
viz.show_images(samples20[True][:8], nrow=8, ax=axes[1], title="snapped to the codebook first")
plt.tight_layout(); plt.show()
assert fid20[False] < fid20[True] and rec[False] < rec[True]

# %% [markdown]
# Snapping loses both times. The decoder is a smooth function, so vectors *between* codebook entries still decode to
# sensible strokes, and they carry more of the digit than the nearest code does: the encoder's unsnapped output is
# itself a better description than its snapped one. A sampled vector a little off its code can also snap to the
# wrong neighbour and change a stroke. So from here on latents are decoded as sampled. (A first version of this
# notebook diffused the snapped codebook vectors themselves and scored far worse, FID 225 at 20 steps: measured in
# [`benchmarks/results/latent_variants.md`](../benchmarks/results/latent_variants.md).)
#
# ## 4. What a sample costs, counted
#
# A wall clock on a shared laptop measures the laptop as much as the model, so we count first: the floating-point
# operations of one network evaluation, with PyTorch's `FlopCounterMode`, for notebook 15's pixel U-Net on a
# 28 × 28 digit and for the latent U-Net on a 16 × 7 × 7 latent, plus the decoder, which runs once per sample.

# %%
from torch.utils.flop_counter import FlopCounterMode

pixel_model, pixel_ab, pixel_entry = load_ddpm_mnist(device, name="ddpm_mnist_edm")


def flops(fn):
    with FlopCounterMode(display=False) as counter:
        with torch.no_grad():
            fn()
    return counter.get_total_flops()


t1 = torch.tensor([500], device=device)
f_pixel = flops(lambda: pixel_model(torch.zeros(1, 1, 28, 28, device=device), t1))
f_latent = flops(lambda: model(torch.zeros(1, *codec.shape, device=device), t1))
f_decode = flops(lambda: codec.decode(torch.zeros(1, *codec.shape, device=device), snap=False))
print(f"one evaluation: pixel U-Net {f_pixel / 1e6:.1f} MFLOPs ({pixel_entry['params']:,} parameters), latent U-Net "
      f"{f_latent / 1e6:.1f} MFLOPs ({entry['params']:,}); the decoder, once per sample: {f_decode / 1e6:.1f} MFLOPs")
for steps in (10, 20):
    ratio = steps * f_pixel / (steps * f_latent + f_decode)
    print(f"{steps} steps: pixel {steps * f_pixel / 1e6:.0f} MFLOPs per sample, latent {(steps * f_latent + f_decode) / 1e6:.0f}"
          f" (decoding included): {ratio:.1f}x less work")
assert 20 * f_pixel > 2 * (20 * f_latent + f_decode)

# %% [markdown]
# The latent network does less work per evaluation because its grid has 49 places instead of the pixel U-Net's 196
# (that one folds 2 × 2 pixels into channels first, so 14 × 14) and it has only one level; the decoder costs less
# than one evaluation, paid once. Now the measured version: 1,000 samples from each model with the same sampler and
# steps, timed on this machine, and their FID. (The pixel model is notebook 15's best, trained 95 + 100 minutes;
# the latent model trained the 60 minutes printed in section 2.)

# %%
import time

STEPS = (5, 10, 20)
table = {}
for kind in ("pixel", "latent"):
    for steps in STEPS:
        t0 = time.perf_counter()
        if kind == "latent":
            imgs = latent_samples(model, ab, codec, 1000, steps=steps, snap=False, seed=0)
        else:
            imgs = sample_images(pixel_model, pixel_ab, 1000, "dpmpp_2m", steps, karras=True, seed=0, progress=False)[0]
        table[kind, steps] = (score(imgs), time.perf_counter() - t0)
print(f"N = 1,000 each, DPM++ 2M Karras; FID against the training digits (real floor {real_floor:.1f})")
print(f"{'':18s}{'FID':>8s}{'seconds':>10s}")
for (kind, steps), (f, secs) in table.items():
    print(f"{kind + ', ' + str(steps) + ' steps':18s}{f:8.1f}{secs:10.1f}")
fig, ax = plt.subplots(figsize=(5, 3.2))
for kind, style in (("pixel", "o-"), ("latent", "s-")):
    xs, ys = [table[kind, s][1] for s in STEPS], [table[kind, s][0] for s in STEPS]
    ax.plot(xs, ys, style, label=kind)
    for s, x_, y_ in zip(STEPS, xs, ys):
        ax.annotate(f"{s}", (x_, y_), textcoords="offset points", xytext=(4, 4), fontsize=8)
ax.set(xlabel="seconds for 1,000 samples (this machine)", ylabel="FID (lower is better, log scale)", yscale="log",
       title="quality against cost; labels are sampler steps")
ax.legend(); plt.show()

# %% [markdown]
# The speed-up that matters is at **matched quality**: for each pixel setting, the cheapest latent setting whose
# FID is at least as good, and how much less time it took.

# %%
matched = {}
for p_steps in STEPS:
    p_fid, p_secs = table["pixel", p_steps]
    ok = [s for s in STEPS if table["latent", s][0] <= p_fid]
    if ok:
        l_steps = min(ok, key=lambda s: table["latent", s][1])
        matched[p_steps] = p_secs / table["latent", l_steps][1]
        print(f"pixel, {p_steps} steps (FID {p_fid:.1f}): matched by latent, {l_steps} steps "
              f"(FID {table['latent', l_steps][0]:.1f}), {matched[p_steps]:.1f}x faster")
    else:
        print(f"pixel, {p_steps} steps (FID {p_fid:.1f}): no latent setting here is as good")
assert 10 not in matched and 20 not in matched and table["latent", 10][0] < table["latent", 20][0]

# %% [markdown]
# Read the plot from the bottom. The pixel model reaches FID 57.9 at 20 steps and 71.0 at 10; the latent model's
# best is 80.1, at 10 steps, in about a third of the pixel model's 10-step time, close to the 3.4x the FLOP count
# predicts. But no latent setting is as good as a usable pixel one: the only "match" is at 5 steps, where both
# models fail (FID above 350). So at this scale latent diffusion buys about 3x per sample and pays for it with
# quality; the 5x at matched quality that Stable Diffusion's numbers promise does not appear here.
#
# Two things hold the latent model back, and neither is the idea. It trained 60 minutes against the pixel model's
# 195, and it is short of capacity: widening it from 32 to 48 channels took its FID from 161 to 116 (snapped) in
# the same hour ([the runs](../benchmarks/results/latent_variants.md)). The third suspect, the autoencoder, is
# next. (A surprise to note: the latent model scores better at 10 steps than at 20, while the pixel model improves
# with steps. One reading, not tested here: more steps follow the latent denoiser's own errors more faithfully.)
#
# ## 5. The autoencoder caps the result
#
# A latent model can only draw what its decoder can paint. The best a latent sample can look is a decoded real
# latent, so the autoencoder's own **reconstructions** set a floor under the FID. Section 3 measured it for the
# VQ-VAE; here it is beside notebook 11's MLP VAE, whose 16 numbers per digit are a much tighter squeeze.

# %%
from genlib.checkpoints import load_checkpoint, read_manifest
from genlib.image.vae import VAE

vae_settings = read_manifest()["mnist_vae"]["settings"]
vae = VAE(latent_dim=vae_settings["latent_dim"], hidden=vae_settings["hidden"]).to(device)
load_checkpoint("mnist_vae", vae)
vae.eval()
with torch.no_grad():
    mlp_rec = torch.sigmoid(vae.decode(vae.encode(val)[0]))
rec_fid = {"VQ-VAE (16 x 7 x 7, as encoded)": rec[False], "MLP VAE (16 numbers)": score(mlp_rec)}
fig, axes = plt.subplots(3, 1, figsize=(6, 3.4))
viz.show_images(val[:10].cpu(), nrow=10, ax=axes[0], title="validation digits")
viz.show_images(codec.decode(codec.encode(val[:10]), snap=False).cpu(), nrow=10, ax=axes[1],
                title=f"VQ-VAE: reconstruction FID {rec[False]:.1f}")
viz.show_images(mlp_rec[:10].cpu(), nrow=10, ax=axes[2], title=f"MLP VAE: reconstruction FID {rec_fid['MLP VAE (16 numbers)']:.1f}")
plt.tight_layout(); plt.show()
latent_fid = table["latent", 20][0]
print(f"real digits {real_floor:.1f} <= VQ-VAE reconstructions {rec[False]:.1f} <= latent samples {latent_fid:.1f}; "
      f"the MLP VAE's reconstructions alone: {rec_fid['MLP VAE (16 numbers)']:.1f}")
assert real_floor < rec[False] < latent_fid < rec_fid["MLP VAE (16 numbers)"]

# %% [markdown]
# The chain holds: real digits 18.3, the VQ-VAE's reconstructions 20.1, latent samples 87.7. Here the
# autoencoder costs under 2 FID points, so nearly all of the gap is the denoiser's, and a better denoiser, not a
# better autoencoder, is what would close it. Had we snapped to the codebook, the floor itself would have been 31.5
# (section 3). The MLP VAE shows the other side: its reconstructions alone score 192.5, so a latent model on its 16
# numbers could never do better than that, however good its denoiser. The squeeze must keep what the eye uses,
# which is why Stable Diffusion keeps a 64 × 64 grid and trains its autoencoder with perceptual and adversarial
# losses.

# %% [markdown]
# ## Summary
#
# - **Latent diffusion splits the work:** an autoencoder, trained once, maps pictures to a small latent grid and
#   back; the diffusion model learns and samples the grid; the decoder runs once per sample.
# - **Nothing in diffusion changes:** the same loss, recipe and samplers, on the encoder's outputs scaled to the
#   spread the denoiser expects; decoding them as sampled beats snapping them to the codebook (section 3).
# - **The saving is counted, and measured:** 3.4x fewer FLOPs per sample, about 3x less time; but at this scale no
#   latent setting matched the better-trained pixel model's FID (section 4).
# - **The autoencoder caps the quality:** no latent sample can look better than the decoder can paint, so the
#   reconstruction FID is a floor under the result (section 5). That is why Stable Diffusion's autoencoder is
#   trained with perceptual and adversarial losses, to keep the details a plain reconstruction loss blurs.
#
# Next: notebook 18 edits pictures with a trained denoiser and steers it with edge maps.

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. *(easy)* How many numbers describe a digit as pixels and as a VQ-VAE latent, and on how many grid places does
#    each network work? Why does the second count matter more for the cost?

# %% [markdown] tags=["exercise"]
# 2. *(change the code)* Score 1,000 latent samples at 5 and at 10 steps, decoded with and without snapping (use
#    `latent_samples` and `score`). Does snapping help anywhere? Why might a decoder trained only on codebook
#    vectors still prefer vectors between them?

# %% tags=["exercise"]
# Exercise 2: score(latent_samples(model, ab, codec, 1000, steps=5, snap=True)) and the same with snap=False,
# then steps=10.

# %% [markdown] tags=["exercise"]
# 3. *(open question)* Why not squeeze harder, say into the 16 numbers of notebook 11's MLP VAE, and make the
#    denoiser almost free? Use section 5's two reconstruction FIDs in your answer.

# %% [markdown] tags=["solution"]
# <details><summary>Solution</summary>
#
# 1. Pixels: 784 numbers on a 28 × 28 grid; the pixel U-Net folds 2 × 2 pixels into channels, so it works on
#    14 × 14 = 196 places. Latent: 16 × 7 × 7 = 784 numbers too, on 49 places. A convolution or attention layer
#    costs in proportion to the places (attention to their square), times the channels it uses inside, and those
#    are set by the network's width, not by the 16 input numbers. So the same count of numbers on a 4× smaller grid
#    is about 4× less work per layer.
# 2. ```python
#    for steps in (5, 10):
#        print(steps, [round(score(latent_samples(model, ab, codec, 1000, steps, snap=snap)), 1)
#                      for snap in (True, False)])
#    ```
#    We measured, snapped against as sampled: 401.0 against 361.2 at 5 steps, 112.2 against 80.1 at 10 (and
#    116.2 against 87.7 at 20, section 3). Snapping never helps here. The decoder is a smooth function of its
#    input, so a vector between two codes decodes to something between their strokes, which is often what the
#    digit needs; snapping throws that away, and a vector that is slightly off can snap to the wrong code.
# 3. The denoiser would be cheap, but it could never beat the decoder: the MLP VAE's reconstructions of *real*
#    digits already score 192.5 against the VQ-VAE's 20.1 (section 5), so every latent sample would be at least
#    that blurry. The squeeze has to keep what the eye uses. Stable Diffusion keeps a spatial grid (64 × 64 × 4)
#    for exactly this reason, and sharpens its decoder with perceptual and adversarial losses.
# </details>
