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
from genlib.diffusion.latent import load_latent_mnist
from genlib.diffusion.samplers import sample

seed_everything(0)
device = get_device()
print(describe())

# %% [markdown]
# ## 1. The autoencoder: a digit as a 7 × 7 grid of code vectors
#
# Notebook 11's VQ-VAE turns a 28 × 28 digit into a 7 × 7 grid; at each of the 49 places it stores one of 64
# learned **codebook** vectors of 16 numbers. So a latent is 16 × 7 × 7: the same count of numbers as the pixels,
# but on a grid 16 times smaller, and the denoiser's work grows with the grid, as we count in section 4. (Stable
# Diffusion's autoencoder shrinks the grid 8 × 8 times and keeps 4 numbers per place.)
#
# The denoiser of notebook 15 expects data with a standard deviation of about 0.5 (EDM's σ_data), so the latents
# are multiplied by a fixed **scale** measured on the training set (Stable Diffusion does the same with its 0.18215).
# By hand, checked against the library's codec:

# %%
model, ab, codec, entry = load_latent_mnist(device)
vq, scale = codec.vqvae, codec.scale
images, labels = load_mnist("val")
x = images[:8].to(device)
with torch.no_grad():
    codes = vq.encode(x)                                   # [8, 7, 7]: which codebook entry at each place
    z = vq.quantizer.lookup(codes) * scale                 # [8, 16, 7, 7]: the latent the denoiser sees
    decoded = torch.sigmoid(vq.decoder(z / scale))         # back to pixels
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
# then one decode:

# %%
def latent_digits(n, steps=20, seed=0, snap=True):
    g = torch.Generator().manual_seed(seed)
    z = sample(model, (n, *codec.shape), "dpmpp_2m", steps, alphas_cumprod=ab, karras=True,
               x_T=torch.randn(n, *codec.shape, generator=g).to(device), progress=False).x
    return codec.decode(z, snap=snap).cpu()


s = entry["settings"]
print(f"latent U-Net: {entry['params']:,} parameters, {entry['steps']:,} steps in {entry['train_seconds'] / 60:.0f} "
      f"min (one CPU core)")
viz.show_images(latent_digits(32), nrow=16, title="latent diffusion: DPM++ 2M Karras, 20 steps, then one decode")
plt.show()

# %% [markdown]
# ## 3. Snap to the codebook
#
# The decoder was only ever shown codebook vectors. A denoised latent lands *near* them, not on them, so before
# decoding we can **snap** each of the 49 vectors to its nearest codebook entry, as the VQ-VAE's own encoder does.
# The same samples, decoded both ways:

# %%
with torch.no_grad():
    g = torch.Generator().manual_seed(1)
    z_sampled = sample(model, (8, *codec.shape), "dpmpp_2m", 20, alphas_cumprod=ab, karras=True,
                       x_T=torch.randn(8, *codec.shape, generator=g).to(device), progress=False).x
    q = vq.quantizer
    off_codebook = (z_sampled / scale - q.lookup(q.nearest(z_sampled / scale))).norm(dim=1).mean().item()
    spacing = torch.cdist(q.codebook.weight, q.codebook.weight).add(torch.eye(64, device=device) * 1e9).min(1).values.mean().item()
fig, axes = plt.subplots(2, 1, figsize=(6, 2.4))
viz.show_images(codec.decode(z_sampled, snap=False).cpu(), nrow=8, ax=axes[0], title="decoded as sampled")
viz.show_images(codec.decode(z_sampled, snap=True).cpu(), nrow=8, ax=axes[1], title="snapped to the codebook first")
plt.tight_layout(); plt.show()
m = entry["metric"]
print(f"sampled vectors lie {off_codebook:.2f} from their nearest code on average (codes are {spacing:.2f} apart); "
      f"FID at 20 steps (N = {m['n']:,}): {m['latent_20_nosnap']:.1f} as sampled, {m['latent_20']:.1f} snapped")

# %% [markdown]
# ## 4. What a sample costs, counted
#
# A wall clock on a shared laptop measures the laptop as much as the model, so we count instead: the floating-point
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
f_decode = flops(lambda: codec.decode(torch.zeros(1, *codec.shape, device=device)))
print(f"one evaluation: pixel U-Net {f_pixel / 1e6:.1f} MFLOPs ({pixel_entry['params']:,} parameters), latent U-Net "
      f"{f_latent / 1e6:.1f} MFLOPs ({entry['params']:,}); the decoder, once per sample: {f_decode / 1e6:.1f} MFLOPs")
for steps in (10, 20):
    ratio = steps * f_pixel / (steps * f_latent + f_decode)
    print(f"{steps} steps: pixel {steps * f_pixel / 1e6:.0f} MFLOPs per sample, latent {(steps * f_latent + f_decode) / 1e6:.0f}"
          f" (decoding included): {ratio:.1f}x less work")
assert 20 * f_pixel > 3 * (20 * f_latent + f_decode)

# %% [markdown]
# The latent network does less work per evaluation for two reasons: its grid has 49 places instead of the pixel
# U-Net's 196 (it folds 2 × 2 pixels into channels first, so 14 × 14), and it is smaller. The decoder costs about
# one evaluation, paid once. The training script also timed both, sampling 1,000 digits each with the same
# sampler on the same threads in one run, and scored them with FID:

# %%
floor = m["real_floor_val"]
print(f"N = {m['n']:,} samples each, DPM++ 2M Karras, FID against the training digits (real floor {floor:.1f}):")
print(f"{'':22s}{'FID':>8s}{'seconds':>10s}")
for name, key in (("pixel, 10 steps", "pixel_10"), ("pixel, 20 steps", "pixel_20"), ("latent, 10 steps", "latent_10"),
                  ("latent, 20 steps", "latent_20")):
    print(f"{name:22s}{m[key]:8.1f}{m[key + '_seconds']:10.1f}")
print(f"{'VQ-VAE reconstructions':22s}{m['reconstruction_val']:8.1f}   (validation digits through the autoencoder)")

# %% [markdown]
# The speed-up that matters is at **matched quality**: for each pixel setting, the cheapest latent setting whose
# FID is at least as good, and how much less time it took.

# %%
matched = {}
for p_steps in (10, 20):
    ok = [l for l in (10, 20) if m[f"latent_{l}"] <= m[f"pixel_{p_steps}"]]
    if ok:
        l_steps = min(ok, key=lambda l: m[f"latent_{l}_seconds"])
        matched[p_steps] = (l_steps, m[f"pixel_{p_steps}_seconds"] / m[f"latent_{l_steps}_seconds"])
        print(f"pixel, {p_steps} steps (FID {m[f'pixel_{p_steps}']:.1f}) is matched by latent, {l_steps} steps (FID "
              f"{m[f'latent_{l_steps}']:.1f}): {matched[p_steps][1]:.1f}x faster per sample")
    else:
        print(f"pixel, {p_steps} steps (FID {m[f'pixel_{p_steps}']:.1f}): no latent setting here matches it")

# %% [markdown]
# ## 5. The autoencoder caps the result
#
# A latent model can only draw what its decoder can paint. The best a latent sample can look is a decoded real
# latent, so the autoencoder's own **reconstructions** set a floor under the FID. We measure it live for two
# autoencoders of notebook 11, on the 1,000 validation digits: the VQ-VAE used here, and the MLP VAE, whose 16
# numbers per digit are a much tighter squeeze.

# %%
from genlib.checkpoints import load_checkpoint, read_manifest
from genlib.image.vae import VAE

classifier = metrics.load_fid_classifier(device)
train_stats = metrics.feature_stats(metrics.classifier_features(load_mnist("train")[0].to(device), classifier))
val = images.to(device)
vae_settings = read_manifest()["mnist_vae"]["settings"]
vae = VAE(latent_dim=vae_settings["latent_dim"], hidden=vae_settings["hidden"]).to(device)
load_checkpoint("mnist_vae", vae)
vae.eval()
with torch.no_grad():
    rec = {"VQ-VAE (16 x 7 x 7 codes)": codec.decode(codec.encode(val)),
           "MLP VAE (16 numbers)": torch.sigmoid(vae.decode(vae.encode(val)[0]))}
rec_fid = {name: metrics.fid(r, train_stats, classifier) for name, r in rec.items()}
fig, axes = plt.subplots(3, 1, figsize=(6, 3.4))
viz.show_images(val[:10].cpu(), nrow=10, ax=axes[0], title="validation digits")
for ax, (name, r) in zip(axes[1:], rec.items()):
    viz.show_images(r[:10].cpu(), nrow=10, ax=ax, title=f"{name}: reconstruction FID {rec_fid[name]:.1f}")
plt.tight_layout(); plt.show()
print(f"real validation digits: FID {floor:.1f}; latent diffusion on the VQ-VAE (20 steps): {m['latent_20']:.1f}")

# %% [markdown]
# CAP_PROSE

# %% [markdown]
# ## Summary
#
# - **Latent diffusion splits the work:** an autoencoder, trained once, maps pictures to a small latent grid and
#   back; the diffusion model learns and samples the grid; the decoder runs once per sample.
# - **Nothing in diffusion changes:** the same loss, recipe and samplers, on latents scaled to the spread the
#   denoiser expects; snapping to the codebook before decoding keeps the decoder on familiar inputs.
# - **The saving is counted, and measured:** FLOPs per sample from the grid's size and the network's, and the
#   training script's timed comparison at matched FID (section 4).
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
# 2. *(change the code)* Sample 8 latents with 5 steps instead of 20 and decode them with and without snapping.
#    Where does snapping help more, with few steps or with many, and why?

# %% tags=["exercise"]
# Exercise 2: use latent_digits(8, steps=5, snap=False) and latent_digits(8, steps=5, snap=True), show both with
# viz.show_images, and compare with steps=20.

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
#    for steps in (5, 20):
#        fig, axes = plt.subplots(2, 1, figsize=(6, 1.8))
#        viz.show_images(latent_digits(8, steps, snap=False), nrow=8, ax=axes[0], title=f"{steps} steps, as sampled")
#        viz.show_images(latent_digits(8, steps, snap=True), nrow=8, ax=axes[1], title=f"{steps} steps, snapped")
#        plt.show()
#    ```
#    With few steps the sampler leaves more error in the latent, further from any codebook vector, and the decoder,
#    which never saw such inputs, paints smudges; snapping pulls each vector to a code it knows, so it helps more
#    there. With many steps the latents land close to codes already, and snapping changes little.
# 3. The denoiser would be cheap, but it could never beat the decoder: the MLP VAE's reconstructions of *real*
#    digits already score a far worse FID than the VQ-VAE's (section 5), so every latent sample would be at least
#    that blurry. The squeeze has to keep what the eye uses. Stable Diffusion keeps a spatial grid (64 × 64 × 4)
#    for exactly this reason, and sharpens its decoder with perceptual and adversarial losses.
# </details>
