# %% [markdown]
# # 18 · Editing and control: image-to-image, inpainting and ControlNet
#
# **The idea:** a trained denoiser knows what pictures look like at every noise level, so it can do more than draw
# from scratch. Start it from *your* picture, noised part of the way, and it redraws the details but keeps the
# layout (**image-to-image**, SDEdit). Keep the pixels you like at every step and it fills in the rest
# (**inpainting**). Neither needs any training. To steer the *layout* itself, say with an edge map, you need a little
# training, and **ControlNet** does it without touching the trained model: a copy of its encoder learns to read the
# edges and whispers corrections through layers that start at zero. These are the "img2img", "inpaint" and
# "ControlNet" tabs of every Stable Diffusion interface; here each is built, proved equal to the library, and
# measured.
#
# **Learning objectives.** After this notebook you can
# - write SDEdit as "noise to level `strength`, then run any sampler from there", and prove it equals the library's;
# - measure what the strength trades: faithfulness to the input (the same digit, the same layout) against freedom
#   (following a new caption);
# - inpaint by overwriting the known pixels at every step, and show with a number why that beats pasting;
# - explain why ControlNet's zero-initialised convolutions let it start as an exact copy of the base model, and
#   prove it;
# - measure how well samples follow an edge map: edge IoU with and without the ControlNet.
#
# **Prerequisites.** Notebooks 14 (the DDPM denoiser and its forward process), 15 (samplers) and 16 (guidance and
# the text-to-image model of the shapes).
#
# **Estimated time.** 45 minutes; about two minutes to run on a laptop CPU.

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
from genlib.diffusion.editing import inpaint, sdedit
from genlib.diffusion.samplers import sample
from genlib.diffusion.schedules import q_sample
from genlib.image.classifier import accuracy

seed_everything(0)
device = get_device()


def to_pixels(x):
    """The denoiser's [-1, 1] back to [0, 1] pixels (a sampler may overshoot the range a little)."""
    return ((x + 1) / 2).clamp(0, 1)

print(describe())

# %% [markdown]
# ## 1. Image-to-image is sampling from the middle
#
# The forward process of notebook 13 takes a picture x₀ to `x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε` in one jump. A sampler
# walks from t = T back to 0. **SDEdit** (Meng et al. 2022) starts the walk part of the way: noise your picture to
# the timestep `strength · T`, then run the sampler over the remaining part of the schedule. At strength 0 nothing
# happens; at strength 1 the picture is buried under pure noise and the result is a fresh sample; in between, the
# coarse shape survives the noise (notebook 13 showed that large features outlive small ones) and the model redraws
# the details in its own style.
#
# The model: notebook 15's unconditional EDM denoiser of MNIST digits, `ddpm_mnist_edm`, with DDIM.

# %%
model, ab, entry = load_ddpm_mnist(device, name="ddpm_mnist_edm")
T = len(ab)


def sdedit_by_hand(x0, strength, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    start = round(strength * T)                                   # how far into the schedule we jump
    noise = torch.randn(x0.shape, generator=g)
    x_start = q_sample(x0, torch.full((len(x0),), start - 1), ab, noise)   # notebook 13's one-jump forward process
    n = max(1, min(start, round(strength * steps)))               # the share of the steps that is left to walk
    return sample(model, x0.shape, "ddim", n, alphas_cumprod=ab[:start], x_T=x_start, generator=g,
                  progress=False).x


val_images, val_labels = load_mnist("val")
x_real = val_images[:8] * 2 - 1                                   # the denoiser works in [-1, 1]
mine = sdedit_by_hand(x_real, 0.5, 20)
lib = sdedit(model, x_real, 0.5, 20, alphas_cumprod=ab, generator=torch.Generator().manual_seed(0))
torch.testing.assert_close(mine, lib)
print("sdedit_by_hand equals genlib.diffusion.editing.sdedit")

# %% [markdown]
# A sketch is the classic use: a blocky 7 × 7 version of a digit (what you might draw with a thick brush), edited at
# rising strength. Each column starts from the same noise.

# %%
def blocky(x):
    """A crude sketch of each digit: 4 x 4 blocks, each all ink or all paper."""
    small = torch.nn.functional.avg_pool2d(x, 4)
    return torch.nn.functional.interpolate((small > 0).float() * 2 - 1, scale_factor=4, mode="nearest")


sketches = blocky(val_images[10:18] * 2 - 1)
strengths = [0.0, 0.3, 0.5, 0.7, 0.9, 1.0]
rows = [sdedit(model, sketches, s, 20, alphas_cumprod=ab, generator=torch.Generator().manual_seed(1))
        for s in strengths]
fig, axes = plt.subplots(len(strengths), 1, figsize=(6, 7))
for ax, s, r in zip(axes, strengths, rows):
    viz.show_images(to_pixels(r), nrow=8, ax=ax, title=f"strength {s}")
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 2. What the strength trades, measured
#
# Two questions for each strength, over pick(200, 1000) real validation digits: is the result **the same digit**
# (by the course's MNIST classifier), and how far has it moved from the input (the mean absolute pixel change)?
# At strength 1 the input is forgotten, so "the same digit" should fall to chance, about one in ten.

# %%
classifier = metrics.load_fid_classifier(device)
N = pick(200, 1000)
inputs, labels = val_images[:N] * 2 - 1, val_labels[:N]
kept, moved = {}, {}
for s in (0.2, 0.4, 0.6, 0.8, 1.0):
    out = sdedit(model, inputs, s, 20, alphas_cumprod=ab, generator=torch.Generator().manual_seed(2))
    kept[s] = accuracy(classifier, to_pixels(out), labels)
    moved[s] = ((out - inputs).abs().mean() / 2).item()          # in [0, 1] pixel units
    print(f"strength {s:.1f}: same digit {kept[s]:6.1%}, mean pixel change {moved[s]:.3f}")

# %% [markdown]
# At strength 0.2 the digit survives nearly every time while the pixels already change: the model redraws the
# strokes in its own hand. Between 0.4 and 0.6 the noise starts to erase which digit it was, and at strength 1 only
# chance is left. The useful range for editing is where the first number is still high and the second has started
# to grow; for these digits that is up to about 0.4.

# %%
ss = sorted(kept)
assert kept[0.2] > 0.95 and kept[1.0] < 0.25                    # the digit survives light edits; strength 1 forgets
assert all(moved[a] < moved[b] for a, b in zip(ss, ss[1:]))     # the change grows with the strength
assert kept[0.4] > 0.75 and kept[0.6] < kept[0.4] - 0.2            # the digit is lost between 0.4 and 0.6

# %% [markdown]
# **Try it.** The strength slider, on the sketches above.

# %%
def draw_edit(strength):
    out = sdedit(model, sketches, strength, 20, alphas_cumprod=ab, generator=torch.Generator().manual_seed(1))
    viz.show_images(to_pixels(torch.cat([sketches, out])), nrow=8, title=f"sketches (top) edited at strength {strength:g}")


viz.slider_plot(draw_edit, strength=(0.0, 1.0, 0.05, 0.5))

# %% [markdown]
# ## 3. Image-to-image with words: change the colour, keep the outline
#
# With notebook 16's text-to-image model the edit can follow a new caption: start from a picture of "a small yellow
# circle on the left", noise it, and denoise while asking for "a small **red** circle on the left" (each colour moves
# one step along the palette, skipping the held-out pairs). The caption pulls the colour; the noisy picture holds
# the outline. Three scores per strength, over the one-shape scenes among pick(300, 1200): does the result **show
# the new caption** (notebook 16's judge), does it **keep the outline** (the edge IoU of section 5 between the
# result's outline and the original's is at least 0.8), and does it do **both**?

# %%
from genlib.data.shapes import COLOURS, HELD_OUT, edge_iou, edge_map, encode_captions, make_shapes, shows
from genlib.diffusion.guidance import Guided
from genlib.diffusion.text2img import load_text2img
from genlib.image.clip import load_shapes_clip, text_context

t2i, t2i_ab, _ = load_text2img(device)
clip = load_shapes_clip()
NULL_TEXT = torch.zeros(10, clip.config.width)
pics, caps, scenes = make_shapes(pick(300, 1200), "train", seed=21)
one = [i for i, sc in enumerate(scenes) if len(sc.shapes) == 1]
colours = list(COLOURS)


def recolour(shape):
    """The next palette colour that is not a held-out pair with this kind."""
    for k in range(1, len(colours)):
        c = colours[(colours.index(shape.colour) + k) % len(colours)]
        if (c, shape.kind) not in HELD_OUT:
            return c


new_caps = [f"a {scenes[i].shapes[0].size} {recolour(scenes[i].shapes[0])} {scenes[i].shapes[0].kind} "
            f"{scenes[i].where}" for i in one]
print(f"{len(one)} one-shape scenes; the first: {caps[one[0]]!r}  ->  {new_caps[0]!r}")
originals = pics[one] * 2 - 1
words = text_context(clip, encode_captions(new_caps)).to(device)
guided = Guided(t2i, words, NULL_TEXT.to(device), 3.0)

EDIT_STRENGTHS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
edit_rows, follows, outline, both = [], {}, {}, {}
for s in EDIT_STRENGTHS:
    out = to_pixels(sdedit(guided, originals.to(device), s, 20, alphas_cumprod=t2i_ab,
                           generator=torch.Generator().manual_seed(3)).cpu())
    edit_rows.append(out[:8])
    right = torch.tensor([shows(img, c) for img, c in zip(out, new_caps)])
    kept = edge_iou(edge_map(out), edge_map(pics[one])) >= 0.8
    follows[s], outline[s], both[s] = (v.float().mean().item() for v in (right, kept, right & kept))
    print(f"strength {s:.1f}: shows the new caption {follows[s]:6.1%}, keeps the outline {outline[s]:6.1%}, "
          f"both {both[s]:6.1%}")

# %%
fig, axes = plt.subplots(len(EDIT_STRENGTHS) + 1, 1, figsize=(6, 8.5))
viz.show_images(pics[one[:8]], nrow=8, ax=axes[0], title="originals")
for ax, s, row in zip(axes[1:], EDIT_STRENGTHS, edit_rows):
    viz.show_images(row, nrow=8, ax=ax, title=f"recoloured at strength {s}")
plt.tight_layout(); plt.show()

# %% [markdown]
# The first two scores pull against each other, which is the whole trade-off in a few rows of numbers. At strength
# 0.1 the noise is too thin to wash out the old colour: the caption is all but ignored. (The outline score is not
# perfect there either: two or three steps from a barely noised start leave a few stray pixels that count as extra
# edges.) As the strength grows the caption wins, and past a point the outline goes: the position is in the caption
# too, so the shape stays on the asked side, but its exact place and outline are the model's choice again, and at
# strength 1 they match the original's only by luck. "Both" peaks in between, the strength an editor would pick.

# %%
best_edit = max(both, key=both.get)
print(f"best strength {best_edit}: {both[best_edit]:.1%} follow the caption and keep the outline "
      f"(strength 0.1: {both[0.1]:.1%}, strength 1: {both[1.0]:.1%})")
assert follows[0.1] < 0.3 and follows[0.5] > 0.7                  # thin noise ignores the caption; more follows it
assert outline[0.1] > outline[1.0] + 0.4                           # the outline survives light edits only
assert 0.1 < best_edit < 1.0 and both[best_edit] > max(both[0.1], both[1.0]) + 0.3

# %% [markdown]
# ## 4. Inpainting: keep what you know at every step
#
# To redraw only part of a picture (the mask, 1 = redraw), the replacement method (used by RePaint, Lugmayr et al.
# 2022) runs an ordinary sampler from pure noise, but before every step it overwrites the pixels outside the mask
# with the original, noised to that step's level: `x ← m · x + (1 − m) · q_sample(x₀, t)`. The model always sees a
# picture whose known part is right for the current noise level, so what it invents in the hole has to fit.
# Here is the loop written out (DDIM with fresh noise, η = 1), checked against the library's `inpaint`:

# %%
from genlib.diffusion.samplers import timestep_grid


def inpaint_by_hand(x0, mask, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    ts = timestep_grid(T, steps).tolist()
    x = torch.randn(x0.shape, generator=g)
    for i, t in enumerate(ts):
        a_t, a_prev = ab[t].item(), ab[ts[i + 1]].item() if i + 1 < len(ts) else 1.0
        known = q_sample(x0, torch.full((len(x0),), t), ab, torch.randn(x0.shape, generator=g))
        x = mask * x + (1 - mask) * known                                  # the one new line
        eps = model(x, torch.full((len(x0),), t))
        x0_hat = (x - (1 - a_t) ** 0.5 * eps) / a_t ** 0.5
        sigma = ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)) ** 0.5 if a_prev < 1 else 0.0
        fresh = torch.randn(x0.shape, generator=g) if sigma > 0 else 0.0
        x = a_prev ** 0.5 * x0_hat + max(1 - a_prev - sigma ** 2, 0.0) ** 0.5 * eps + sigma * fresh
    return mask * x + (1 - mask) * x0


right_half = torch.zeros(1, 1, 28, 28)
right_half[..., 14:] = 1                                   # redraw the right half, keep the left
with torch.no_grad():
    mine = inpaint_by_hand(x_real, right_half, 20)
lib = inpaint(model, x_real, right_half, 20, alphas_cumprod=ab, generator=torch.Generator().manual_seed(0))
torch.testing.assert_close(mine, lib)
assert torch.equal(lib[..., :14], x_real[..., :14])        # the kept pixels are the original's, exactly
print("inpaint_by_hand equals genlib.diffusion.editing.inpaint; the left halves are untouched")

# %% [markdown]
# Does the filled half fit? A baseline with no such care: draw a fresh digit and **paste** its right half next to
# the kept left half. We score each by whether the classifier still reads the *original* digit, over the same N
# validation digits: the left half alone carries much of a digit's identity, so a fill that fits should keep it.

# %%
fresh, _ = sample_images(model, ab, N, "dpmpp_2m", 20, karras=True, seed=4, progress=False)
pasted = right_half * (fresh * 2 - 1) + (1 - right_half) * inputs
filled = inpaint(model, inputs, right_half, 20, alphas_cumprod=ab, generator=torch.Generator().manual_seed(4))
fill_score = {}
for name, imgs in (("pasted", pasted), ("inpainted", filled)):
    fill_score[name] = accuracy(classifier, to_pixels(imgs), labels)
    print(f"{name:9s}: the classifier reads the original digit in {fill_score[name]:6.1%} of {N}")
fig, axes = plt.subplots(3, 1, figsize=(6, 3.2))
for ax, (name, imgs) in zip(axes, (("originals", inputs), ("pasted", pasted), ("inpainted", filled))):
    viz.show_images(to_pixels(imgs[:10]), nrow=10, ax=ax, title=name)
plt.tight_layout(); plt.show()
assert fill_score["inpainted"] > fill_score["pasted"] + 0.2

# %% [markdown]
# Pasting joins two halves of different digits; inpainting continues the strokes it is shown, so the original digit
# comes back most of the time (not always: a left half can be shared by a 3 and an 8, and the model picks one).
# The replacement method has a known weakness, and the remaining misses show it: the known pixels steer the hole
# only through the noisy picture, so at high noise the two halves can disagree. RePaint adds resampling (going
# back and forth several times per step) to fix that; an exercise tries a cheaper knob, more steps.
#
# ## 5. ControlNet: teach an old model to read edges
#
# SDEdit and inpainting steer through the picture itself. To give the model a new *kind* of instruction, here an
# edge map ("draw shapes with these outlines"), it must learn to read it. **ControlNet** (Zhang et al. 2023) does
# this without changing a single weight of the trained model:
#
# - a **trainable copy** of the U-Net's way down (its encoder) reads the noisy picture plus the edge map (through a
#   small convolutional *hint encoder*);
# - its features are added to the frozen U-Net's skip connections and middle, each through a 1 × 1 convolution
#   whose weights and bias start at **zero**.
#
# At the start every correction is exactly zero, so the controlled model *is* the base model: training starts from
# something that already works, and the first gradient steps cannot wreck it. Proof, with a freshly made
# ControlNet on the shipped text-to-image U-Net:

# %%
from genlib.diffusion.edm import EpsFromEDM
from genlib.image.controlnet import ControlNet, Controlled, load_controlnet

base = t2i.denoiser.net                                        # the shipped text-to-image U-Net, frozen
torch.manual_seed(0)
fresh_control = ControlNet(base).to(device)
scene_pics, scene_caps, _ = make_shapes(4, "train", seed=8)
hints = edge_map(scene_pics).to(device)
x, t = torch.randn(4, 3, 32, 32, device=device), torch.tensor([50, 300, 600, 900], device=device)
ctx = text_context(clip, encode_captions(scene_caps)).to(device)
with torch.no_grad():
    same = torch.equal(Controlled(base, fresh_control, hints)(x, t, ctx), base(x, t, ctx))
trainable = sum(p.numel() for p in fresh_control.parameters())
print(f"fresh ControlNet ({trainable:,} trainable parameters, base {sum(p.numel() for p in base.parameters()):,} "
      f"frozen): output equal to the base model's: {same}")
assert same

# %% [markdown]
# The edge maps (section 3 already used them): a pixel is an edge if it is lit and touches a dark one.
# `genlib.data.shapes.edge_map` makes one for any picture, a generated one included, so we can check a sample
# against the edges it was asked to follow.

# %%
fig, axes = plt.subplots(2, 4, figsize=(7, 3.8))
for k in range(4):
    axes[0, k].imshow(scene_pics[k].permute(1, 2, 0)); axes[0, k].axis("off")
    axes[0, k].set_title(scene_caps[k].replace(" left of", "\nleft of").replace(" above", "\nabove")
                         .replace(" on the", "\non the").replace(" at the", "\nat the"), fontsize=7)
    axes[1, k].imshow(hints[k, 0].cpu(), cmap="gray"); axes[1, k].axis("off")
plt.suptitle("pictures and their edge maps", fontsize=9)
plt.tight_layout(); plt.show()

# %% [markdown]
# Training is the base model's own loss (EDM's, as in notebook 16), with the gradient flowing only into the copy,
# the hint encoder and the zero convolutions. A few steps live, to see two things: the base's weights do not move,
# and the zero convolutions leave zero (so the edges start to matter).

# %%
from genlib.diffusion.edm import edm_loss
from genlib.diffusion.guidance import Conditioned

train_pics, train_caps, _ = make_shapes(256, "train", seed=30)
train_ctx = text_context(clip, encode_captions(train_caps)).to(device)
train_x, train_hint = (train_pics * 2 - 1).to(device), edge_map(train_pics).to(device)
before = {k: v.clone() for k, v in base.state_dict().items()}
opt = torch.optim.AdamW(fresh_control.parameters(), lr=1e-3, weight_decay=0.0)
g = torch.Generator().manual_seed(0)
live_losses = []
for step in range(pick(8, 40)):
    i = torch.randint(256, (32,), generator=g)
    controlled = Conditioned(Controlled(base, fresh_control, train_hint[i]), train_ctx[i])
    loss = edm_loss(controlled, train_x[i], t2i_ab, generator=g, sigma_data=t2i.denoiser.sigma_data)
    opt.zero_grad(); loss.backward(); opt.step()
    live_losses.append(loss.item())
base_moved = any(not torch.equal(before[k], v) for k, v in base.state_dict().items())
zero_norm = sum(z.weight.norm().item() for z in fresh_control.zero_skips)
print(f"{len(live_losses)} steps, loss {live_losses[0]:.3f} -> {live_losses[-1]:.3f}; base weights moved: "
      f"{base_moved}; zero convolutions' weight norm now {zero_norm:.4f}")
assert not base_moved and zero_norm > 0

# %% [markdown]
# The shipped `shapes_controlnet` ran that loop for 30 minutes on one CPU core (`scripts/train_controlnet.py`) on
# 20,000 training-split scenes. Now the test: the same captions and the same starting noise, sampled by the base
# model alone and with the ControlNet reading each scene's edges, at guidance 3. How well do the samples' own edges
# match the asked ones? **Edge IoU**: shared edge pixels over all edge pixels of the two maps, where an edge one
# pixel off still counts as shared (1 = the same outlines).

# %%
control, cn_entry = load_controlnet(base)
K = pick(100, 400)
eval_pics, eval_caps, _ = make_shapes(K, "train", seed=3003)
eval_hints = edge_map(eval_pics).to(device)
eval_ctx = text_context(clip, encode_captions(eval_caps)).to(device)


def draw_scenes(net, seed=0):
    imgs, _ = sample_images(net, t2i_ab, K, "dpmpp_2m", 20, karras=True, seed=seed, image_shape=(3, 32, 32),
                            cond=eval_ctx, null=NULL_TEXT.to(device), guidance=3.0, progress=False, batch_size=K)
    return imgs


def with_edges(hints, strength=1.0):
    """The base U-Net steered by the ControlNet, wrapped like t2i to predict noise for the samplers."""
    return EpsFromEDM(Controlled(base, control, hints, strength), t2i_ab, t2i.denoiser.sigma_data).eval()


with_control = draw_scenes(with_edges(eval_hints))
without = draw_scenes(t2i)
iou = {name: edge_iou(edge_map(imgs), eval_hints.cpu()).mean().item()
       for name, imgs in (("without", without), ("with", with_control))}
faithful = {name: sum(shows(img, c) for img, c in zip(imgs, eval_caps)) / K
            for name, imgs in (("without", without), ("with", with_control))}
m = cn_entry["metric"]
print(f"edge IoU over {K} scenes: without ControlNet {iou['without']:.3f}, with {iou['with']:.3f} "
      f"({iou['with'] / iou['without']:.1f}x); shows the caption: {faithful['without']:.1%} and {faithful['with']:.1%}")
print(f"training script, {m['n']} other scenes: {m['edge_iou_without']:.3f} and {m['edge_iou_with']:.3f}")
assert iou["with"] >= 2 * iou["without"]                 # the target: at least twice the base model's
assert faithful["with"] >= faithful["without"] - 0.1       # following the edges costs little of the caption

# %% [markdown]
# With the ControlNet the samples' outlines are the asked ones, almost pixel for pixel; without it the caption
# still fixes the side of the picture, kind and size, so the base model overlaps the asked edges now and then,
# and no more. The edges also help the caption: they fix the kind, size and place, so more samples show everything
# the caption asks. The first eight, the asked edges above the two models' samples:

# %%
fig, axes = plt.subplots(3, 8, figsize=(10, 4))
for k in range(8):
    for row, img in enumerate((eval_hints[k, 0].cpu(), without[k].permute(1, 2, 0), with_control[k].permute(1, 2, 0))):
        axes[row, k].imshow(img, cmap="gray" if row == 0 else None); axes[row, k].axis("off")
for row, name in enumerate(("asked edges", "base model", "with ControlNet")):
    axes[row, 0].set_title(name, fontsize=8, loc="left")
plt.tight_layout(); plt.show()

# %% [markdown]
# The edges fix the outline and the words fill in the rest, so one edge map can take many captions. Below, the
# edges of the first four scenes, each drawn with its own caption and with the colours moved one step along the
# palette (the kind, size and place unchanged, so the caption still fits the outline).
#
# **Try it.** The slider scales the ControlNet's corrections (`Controlled(..., strength)`): 0 is the base model,
# 1 is what it was trained for, and above 1 the edges shout.

# %%
def recoloured_caption(scene):
    """The scene's caption with every shape's colour moved along the palette (never to a held-out pair)."""
    names = [f"a {sh.size} {recolour(sh)} {sh.kind}" for sh in scene.shapes]
    return f"{names[0]} {scene.where}" if len(names) == 1 else f"{names[0]} {scene.where} {names[1]}"


four_scenes = make_shapes(K, "train", seed=3003)[2][:4]
pair_caps = eval_caps[:4] + [recoloured_caption(sc) for sc in four_scenes]
pair_hints = eval_hints[:4].repeat(2, 1, 1, 1)
pair_ctx = text_context(clip, encode_captions(pair_caps)).to(device)


def two_lines(cap):
    for sep in (" left of", " above", " on the", " at the"):
        cap = cap.replace(sep, "\n" + sep.strip())
    return cap


def draw_control(strength):
    imgs, _ = sample_images(with_edges(pair_hints, strength), t2i_ab, 8, "dpmpp_2m", 20, karras=True, seed=5,
                            image_shape=(3, 32, 32), cond=pair_ctx, null=NULL_TEXT.to(device), guidance=3.0,
                            progress=False, batch_size=8)
    fig, axes = plt.subplots(3, 4, figsize=(7, 6))
    for k in range(4):
        axes[0, k].imshow(pair_hints[k, 0].cpu(), cmap="gray")
        for row in (1, 2):
            axes[row, k].imshow(imgs[(row - 1) * 4 + k].permute(1, 2, 0))
            axes[row, k].set_title(two_lines(pair_caps[(row - 1) * 4 + k]), fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    plt.suptitle(f"four edge maps (top), each drawn with two captions; ControlNet strength {strength:g}", fontsize=9)
    plt.tight_layout(); plt.show()


viz.slider_plot(draw_control, strength=(0.0, 2.0, 0.25, 1.0))

# %% [markdown]
# ## Summary
#
# - **Image-to-image is sampling from the middle.** SDEdit noises a picture to the level `strength` of the schedule
#   and runs an ordinary sampler from there; it needs no training, and the strength is the one knob.
# - **The strength is a measured trade-off:** the same digit survives light edits and is forgotten at strength 1
#   (chance), while the pixels move further the higher it goes (section 2); with a new caption, following the
#   caption and keeping the outline pull in opposite directions (section 3).
# - **Inpainting keeps the known pixels right for every noise level**, one line in the sampler's loop, so the
#   filled part continues what it sees; pasting a fresh sample does not (section 4).
# - **ControlNet adds a new kind of input to a frozen model**: a trainable copy of the encoder reads the control
#   image and feeds the base through zero-initialised convolutions, so it starts as the base model exactly and
#   learns only to use the hint. The edge IoU says how well the samples follow the edges (section 5).
#
# Next: notebook 19 swaps the two pieces every model here shares, the U-Net and the noise schedule, for a
# transformer and flow matching.

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. *(easy)* SDEdit at strength 0.5 with `steps=20`: how many network evaluations does one edit take with the MNIST
#    model, and how many with the guided text-to-image model of section 3? Why is an edit cheaper than a fresh
#    sample?

# %% [markdown] tags=["exercise"]
# 2. *(change the code)* Inpaint the right halves of section 4's digits with 10 and with 100 steps instead of 20,
#    and print how often the classifier reads the original digit. Does more steps help the replacement method?

# %% tags=["exercise"]
# Exercise 2: call inpaint(model, inputs, right_half, steps, alphas_cumprod=ab, generator=...) for steps 10 and
# 100, then score it with the classifier as in section 4.

# %% [markdown] tags=["exercise"]
# 3. *(open question)* ControlNet copies the trained encoder instead of training a small fresh network to read the
#    edges, and it starts its joining convolutions at zero rather than at small random values. What would go wrong
#    at the start of training with each of the two alternatives?

# %% [markdown] tags=["solution"]
# <details><summary>Solution</summary>
#
# 1. Strength 0.5 jumps to timestep 500 and walks the remaining half of the schedule in round(0.5 · 20) = 10 DDIM
#    steps: 10 evaluations for the MNIST model, 20 for the guided one (two per step). The edit skips the first half
#    of the walk, the part that decides the layout, because the input already has one.
# 2. ```python
#    for steps in (10, 100):
#        out = inpaint(model, inputs, right_half, steps, alphas_cumprod=ab, generator=torch.Generator().manual_seed(4))
#        print(steps, f"{accuracy(classifier, to_pixels(out), labels):.1%}")
#    ```
#    On the shipped model: 72.0% with 10 steps, 67.0% with 100 (section 4 printed the 20-step score). The
#    differences are within the noise of 200 digits (about ±3 points): more steps do not help, because the weakness
#    is not the step size. The known half talks to the hole only through the noisy picture, at every step, however
#    many steps there are. RePaint's fix is different in kind: jump back up the noise levels and denoise again,
#    several times per step, so the two halves get more rounds to agree.
# 3. A fresh network would start with random features, so at the start its corrections would be noise added to
#    every skip of a model that works: the samples would be ruined until it learned, and the big early gradients
#    would mostly teach it to undo its own noise. The copy starts with features the base model already understands.
#    Small random joining convolutions would have the same problem in a milder form: the controlled model would not
#    start as the base model. At zero the first gradient steps only *add* a useful signal (the gradient with
#    respect to a zero convolution's weights is not zero, because its input, the copy's features, is not zero), so
#    training never passes through a broken model.
# </details>
