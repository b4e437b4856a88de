# %% [markdown]
# # 15 · Fast samplers: from 1000 steps to 20
#
# **The idea:** notebook 14's DDPM needs 1000 network calls per image. Yet the trained network already knows, at any
# noise level, where the clean image is; the 1000 small steps are only a cautious way of following it. Treat
# sampling as solving a differential equation instead, and a good solver gets there in **20–50 steps** with the very
# same trained model, no retraining. These solvers are the "sampler" menu of every Stable Diffusion interface:
# DDIM, Euler, Euler a, Heun, DPM++ 2M, each "with Karras sigmas" or without.
#
# **Learning objectives.** After this notebook you can
# - sample one trained model with six samplers through one interface, and count their model evaluations (NFE);
# - write DDIM, Euler and DPM-Solver++ 2M as short loops and prove each equals `genlib.diffusion.sample`;
# - explain the sigma view of diffusion and the probability-flow ODE that Euler, Heun and DPM++ integrate;
# - build the Karras et al. noise-level spacing and say why it helps;
# - tell deterministic from ancestral samplers, and read a FID-versus-steps table to choose a sampler;
# - tell a real FID gap from sampling noise, with the spread of real-digit subsets and the unbiased KID.
# - say what a better-trained denoiser changes for each kind of sampler, and check that it does not copy its data.
#
# **Prerequisites.** Notebooks 13 (schedules, the sigma view) and 14 (the noise predictor, DDPM sampling).
#
# **Estimated time.** 45 minutes; about a minute to run on a laptop CPU.

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
from pathlib import Path
import torch
import matplotlib.pyplot as plt
import genlib
from genlib.device import describe, get_device, pick, seed_everything
from genlib import diffusion, viz
from genlib.diffusion.ddpm import load_ddpm_mnist

seed_everything(0)
device = get_device()
print(describe())
model, alphas_cumprod, entry = load_ddpm_mnist(device)   # notebook 14's shipped U-Net, hash-checked
T = len(alphas_cumprod)
n = pick(8, 16)
x_T = torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(0)).to(device)   # one starting noise for all
print(f"shipped DDPM U-Net: {entry['params']:,} parameters, {entry['settings']['schedule']} schedule, T = {T}")


def to_pixels(x):
    return ((x + 1) / 2).clamp(0, 1).cpu()


# %% [markdown]
# ## 1. One interface, six samplers
#
# `diffusion.sample(model, shape, sampler, steps, alphas_cumprod=...)` runs any sampler on any noise predictor
# `model(x_t, t)`. It returns the images, the number of model evaluations (NFE, the cost that matters: everything else
# is cheap), and the timesteps at which the model was asked. Here is each sampler at 10 steps, from the same noise.

# %%
configs = [("ddpm", False), ("ddim", False), ("euler", True), ("euler_ancestral", True), ("heun", True),
           ("dpmpp_2m", True)]
results = {}
for name, karras in configs:
    results[name] = diffusion.sample(model, x_T.shape, name, 10, alphas_cumprod=alphas_cumprod, karras=karras,
                                     x_T=x_T, generator=torch.Generator().manual_seed(1), progress=False)
fig, axes = plt.subplots(len(configs), 1, figsize=(0.62 * n + 0.4, 0.9 * len(configs) + 0.3))
for ax, (name, karras) in zip(axes, configs):
    r = results[name]
    viz.show_images(to_pixels(r.x), nrow=n, ax=ax)
    ax.set_title(f"{name}{' (Karras sigmas)' if karras else ''}: 10 steps, NFE = {r.nfe}", fontsize=9)
plt.show()
print("NFE per sampler at 10 steps:", {k: r.nfe for k, r in results.items()})
assert results["heun"].nfe == 19 and all(r.nfe == 10 for k, r in results.items() if k != "heun")
gap = lambda a, b: (results[a].x - results[b].x).abs().mean().item()
deterministic = ["ddim", "euler", "heun", "dpmpp_2m"]
within = max(gap(a, b) for a in deterministic for b in deterministic)
across = min(gap(a, b) for a in deterministic for b in ("ddpm", "euler_ancestral"))
print(f"mean pixel gap between any two deterministic samplers <= {within:.3f}; "
      f"between a deterministic and an ancestral one >= {across:.3f}")
assert within < across


# %% [markdown]
# Same network, same starting noise, same 10 steps (Heun: 19 evaluations, see section 4), and two families. The
# four **deterministic** samplers (DDIM, Euler, Heun, DPM++ 2M) turn each starting noise into similar pictures,
# closer to each other than to the rest, as the pixel gaps show: the starting noise decides the result. The two
# **ancestral** ones (DDPM and Euler a) inject fresh noise on the way and end up elsewhere. At 10 steps the
# deterministic second-order samplers (Heun, DPM++ 2M) already draw firm digits; the ancestral ones draw thinner,
# sometimes broken strokes. Sections 2–5 build the samplers, section 8 scores them with FID, and section 9 asks how
# much the network's training target matters to them.
#
# ## 2. DDIM: the same model, a deterministic path
#
# Song, Meng & Ermon (2021) noticed that DDPM's training loss never says how x_{t−1} depends on x_t: many
# sampling processes share the same q(x_t | x_0) and so the same trained network. Their **DDIM** step predicts x̂_0,
# then re-noises it to the earlier level *with the predicted noise* instead of fresh noise:
#
#   x_prev = sqrt(ᾱ_prev) x̂_0 + sqrt(1 − ᾱ_prev) ε̂.
#
# No randomness (η = 0), so big jumps between far-apart timesteps stay on course. With `steps` evenly spaced
# timesteps from 999 down to 0, that is the whole sampler:

# %%
def my_ddim(model, x_T, steps):
    ts = diffusion.timestep_grid(T, steps)                       # e.g. 999, 888, ..., 0 for 10 steps
    x = x_T
    for i, t in enumerate(ts):
        ab = alphas_cumprod[t].item()
        ab_prev = alphas_cumprod[ts[i + 1]].item() if i + 1 < len(ts) else 1.0
        eps = model(x, torch.full((len(x),), t.item(), device=x.device))
        x0_hat = (x - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
        x = math.sqrt(ab_prev) * x0_hat + math.sqrt(1 - ab_prev) * eps
    return x


with torch.no_grad():
    ours = my_ddim(model, x_T, 10)
torch.testing.assert_close(ours, results["ddim"].x, rtol=1e-4, atol=1e-4)
print(f"hand-written DDIM == genlib's, visiting t = {diffusion.timestep_grid(T, 10).tolist()}")


# %% [markdown]
# With η > 0 DDIM adds fresh noise again, and at η = 1 it *is* DDPM on the respaced timesteps (the library's tests
# prove it). That is why 10-step DDPM was so bad: each of its 10 steps throws away part of the path and redraws it at
# random, which only averages out when the steps are small.
#
# ## 3. The sigma view and Euler's method
#
# Notebook 13's sigma view rescales x_t to x = x_t / sqrt(ᾱ_t) = x_0 + σ ε, noise simply *added* with standard
# deviation σ = sqrt((1 − ᾱ)/ᾱ). Karras et al. (2022) showed that sampling follows an ordinary differential
# equation in σ, the **probability-flow ODE**:
#
#   dx/dσ = (x − x̂_0(x, σ)) / σ = ε̂,
#
# "move along the predicted noise". The denoiser x̂_0(x, σ) = x − σ ε̂ calls our network on x / sqrt(1 + σ²) at the
# timestep whose σ this is, a *fractional* t in general (the sinusoidal embedding of notebook 14 handles that).
# Solve the ODE from σ_max ≈ 157 down to 0 with the simplest solver, **Euler's method**:

# %%
def denoise(x, sigma):                                     # x = x_0 + sigma eps (sigma view) -> predicted x_0
    t = diffusion.timestep_from_sigma(sigma, alphas_cumprod).float()
    eps = model(x / math.sqrt(1 + sigma ** 2), t.to(x.device).expand(len(x)))
    return x - sigma * eps


def my_euler(x_T, sigmas):
    x = x_T * math.sqrt(1 + sigmas[0] ** 2)                # the same starting noise, in the sigma view
    for s, s_next in zip(sigmas[:-1], sigmas[1:]):
        d = (x - denoise(x, s)) / s                        # dx/dsigma
        x = x + d * (s_next - s)
    return x


plain = diffusion.sigma_grid(alphas_cumprod, 10).tolist()   # evenly spaced timesteps, then sigma = 0
with torch.no_grad():
    ours = my_euler(x_T, plain)
lib = diffusion.sample(model, x_T.shape, "euler", 10, alphas_cumprod=alphas_cumprod, x_T=x_T, progress=False)
torch.testing.assert_close(ours, lib.x, rtol=1e-4, atol=1e-4)
torch.testing.assert_close(ours, results["ddim"].x, rtol=1e-3, atol=1e-3)
print("hand-written Euler == genlib's Euler == DDIM, on the same grid of sigmas: "
      + ", ".join(f"{s:.3g}" for s in plain))


# %% [markdown]
# A surprise worth a moment: on the same grid, Euler in the sigma view *is* DDIM. Both take the predicted noise as
# constant across one step; DDIM was an ODE solver all along. Seeing it as one invites better solvers.
#
# ## 4. Better solvers: Heun and DPM-Solver++ 2M
#
# Euler assumes the slope stays the same across a step, so its error per step is proportional to the step size:
# **first order**. Two ways to do better:
#
# - **Heun** (Karras et al.'s Algorithm 1) takes the Euler step, evaluates the slope again at the arrival point, and
#   redoes the step with the average of the two slopes. Second order, but two network calls per step (one at the
#   last, where the arrival is σ = 0): 2 × steps − 1 NFE.
# - **DPM-Solver++ 2M** (Lu et al., 2022) works with x̂_0 instead of the slope, in the variable λ = −log σ, in which
#   the ODE's linear part is solved exactly. It is *multistep*: it reuses the previous step's x̂_0 to extrapolate,
#   so it is second order with **one** call per step. Here it is, from the paper's Algorithm 2 in our variables:

# %%
def my_dpmpp_2m(x_T, sigmas):
    x, old_x0 = x_T * math.sqrt(1 + sigmas[0] ** 2), None
    for i in range(len(sigmas) - 1):
        s, s_next = sigmas[i], sigmas[i + 1]
        x0 = denoise(x, s)
        if s_next == 0:
            x = x0                                                    # the last step: first order
        else:
            h = math.log(s / s_next)                                  # step size in lambda = -log sigma
            if old_x0 is None:
                D = x0
            else:
                r = math.log(sigmas[i - 1] / s) / h                   # ratio of the last two step sizes
                D = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * old_x0     # extrapolate x0 to the middle of the step
            x = (s_next / s) * x - math.expm1(-h) * D
        old_x0 = x0
    return x


karras = diffusion.sigma_grid(alphas_cumprod, 10, karras=True).tolist()
with torch.no_grad():
    ours = my_dpmpp_2m(x_T, karras)
torch.testing.assert_close(ours, results["dpmpp_2m"].x, rtol=1e-4, atol=1e-4)
print("hand-written DPM-Solver++ 2M with Karras sigmas == genlib's dpmpp_2m(karras=True)")

# %% [markdown]
# This is the sampler Stable Diffusion's interfaces call **DPM++ 2M Karras**, for years their default.
#
# ## 5. Karras sigmas: where to spend the steps
#
# The solver decides *how* to step; the grid decides *where*. Karras et al. (2022) space the noise levels evenly in
# σ^(1/ρ), with ρ = 7:
#
#   σ_i = (σ_max^(1/ρ) + i/(n − 1) · (σ_min^(1/ρ) − σ_max^(1/ρ)))^ρ,
#
# which is close to even spacing in log σ: every step divides the noise level by a similar factor, so no part of
# the range from pure noise to fine detail is crossed in one leap. Evenly spaced timesteps give no such guarantee.

# %%
all_sigmas = diffusion.sigmas_from_alphas_cumprod(alphas_cumprod)
s_min, s_max, rho = all_sigmas[0].item(), all_sigmas[-1].item(), 7.0
ramp = torch.linspace(0, 1, 10, dtype=torch.float64)
my_karras = (s_max ** (1 / rho) + ramp * (s_min ** (1 / rho) - s_max ** (1 / rho))) ** rho
torch.testing.assert_close(my_karras, diffusion.karras_sigmas(10, s_min, s_max))

fig, ax = plt.subplots(figsize=(6.5, 3.2))
ax.plot(range(10), plain[:-1], "o-", label="evenly spaced timesteps")
ax.plot(range(10), karras[:-1], "s-", label="Karras et al., rho = 7")
ax.set(yscale="log", title="The 10 noise levels each grid visits (then sigma = 0)", xlabel="step i",
       ylabel="sigma (log scale)")
ax.legend(); ax.grid(alpha=0.3)
plt.show()
leap = lambda g: max(a / b for a, b in zip(g[:-2], g[1:-1]))      # the largest factor between two levels
i = max(range(len(plain) - 2), key=lambda j: plain[j] / plain[j + 1])
print(f"largest single leap in sigma: evenly spaced timesteps {leap(plain):.0f}-fold ({plain[i]:.2f} -> "
      f"{plain[i + 1]:.2f}), Karras {leap(karras):.1f}-fold")
assert leap(plain) > 3 * leap(karras)


# %% [markdown]
# On DDPM's linear schedule σ(t) flattens out near t = 0, so evenly spaced timesteps take their last step from
# t = 111 (σ ≈ 0.38) straight to t = 0 (σ = 0.01): the whole range where strokes get their final edges, in one
# first-order leap. The Karras grid instead visits 0.35, 0.07 and 0.01 on the way down.
#
# DPM++ 2M without Karras sigmas walks a grid of its own. On Euler's grid its second-order step would cross that
# last leap by extrapolating x̂_0 from the step before, nearly five times shorter in λ = −log σ (the ratio r of the
# two steps is about 0.2), and such a long extrapolation overshoots: on Gaussian data, where the exact answer is
# known, it made the samples' spread 24% too wide at 20 steps (`tests/test_samplers.py`). DPM-Solver's grid (Lu et
# al.; diffusers' `DPMSolverMultistepScheduler`) instead takes 11 evenly spaced timesteps, rounded, and drops the
# last one (t = 0): its 10 levels end at t = 100, and the final step goes first-order straight to x̂_0.

# %%
dpm_grid = diffusion.sigma_grid(alphas_cumprod, 10, dpm_solver=True).tolist()
h = lambda g, i: math.log(g[i] / g[i + 1])                         # step i's length in lambda = -log sigma
r_euler, r_dpm = h(plain, 7) / h(plain, 8), h(dpm_grid, 7) / h(dpm_grid, 8)   # the last second-order step's r
t_dpm = diffusion.timestep_from_sigma(torch.tensor(dpm_grid[:-1], dtype=torch.float64), alphas_cumprod)
t_dpm = t_dpm.round().int().tolist()
print(f"DPM-Solver's timesteps: {t_dpm}, then sigma = 0")
print(f"last second-order step: Euler's grid {plain[8]:.2f} -> {plain[9]:.2f} (h = {h(plain, 8):.1f}, "
      f"r = {r_euler:.2f}); DPM-Solver's grid {dpm_grid[7]:.2f} -> {dpm_grid[8]:.2f} (h = {h(dpm_grid, 8):.2f}, r = {r_dpm:.2f})")
with torch.no_grad():
    ours = my_dpmpp_2m(x_T, dpm_grid)
lib = diffusion.sample(model, x_T.shape, "dpmpp_2m", 10, alphas_cumprod=alphas_cumprod, x_T=x_T, progress=False)
torch.testing.assert_close(ours, lib.x, rtol=1e-4, atol=1e-4)
print("hand-written DPM-Solver++ 2M on DPM-Solver's grid == genlib's dpmpp_2m (karras=False)")
assert t_dpm[-1] == 100 and r_euler < 0.25 and r_dpm > 0.5

# %% [markdown]
#
# ## 6. Ancestral samplers
#
# DDPM, DDIM with η > 0 and **Euler ancestral** ("Euler a") step *below* the next noise level and then add fresh
# noise to climb back to it. The fresh noise corrects past errors (it is a little Langevin dynamics at each step),
# but it also means the result never settles: more steps give a different image, not a sharper version of the same
# one. Deterministic samplers converge to one image per starting noise, which we can measure:

# %%
def run(name, steps, karras=True):
    return diffusion.sample(model, x_T.shape, name, steps, alphas_cumprod=alphas_cumprod, karras=karras, x_T=x_T,
                            generator=torch.Generator().manual_seed(1), progress=False).x


with torch.no_grad():
    change = {name: (run(name, 20) - run(name, 40)).abs().mean().item() for name in ("dpmpp_2m", "euler_ancestral")}
print("mean pixel change from 20 to 40 steps: " + ", ".join(f"{k} {v:.3f}" for k, v in change.items()))
assert change["euler_ancestral"] > 3 * change["dpmpp_2m"]

# %% [markdown]
# Doubling the steps barely moves DPM++ 2M's images (it has nearly converged), while Euler a's change a lot: the
# same starting noise, but a different random path.
#
# ## 7. Image strips across step counts
#
# The same starting noise through each sampler at 3, 5, 10 and 20 steps. The slider below redraws the comparison
# at any step count (the static figure shows 6 steps).

# %%
strip_steps, k = [3, 5, 10, 20], 3
configs_all = configs + [("dpmpp_2m", False)]
fig, axes = plt.subplots(len(configs_all), len(strip_steps), figsize=(6.8, 0.5 * len(configs_all) + 0.6))
with torch.no_grad():
    for r, (name, karras) in enumerate(configs_all):
        for c, steps in enumerate(strip_steps):
            x = diffusion.sample(model, (k, 1, 28, 28), name, steps, alphas_cumprod=alphas_cumprod, karras=karras,
                                 x_T=x_T[:k], generator=torch.Generator().manual_seed(1), progress=False).x
            viz.show_images(to_pixels(x), nrow=k, ax=axes[r, c])
            axes[r, c].set_title(f"{steps} steps" if r == 0 else "", fontsize=9)
        axes[r, 0].text(-0.06, 0.5, name + (" (Karras)" if karras else ""), transform=axes[r, 0].transAxes,
                        ha="right", va="center", fontsize=9)
fig.suptitle("The same three starting noises: one sampler per row, more steps to the right", fontsize=10)
plt.show()


# %% [markdown]
# Read down a column to compare samplers at equal steps, along a row to watch one converge. At 3 steps nothing works.
# The deterministic samplers settle by about 10 steps and change little after (section 6 measured it), the
# first-order ones (DDIM, Euler) later than the second-order Heun and DPM++ 2M; the ancestral ones draw a different
# digit at each step count, because each count is a different random path.

# %%
def draw(steps):
    steps = int(steps)
    fig, axes = plt.subplots(1, 3, figsize=(8, 1.3))
    with torch.no_grad():
        for ax, (name, karras) in zip(axes, [("ddpm", False), ("ddim", False), ("dpmpp_2m", True)]):
            x = diffusion.sample(model, (4, 1, 28, 28), name, steps, alphas_cumprod=alphas_cumprod, karras=karras,
                                 x_T=x_T[:4], generator=torch.Generator().manual_seed(1), progress=False).x
            viz.show_images(to_pixels(x), nrow=4, ax=ax)
            ax.set_title(f"{name}{' Karras' if karras else ''}, {steps} steps", fontsize=9)


viz.slider_plot(draw, steps=(1, 50, 1, 6))

# %% [markdown]
# At 6 steps DDPM's digits are thin and DDIM's still a little soft, while DPM++ 2M Karras already draws firm strokes
# (not all of them good digits: that is the model, not the solver). Slide towards 50 to watch each converge (or, for
# DDPM, keep changing).
#
# ## 8. FID versus steps
#
# Pictures of a few digits can mislead; FID over many samples is a better judge, if the samples are many enough.
# How many? Any score computed from N images carries sampling noise, and real digits show how much: they all come
# from one distribution, so every difference between two sets of them is noise. We cut the 1,000 validation digits
# into disjoint random sets (`metrics.real_subset_spread`) and score each against the training digits with FID and
# with **KID**, the kernel distance of Bińkowski et al. (2018): an unbiased estimate of a squared distance between
# the two feature distributions, so unlike FID its expected value does not change with N (`metrics.kid`).

# %%
from genlib import metrics
from genlib.data import load_mnist

classifier = metrics.load_fid_classifier(device)
train_f = metrics.classifier_features(load_mnist("train")[0], classifier)
val_f = metrics.classifier_features(load_mnist("val")[0], classifier)
spread = {n: metrics.real_subset_spread(val_f, train_f, n, kid_subsets=20) for n in (100, 200, 500)}
print("disjoint random sets of real validation digits, scored against the training digits:")
for n, sp in spread.items():
    print(f"  N = {n}, {len(sp['fid']):2d} sets: FID {min(sp['fid']):5.1f} to {max(sp['fid']):5.1f} "
          f"(mean {sum(sp['fid']) / len(sp['fid']):5.1f}),  KID {min(sp['kid']):6.0f} to {max(sp['kid']):5.0f}")
width = {n: max(sp["fid"]) - min(sp["fid"]) for n, sp in spread.items()}
noise_fid = width[500]                       # the narrowest spread we can measure: the yardstick for N = 1,000
mean_fid = [sum(sp["fid"]) / len(sp["fid"]) for sp in spread.values()]
assert width[100] > width[200] > width[500] and mean_fid[0] > mean_fid[1] > mean_fid[2]
assert all(min(sp["kid"]) < 0 < max(sp["kid"]) for sp in spread.values())   # KID: centred on 0 at every N

# %% [markdown]
# At N = 200 five sets of real digits score anywhere in a range of about 50 FID, wider than most gaps between
# samplers below, and FID drifts down as N grows (it is biased upwards at small N), while KID's real sets straddle 0
# at every N. So a FID at N = 200 ranks nothing. The benchmark uses N = 1,000; the 1,000 validation digits cannot
# give two disjoint sets that large, so we take the spread at N = 500, printed above, as the yardstick (spreads
# only narrow with N; from two sets it is a rough one) and call two rows whose FIDs differ by less than it a tie. (For why all these FIDs are much
# larger than the ones papers publish, see notebook 11, FID section.)
#
# `benchmarks/sampler_fid.py` sampled the shipped model with every sampler at 10, 20 and 50 steps, plus DDPM's
# full 1000, all from the same starting noise, and scored each set against the training digits. That takes far
# longer than this notebook may run, so we **read its stored results** (`benchmarks/results/sampler_fid.md`, with N
# stated in its title) rather than recompute them.

# %%
results_dir = Path(genlib.__file__).resolve().parents[1] / "benchmarks" / "results"


def read_report(path):  # the benchmark's table as {(sampler, steps): (NFE, FID)}, its real floor, its lines
    lines = path.read_text().splitlines()
    table = [[c.strip() for c in l.strip("|").split("|")] for l in lines if l.startswith("| ") and l[2:5] != "sam"]
    rows = {(r[0] + (" karras" if r[1] == "yes" else ""), int(r[2])): (int(r[3]), float(r[4])) for r in table if r[2]}
    return rows, float(next(r[4] for r in table if r[0].startswith("real data"))), lines


rows, floor, lines = read_report(results_dir / "sampler_fid.md")
print(lines[0])
fid = {key: v[1] for key, v in rows.items()}

fig, ax = plt.subplots(figsize=(7, 4))
for name in dict.fromkeys(k[0] for k in rows):
    pts = sorted(v for (nm, st), v in rows.items() if nm == name and st != 1000)
    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
ax.scatter([1000], [fid[("ddpm", 1000)]], marker="*", s=160, color="k", zorder=3, label="ddpm, 1000 steps")
ax.axhline(floor, color="gray", ls="--", label="real floor (validation digits)")
ax.set(xscale="log", yscale="log", title="FID versus model evaluations (benchmark results)",
       xlabel="model evaluations per image (NFE, log scale)", ylabel="FID (lower is better, log scale)")
ax.legend(fontsize=7, ncol=2); ax.grid(alpha=0.3, which="both")
plt.show()

ratio = fid[("dpmpp_2m karras", 20)] / fid[("ddpm", 1000)]
print(f"real floor {floor:.1f}; DDPM with 1000 steps {fid[('ddpm', 1000)]:.1f}; DPM++ 2M Karras with 20 steps "
      f"{fid[('dpmpp_2m karras', 20)]:.1f}: {ratio:.2f} times DDPM-1000's FID, at 1/50 of the cost")
for name in ("ddpm", "euler_ancestral karras", "ddim", "euler karras", "heun karras", "dpmpp_2m karras", "dpmpp_2m"):
    print(f"{name:23s}" + "  ".join(f"{st:4d} steps {fid[(name, st)]:7.1f}" for st in (10, 20, 50, 1000)
                                   if (name, st) in fid))
print(f"noise yardstick (real-subset FID spread at N = 500): {noise_fid:.1f}")
stochastic, first_order = ["ddpm", "euler_ancestral karras"], ["ddim", "euler karras"]
second_order = ["heun karras", "dpmpp_2m karras", "dpmpp_2m"]
for name in stochastic + first_order:                                  # more steps, better FID, beyond the noise
    assert fid[(name, 10)] - fid[(name, 20)] > noise_fid and fid[(name, 20)] - fid[(name, 50)] > noise_fid
assert fid[("ddpm", 50)] - fid[("ddpm", 1000)] > noise_fid
for name in second_order:                                              # converged by 20 steps: within 5%
    assert abs(fid[(name, 50)] / fid[(name, 20)] - 1) < 0.05
for name in ("heun karras", "dpmpp_2m karras"):                        # and 10 steps ties with 20
    assert abs(fid[(name, 10)] - fid[(name, 20)]) < noise_fid
for name in first_order:                                               # closing in on the same answer from above
    target = [fid[("dpmpp_2m karras", st)] for st in (20, 50)]
    assert fid[(name, 20)] - target[0] > 2 * (fid[(name, 50)] - target[1]) > 0
ode_50 = [fid[(name, 50)] for name in second_order]
assert max(ode_50) - min(ode_50) < noise_fid                           # the second-order answers agree
assert all(abs(fid[("dpmpp_2m karras", st)] - fid[("dpmpp_2m", st)]) < noise_fid for st in (10, 20, 50))  # grids tie
assert fid[("dpmpp_2m karras", 10)] < fid[("ddpm", 10)] / 2
assert fid[("ddpm", 20)] - fid[("dpmpp_2m karras", 20)] > noise_fid
assert min(ode_50) - fid[("ddpm", 50)] < noise_fid < max(ode_50) - fid[("ddpm", 50)]   # DDPM-50: not rankable
assert min(ode_50) - fid[("ddpm", 1000)] > 2 * noise_fid                # but DDPM-1000 goes further

# %% [markdown]
# The table behind the plot, as the benchmark wrote it:

# %%
print("\n".join(l for l in lines if l.startswith("|") or l.startswith("- ")))

# %% [markdown]
# What the numbers say (each line is asserted in the cell above):
#
# - **The ancestral samplers improve with every extra step**, each time by more than the noise yardstick. DDPM gets
#   better from 10 to 20 to 50 to 1000 steps, Euler a from 10 to 50: smaller steps approximate the true reverse
#   process better.
# - **The deterministic samplers all head for one answer**, the exact solution of the model's probability-flow ODE.
#   The second-order ones (Heun and DPM++ 2M Karras, DPM++ 2M on its own grid) are there by 20 steps: from 20 to 50
#   steps their FID changes by under 5%, and at 50 steps the three agree within the noise. Heun and DPM++ 2M Karras
#   at 10 steps tie with their 20-step scores. The first-order ones (DDIM, Euler) close in on the same answer from
#   above, their gap to it shrinking by more than half from 20 to 50 steps.
# - **That is the speed-up.** With 10 model evaluations DPM++ 2M Karras scores less than half of DDPM's FID at 10
#   steps, and at 20 it still beats DDPM-20 by more than the noise: a few large, accurate steps do what DDPM needs
#   many small ones for.
# - **DPM++ 2M's two grids tie at N = 1,000.** Karras sigmas and DPM-Solver's own grid differ by less than the
#   noise yardstick at 10, 20 and 50 steps; at 10 steps the gap (about 15) is just inside it, so telling them
#   apart would need more samples (and the KID of every row, which only newer runs of the benchmark record).
# - **Given many steps, DDPM goes further on this model.** DDPM-50 sits below the 50-step ODE answers by 15 to 21,
#   about the size of the noise, so N = 1,000 cannot rank it against all of them; DDPM-1000 sits below every one by
#   more than twice the noise. So DPM++ 2M Karras at 20 steps is not within the 1.2 times of DDPM-1000 that
#   well-trained models reach. Section 9 shows where the difference comes from. With a well-trained network, such
#   as Stable Diffusion's, the ODE's answer is about as good as DDPM-1000's, and a second-order solver reaches it in
#   20–50 steps: that is the "20–50 steps" rule, and why DPM++ 2M Karras is the default there.
#
# ## 9. Why the network's target matters to the samplers
#
# The deterministic samplers follow the network's x̂_0 exactly, so they inherit its errors, and notebook 14 showed
# where an ε-network's errors are worst: x̂_0 = (x_t − sqrt(1 − ᾱ) ε̂) / sqrt(ᾱ) multiplies them by σ_t, up to 157.
# That is why the shipped U-Net predicts v. `scripts/train_ddpm.py` also trained the identical U-Net for the same
# hour on the same machine with ε-prediction, shipped as `ddpm_mnist_eps`, so we can measure the difference: noise
# 200 validation digits to several t, and score both networks' x̂_0.

# %%
from genlib.data import load_mnist

eps_model, _, eps_entry = load_ddpm_mnist(device, name="ddpm_mnist_eps")
nets = {"v-prediction (shipped)": model, "ε-prediction (same U-Net, same hour)": eps_model}
x0 = (load_mnist("val")[0][:200] * 2 - 1).to(device)
ts = [999, 950, 900, 800, 600, 400, 200, 50]
x0_err = {name: [] for name in nets}
g = torch.Generator().manual_seed(0)
for t in ts:
    eps = torch.randn(x0.shape, generator=g).to(device)
    xt = diffusion.q_sample(x0, t, alphas_cumprod, eps)
    a = alphas_cumprod[t].item()
    for name, net in nets.items():
        with torch.no_grad():
            x0_hat = (xt - math.sqrt(1 - a) * net(xt, torch.full((len(xt),), t, device=device))) / math.sqrt(a)
        x0_err[name].append((x0_hat - x0).pow(2).mean().item())

fig, ax = plt.subplots(figsize=(6.5, 3.4))
for name, e in x0_err.items():
    ax.plot(ts, e, marker="o", label=name)
ax.set(yscale="log", title="How far is the predicted x̂_0 from the digit? (200 validation digits)",
       xlabel="timestep t", ylabel="mean squared error of x̂_0")
ax.legend(); ax.grid(alpha=0.3)
plt.show()
v_err, e_err = x0_err["v-prediction (shipped)"], x0_err["ε-prediction (same U-Net, same hour)"]
print(f"t = 999: x̂_0 error {v_err[0]:.2f} (v) vs {e_err[0]:.2f} (ε), {e_err[0] / v_err[0]:.0f} times worse; "
      f"t = 400: {v_err[5]:.3f} vs {e_err[5]:.3f}")
eps_rows, _, _ = read_report(results_dir / "sampler_fid_ddpm_mnist_eps.md")   # the same benchmark, fewer rows
fid_eps = {key: v[1] for key, v in eps_rows.items()}
print("FID (N = 1000)           ε-prediction   v-prediction   ratio")
for key in [("dpmpp_2m karras", 10), ("dpmpp_2m karras", 20), ("ddpm", 20), ("ddpm", 50)]:
    print(f"{key[0]:>15s} {key[1]:2d} steps {fid_eps[key]:11.1f} {fid[key]:14.1f} {fid_eps[key] / fid[key]:9.2f}")
assert e_err[0] > 10 * v_err[0] and abs(e_err[5] / v_err[5] - 1) < 0.2
assert all(fid_eps[key] - fid[key] > noise_fid for key in fid_eps)      # v wins every row, beyond the noise
gain = lambda key: fid_eps[key] / fid[key]
assert gain(("dpmpp_2m karras", 20)) > gain(("ddpm", 50))              # and most for the deterministic sampler

# %% [markdown]
# At low noise the two networks are equally good; at the noisiest steps the ε-network's x̂_0 is some 20 times
# further off, while the v-network's error stays at the spread of the digits themselves (its honest best guess
# there is "some digit", exercise 3). The FID rows show what that costs. With the same U-Net and the same hour of
# training, v-prediction wins every row, and it helps the deterministic DPM++ 2M (about 1.4 times lower FID) more
# than DDPM (about 1.25 times). A deterministic sampler commits to its first x̂_0 guesses and carries their traces to
# the end; an ancestral sampler replaces part of its state with fresh noise at every step, so early mistakes fade.
# Karras et al. (2022) build the same idea into their network "preconditioning": a sampler can only be as good as
# the predictions it is fed at every noise level. Even so, DDPM with 1000 steps still beats the ODE's answer on our
# model by more than the noise (section 8): the remaining errors sit at the middle timesteps, where the digit is
# decided, and only a better-trained network removes those.

# %% [markdown]
# ## 10. A better-trained denoiser: what more training buys, and what it does not
#
# Section 8 ended with a promise: with a better network the ODE's answer approaches DDPM-1000's. We can test that
# on a second shipped model, `ddpm_mnist_edm`: the same U-Net trained by `scripts/train_ddpm.py` with the
# preconditioning of Karras et al. (2022, "EDM": the network's input, output and skip connection scaled by
# functions of σ so that its target has unit variance at every noise level; log-normal noise levels; their loss
# weight), for 195 CPU-minutes instead of 60. `benchmarks/results/ddpm_variants.md` holds the variants tried at
# equal compute before it (Min-SNR weighting, a larger batch, a wider U-Net: EDM was the one that helped).
# `load_ddpm_mnist` wraps it, like the v-model, as a noise predictor, so every sampler above runs on it unchanged.

# %%
edm_model, _, edm_entry = load_ddpm_mnist(device, name="ddpm_mnist_edm")
edm_rows, edm_floor, edm_lines = read_report(results_dir / "sampler_fid_ddpm_mnist_edm.md")
fid_edm = {key: v[1] for key, v in edm_rows.items()}
print(f"{edm_entry['settings']['prediction']} preconditioning, {edm_entry['params']:,} parameters; "
      f"floor {edm_floor:.1f} (the same {floor:.1f} as above)")
print("FID (N = 1000)              v, 60 min   EDM, 195 min")
for key in [("ddpm", 1000), ("ddpm", 50), ("ddpm", 20), ("dpmpp_2m karras", 20), ("dpmpp_2m karras", 10),
            ("heun karras", 10), ("dpmpp_2m karras", 50)]:
    print(f"{key[0]:>15s} {key[1]:4d} steps {fid[key]:11.1f} {fid_edm[key]:14.1f}")
improved = [("ddpm", 1000), ("ddpm", 50), ("dpmpp_2m karras", 20)]
assert edm_floor == floor and all(fid[key] - fid_edm[key] > noise_fid for key in improved)

# %% [markdown]
# Samples from both models, from the same starting noise, with DPM++ 2M Karras at 20 steps:

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 2.6))
for ax, (name, net) in zip(axes, {"v, 60 min": model, "EDM, 195 min": edm_model}.items()):
    out = diffusion.sample(net, x_T.shape, "dpmpp_2m", 20, alphas_cumprod=alphas_cumprod, karras=True, x_T=x_T,
                           progress=False)
    viz.show_images(to_pixels(out.x), nrow=n // 2, ax=ax, title=name)
plt.show()

# %% [markdown]
# A model that trains longer on 9,000 digits might start to copy them. Nearest-neighbour distances check that:
# for each sample, the pixel distance to the closest training digit, beside the same for held-out validation
# digits (a copying model would sit far below them).

# %%
from genlib.diffusion.ddpm import sample_images

n_nn = pick(100, 200)
edm_samples, _ = sample_images(edm_model, alphas_cumprod, n_nn, "dpmpp_2m", 20, karras=True, seed=1, progress=False)
train_images, val_images = load_mnist("train")[0], load_mnist("val")[0]
nn_samples = metrics.nearest_neighbour_distance(edm_samples, train_images)
nn_val = metrics.nearest_neighbour_distance(val_images[:n_nn], train_images)
print(f"distance to the nearest training digit (mean of {n_nn}): EDM samples {nn_samples.mean():.2f}, "
      f"validation digits {nn_val.mean():.2f}; closest sample {nn_samples.min():.2f}, closest validation digit "
      f"{nn_val.min():.2f}")
assert nn_samples.mean() > nn_val.mean() and nn_samples.min() > 0.5 * nn_val.min()   # no copies

# %% [markdown]
# And the ratios that section 8 measured on the v-model, now on the better network:

# %%
r20 = fid_edm[("dpmpp_2m karras", 20)] / fid_edm[("ddpm", 1000)]
best10 = min(v for key, v in fid_edm.items() if edm_rows[key][0] <= 10)
print(f"DDPM-1000: {fid_edm[('ddpm', 1000)]:.1f} = {fid_edm[('ddpm', 1000)] / floor:.2f} x the floor "
      f"(v-model {fid[('ddpm', 1000)] / floor:.2f} x)")
print(f"DDPM-50: {fid_edm[('ddpm', 50)]:.1f}, against DDPM-1000 {fid_edm[('ddpm', 1000)]:.1f} "
      f"(noise yardstick {noise_fid:.1f})")
print(f"DPM++ 2M Karras 20 steps / DDPM-1000: {r20:.2f} (v-model {ratio:.2f}); best at <= 10 NFE / DDPM-1000: "
      f"{best10 / fid_edm[('ddpm', 1000)]:.2f}")
ode_50_edm = [fid_edm[(name, 50)] for name in second_order]
assert abs(fid_edm[("ddpm", 50)] - fid_edm[("ddpm", 1000)]) < noise_fid    # 50 ancestral steps tie with 1000
assert max(ode_50_edm) - min(ode_50_edm) < noise_fid                       # the ODE solvers agree again
assert min(ode_50_edm) - fid_edm[("ddpm", 1000)] > noise_fid               # and DDPM-1000 still goes further
assert r20 > 1.2 and abs(r20 - ratio) < 0.2                                # the ratio did not move

# %% [markdown]
# What more training and better preconditioning bought, and what they did not:
#
# - **Every sampler in the table got better**, the three checked above each by more than the noise yardstick:
#   DDPM-1000 from about 3 times the real floor to under 2 times, DPM++ 2M Karras at 20 steps by almost 40 FID. The
#   digits are firmer, and they lie as far from their nearest training digit as held-out digits do: the model
#   generalises, it does not copy.
# - **50 ancestral steps now do what 1000 do**: DDPM-50 and DDPM-1000 differ by less than the noise. That is a
#   20-fold speed-up at no cost, from the simplest sampler in the notebook.
# - **The deterministic samplers still stop short.** The ODE solvers again agree with each other at 50 steps, and
#   DDPM-1000 still beats their answer by more than the noise; DPM++ 2M Karras at 20 steps is still about 1.7 times
#   DDPM-1000's FID, as on the v-model, not the 1.2 times that Stable Diffusion-sized networks reach. Both ends
#   moved together: the network's remaining error shrank, but a deterministic path still carries it to the end
#   while fresh noise keeps washing it out. Closing that gap takes a network trained much further than a CPU
#   budget allows (the EDM paper trains for days on GPUs), so on this course's CPU-trained models the fast
#   *stochastic* samplers are the ones to use.

# %% [markdown]
# ## Summary
#
# - One trained noise predictor supports many samplers; they differ only in how they walk from noise to data, and
#   their cost is the number of model evaluations (NFE).
# - DDIM (η = 0) re-noises the predicted x̂_0 with the predicted noise: deterministic, and equal to Euler's method on
#   the probability-flow ODE dx/dσ = ε̂ in the sigma view.
# - Heun and DPM-Solver++ 2M are second-order solvers; DPM++ 2M costs one evaluation per step by reusing the previous
#   x̂_0. With the Karras σ spacing it is Stable Diffusion's "DPM++ 2M Karras".
# - Ancestral samplers (DDPM, Euler a) add fresh noise each step: they do not converge to one image, DDPM needs many
#   steps, but the fresh noise forgives a model's errors.
# - Judge samplers by FID at equal NFE next to the real floor, on *your* model: which sampler wins depends on how good
#   the network's predictions are at every noise level. Rank two scores only when their gap is wider than the
#   spread of real-digit subsets at the same N; at N = 200 that spread is about 50 FID, so use N = 1,000, or KID.
# - What the network predicts matters to the sampler: v-prediction keeps x̂_0 sane at high noise, and lowered every
#   FID of the same U-Net trained for the same hour, the deterministic samplers' most.
# - A better-trained network (EDM preconditioning, 195 CPU-minutes) lowers every sampler's FID and lets 50 ancestral
#   steps match 1000, without copying its training digits; the deterministic samplers still stop about 1.7 times
#   above DDPM-1000, so on CPU-trained models the fast stochastic samplers are the ones to use.

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. *(easy)* Heun with 10 steps made 19 model calls. Why 19 and not 20?

# %% [markdown] tags=["exercise"]
# 2. *(change the code)* Change ρ in the Karras grid to 1 (evenly spaced in σ) and to 3, redraw the grid plot, and
#    sample `my_dpmpp_2m` with each 10-step grid. Which looks best?

# %% tags=["exercise"]
# Exercise 2: write karras_grid(rho, n=10) (the Karras sigmas between s_max and s_min, then 0), and show the
# samples of my_dpmpp_2m(x_T, karras_grid(rho)) for rho = 1, 3 and 7, one row each.

# %% [markdown] tags=["exercise"]
# 3. *(open question)* In section 9 the v-network's x̂_0 error at t = 999 is about 0.26, and more training would not
#    shrink it much. What is the best possible guess of x_0 from x_999, and what error does it make on the same 200
#    validation digits? Compute it with `load_mnist`.

# %% tags=["exercise"]
# Exercise 3: load the training digits with load_mnist("train"), scaled to [-1, 1], and print the mean squared
# error of guessing their mean image for the 200 validation digits x0.

# %% [markdown] tags=["solution"]
# <details><summary>Solution</summary>
#
# 1. Heun evaluates the slope at both ends of each step, but the final step ends at σ = 0, where the slope
#    (x − x̂_0)/σ is undefined, so that step falls back to Euler: 2 × 10 − 1 = 19 evaluations.
# 2. ```python
#    def karras_grid(rho, n=10):
#        ramp = torch.linspace(0, 1, n, dtype=torch.float64)
#        s = (s_max ** (1 / rho) + ramp * (s_min ** (1 / rho) - s_max ** (1 / rho))) ** rho
#        return torch.cat([s, s.new_zeros(1)]).tolist()
#
#    fig, axes = plt.subplots(3, 1, figsize=(8, 3.5))
#    with torch.no_grad():
#        for ax, rho in zip(axes, (1, 3, 7)):
#            viz.show_images(to_pixels(my_dpmpp_2m(x_T, karras_grid(rho))), nrow=n, ax=ax, title=f"rho = {rho}")
#    ```
#    ρ = 1 spaces the levels evenly in σ itself: with σ_max ≈ 157 that is steps of about 17, so the only level
#    below σ = 17 is σ_min, and everything from σ = 17 down to 0.01 happens in one leap: the images stay noise.
#    ρ = 3 and ρ = 7 spread the steps over the whole range and give nearly the same digits; Karras et al. found
#    ρ = 7 best on their benchmarks, and `benchmarks/sampler_fid.py` could be extended to check it here.
# 3. At t = 999 only a fraction sqrt(ᾱ) ≈ 0.006 of x_999 is the digit, so x_999 says almost nothing about which digit
#    it will become; the guess with the least squared error is then the average training digit, and its error is the
#    digits' own spread:
#    ```python
#    train_x = load_mnist("train")[0] * 2 - 1
#    print((x0.cpu() - train_x.mean(0)).pow(2).mean())   # about 0.256, the v-network's error at t = 999
#    ```
#    The v-network has learned that; the ε-network, whose x̂_0 is σ = 157 times its noise error, lands 20 times
#    further off. Past that point only better predictions at the middle timesteps, where the digit is decided,
#    improve the samples: a bigger network or more training (`--scale gpu-full` on a GPU).
# </details>
