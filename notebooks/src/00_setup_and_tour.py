# %% [markdown]
# # 00 · Setup and a tour of the course
#
# **The idea in one line:** every generative model in this course — text, images, sound — *learns a
# distribution from data, then samples from it*. This notebook checks that your machine is ready and gives
# you a first taste of that idea three times over, in seconds.
#
# **Learning objectives.** After this notebook you can
# - check that the course runs on your machine (CPU, CUDA GPU or Apple MPS) and say which *scale* it runs at;
# - load the bundled real data (MNIST digits and Tiny Shakespeare) and know how it is split;
# - state the course's seed idea — *learn a distribution, then sample* — and see it work on points, text and images.
#
# **Prerequisites.** Python and a little NumPy. Nothing about machine learning yet.
#
# **Estimated time.** 10 minutes to read; about 15 seconds to run on a laptop CPU.

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

# %% [markdown]
# ## 1. The machine and the scale knob
#
# Everything runs on whatever you have. `genlib.device.get_device()` picks a CUDA GPU, then Apple's MPS, then
# the CPU. `genlib.device.scale()` answers one question — *how big should the models be?* — with `cpu-small`
# (minutes on a laptop) or `gpu-full` (the same code, larger models, on a GPU). Set the environment variable
# `GENLIB_SCALE` to override it, for example to run the quick version on a GPU.

# %%
import torch
import matplotlib.pyplot as plt
from genlib.device import describe, get_device, pick, scale, seed_everything

seed_everything(0)
device = get_device()
print(describe())

# %% [markdown]
# Notebooks never write `cuda` themselves; they ask `pick(cpu_small, gpu_full)` for sizes. Here is how a
# training length would be chosen:

# %%
steps = pick(300, 5000)
print(f"scale = {scale()!r}: a notebook would train for {steps} steps here")

# %% [markdown]
# ## 2. The bundled data
#
# The course needs no network. Real data sets are committed in `data/` and each loader checks the file's
# sha256 before using it (a damaged or missing file gives an error saying how to restore it). MNIST is the
# official 10,000-image test file, split the same way everywhere into 9,000 training and 1,000 validation
# images (100 of each digit); Tiny Shakespeare is split 90% / 10% by position, as nanoGPT does.

# %%
# NBVAL_CHECK_OUTPUT
from genlib.data import load_mnist, shakespeare_splits

x_train, y_train = load_mnist("train")
x_val, y_val = load_mnist("val")
text_train, text_val = shakespeare_splits()
print(f"MNIST: {len(x_train):,} train / {len(x_val):,} val images of {tuple(x_train.shape[1:])}")
print(f"Tiny Shakespeare: {len(text_train):,} train / {len(text_val):,} val characters, "
      f"{len(set(text_train + text_val))} distinct")

# %%
from genlib.viz import show_images

show_images(x_train[:32], nrow=16, title="Thirty-two MNIST training digits (28×28 grey pixels)")
plt.show()
print(text_train[:180])

# %% [markdown]
# These are the two real data sets most of the course learns from: pictures of handwritten digits and a
# million characters of plays.
#
# ## 3. The plan
#
# | part | notebooks | what you build |
# |---|---|---|
# | foundations | 00–02 | this tour; distributions and sampling; neural nets and gradient descent |
# | text | 03–10 | n-grams, tokenizers, attention and transformers, a GPT, decoding, SFT/RLHF/DPO, reasoning and experts, code generation |
# | images | 11–19 | autoencoders and VAEs, GANs, diffusion from the forward process to fast samplers, guidance, latent diffusion, editing and ControlNet, flow matching and DiT |
# | sound and more | 20–21 | audio tokens and a small music model; one transformer for text and images |
# | the whole picture | 22–24 | evaluation and limitations; making models small and fast; every family side by side |
#
# Each notebook builds its idea by hand, proves the hand-built version equals a reference and the `genlib`
# library version, then uses the library from there on.
#
# ## 4. A first taste: learn a distribution, then sample it
#
# Three tiny generative models, each trained in well under a second, each answering "what does the data
# look like?" by *counting*. Later notebooks replace counting with neural networks, but the recipe stays:
# fit a probability distribution to data, then draw new samples from it.
#
# **Points.** A mixture of eight Gaussians, fitted by expectation–maximization, learns a ring of clusters.

# %%
from genlib.data import ring_of_gaussians
from genlib.density import fit_gmm
from genlib.viz import scatter2d

ring = ring_of_gaussians(2000, seed=0)
gmm = fit_gmm(ring, k=8, iters=60, seed=0)
samples = gmm.sample(2000, generator=torch.Generator().manual_seed(1))
scatter2d({"training data": ring, "samples from the fitted model": samples}, title="Learn a distribution, then sample", lim=3)
plt.show()

# %% [markdown]
# The samples are new points — none is copied from the data — yet they fall on the same ring.
#
# **Text.** A *bigram* model counts how often each character follows each other character in the training
# text, then writes new text one character at a time by sampling the next character from those counts.

# %%
chars = sorted(set(text_train))
stoi = {c: i for i, c in enumerate(chars)}
ids = torch.tensor([stoi[c] for c in text_train])
counts = torch.zeros(len(chars), len(chars))
counts.index_put_((ids[:-1], ids[1:]), torch.ones(len(ids) - 1), accumulate=True)
probs = (counts + 1) / (counts + 1).sum(1, keepdim=True)   # +1: never say 'impossible'

g = torch.Generator().manual_seed(0)
out = [stoi["\n"]]
for _ in range(200):
    out.append(torch.multinomial(probs[out[-1]], 1, generator=g).item())
print("".join(chars[i] for i in out))

# %% [markdown]
# It has learned which letters follow which — spaces after words, capitals after newlines — but nothing
# longer. Notebook 03 measures exactly how much it knows, and notebook 06 trains a GPT that knows far more.
#
# **Images.** A mixture of twenty "prototype" digits, each pixel on or off with its own probability, is fitted
# to black-and-white MNIST by the same EM idea. Sampling picks a prototype, then flips each pixel's coin.

# %%
from genlib.density import fit_bernoulli_mixture

binary = (x_train.flatten(1) > 0.5).float()
mixture = fit_bernoulli_mixture(binary, k=20, iters=15, seed=0)
digits = mixture.sample(32, generator=torch.Generator().manual_seed(0)).reshape(-1, 1, 28, 28)
show_images(digits, nrow=16, title="Samples from a 20-component Bernoulli mixture fitted to MNIST")
plt.show()

# %% [markdown]
# Recognisable strokes, speckled noise: each pixel is sampled independently once the prototype is chosen,
# so neighbouring pixels do not agree. Fixing that — making pixels depend on each other — is what VAEs,
# GANs and diffusion models are for (notebooks 11–19).
#
# ## 5. Shipped checkpoints
#
# Heavy training is done once by the scripts in `scripts/` and the weights are shipped in `checkpoints/`,
# each with its sha256, the script and settings that made it, and its measured quality. Notebooks train a
# short visible run themselves, then load these ("load if it exists, train otherwise").

# %%
from genlib.checkpoints import read_manifest

manifest = read_manifest()
for name, entry in sorted(manifest.items()):
    metric = entry["metric"]
    print(f"{name:24s} {entry['bytes'] / 1e6:5.1f} MB  {metric['name']} = {metric['value']:.4g}  (made by {entry['script']})")
print(f"{len(manifest)} shipped checkpoint(s)")

# %% [markdown]
# ## 6. Running on Colab
#
# The first code cell of every notebook is the same set-up cell. On Google Colab it clones the course
# (code, data and checkpoints) and moves into it; anywhere else it does nothing. Colab already has torch,
# torchvision, matplotlib, ipywidgets and tqdm, so nothing else is installed. The README has an
# "Open in Colab" link for every notebook.
#
# ## Summary
#
# - One knob sets the size of everything: `scale()` is `cpu-small` or `gpu-full`, `GENLIB_SCALE` overrides it.
# - Real data ships with the course and is checked by hash: MNIST (9,000 / 1,000) and Tiny Shakespeare (90% / 10%).
# - A generative model is a distribution learned from data that you can sample. Counting already gives one
#   for points, text and images; the rest of the course makes the distributions far better.

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. *(easy)* Run `GENLIB_SCALE=gpu-full jupyter lab` (or set `os.environ["GENLIB_SCALE"]` before importing
#    genlib) and check what `pick(300, 5000)` returns. What does `GENLIB_SCALE=huge` do?

# %% tags=["exercise"]
# Exercise 1: print scale() and pick(300, 5000) after setting os.environ["GENLIB_SCALE"] to "gpu-full",
# then to "huge" (restore it afterwards with os.environ.pop("GENLIB_SCALE")).

# %% [markdown] tags=["exercise"]
# 2. *(change the code)* Give the bigram model a *trigram* memory: count which character follows each *pair*
#    of characters, and sample from that. Does the text look more like English?

# %% tags=["exercise"]
# Exercise 2: count which character follows each *pair* of characters (a V x V x V table of counts, +1
# smoothing), then sample 200 characters from it, starting from "\nT", and print them.

# %% [markdown] tags=["exercise"]
# 3. *(open question)* The Bernoulli-mixture digits are speckled. What would a model need to know to draw
#    clean strokes, and how many numbers would it take to write that knowledge down?

# %% [markdown] tags=["solution"]
# <details><summary>Solutions</summary>
#
# 1. It returns 5000 with `gpu-full` and 300 with `cpu-small`. An unknown value raises
#    `ValueError: GENLIB_SCALE='huge' is not a scale: set it to one of ('cpu-small', 'gpu-full') or unset it`.
# 2. ```python
#    V = len(chars)
#    tri = torch.ones(V, V, V)                        # +1 smoothing
#    tri.index_put_((ids[:-2], ids[1:-1], ids[2:]), torch.ones(len(ids) - 2), accumulate=True)
#    tri = tri / tri.sum(-1, keepdim=True)
#    out = [stoi["\n"], stoi["T"]]
#    for _ in range(200):
#        out.append(torch.multinomial(tri[out[-2], out[-1]], 1, generator=g).item())
#    print("".join(chars[i] for i in out))
#    ```
#    Yes: short real words appear. Notebook 03 measures the gain as a lower validation loss.
# 3. It must know how neighbouring pixels co-vary (a stroke continues; edges are smooth). A full table over
#    all 2^784 images is impossible; neural networks share parameters so that a few hundred thousand numbers
#    describe those dependencies — the subject of notebooks 11–19.
# </details>
