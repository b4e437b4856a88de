# %% [markdown]
# # 07 · Decoding — from next-token probabilities to text
#
# **The idea:** a language model does not write text. At each step it gives a probability for every possible
# next token, and a **decoding strategy** turns those probabilities into one choice. The same model can sound
# dull, mad or fluent depending on that choice. Chat services expose it as *temperature*, *top-k*, *top-p*,
# *repetition penalty*, *stop sequences* and *max tokens*; this notebook builds each one by hand on a GPT
# trained on Shakespeare, proves it equals `genlib.text.decoding`, and measures what it does.
#
# **Learning objectives.** After this notebook you can
# - decode greedily and explain why greedy text falls into loops;
# - reshape the next-token distribution with temperature, top-k and top-p (nucleus), and with a repetition penalty;
# - stop generation at an end token or a length limit;
# - search for likely sequences with beam search, and say why it is rarely used for open-ended text;
# - explain the key/value cache, prove it changes nothing but speed, and measure the speed-up;
# - measure the trade-off between the diversity and the quality of samples as temperature rises.
#
# **Prerequisites.** Notebooks 03 (sampling from a language model) and 05 (attention, the GPT).
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
import math
import re
import time
import torch
import torch.nn.functional as F
import matplotlib.pyplot as plt
from genlib import viz
from genlib.checkpoints import read_manifest
from genlib.data import shakespeare_splits
from genlib.device import describe, get_device, pick, seed_everything
from genlib.progress import progress
from genlib.text.decoding import (apply_repetition_penalty, apply_temperature, beam_search, generate, greedy,
                                  sequence_log_prob, top_k_filter, top_p_filter)
from genlib.text.gpt import GPT, GPTConfig
from genlib.text.lm import evaluate_loss, fixed_batches
from genlib.text.shakespeare import CHECKPOINT, char_tokenizer, encoded_splits, load_or_train_gpt

seed_everything(0)
device = get_device()
print(describe())

# %% [markdown]
# ## 0. A model to decode
#
# The character-level GPT of notebook 06, trained on Tiny Shakespeare. We load the course's shipped checkpoint
# if it is there (made by `scripts/train_gpt.py`); if not, we train a small one for a short, visible run, and
# everything below still works, just with rougher text.

# %%
tok = char_tokenizer()
train_ids, val_ids = encoded_splits(tok)
model, source = load_or_train_gpt(device, steps=pick(300, 3000))   # the shipped GPT, or a short run here
block_size = model.config.block_size
windows = fixed_batches(val_ids, block_size, batch_size=1, n_batches=64)    # 64 random windows, fixed seed
window_losses = torch.tensor([evaluate_loss(model, [w], device) for w in windows])
val_loss, val_se = window_losses.mean().item(), window_losses.std().item() / len(windows) ** 0.5
print(f"{source}: {model.num_params():,} parameters, context {block_size} characters")
print(f"validation loss on 64 random {block_size}-character windows: {val_loss:.3f} ± {val_se:.3f} nats/char")
if source == "the shipped checkpoint":
    whole_split = read_manifest()[CHECKPOINT]["metric"]["value"]
    print(f"validation loss on every character of the split (scripts/train_gpt.py): {whole_split:.4f} nats/char")
    assert abs(val_loss - whole_split) < 3 * val_se      # the estimate differs from the exact value only by noise


# %% [markdown]
# **Which validation loss?** You will meet three numbers for this one model; they differ in which text they
# score, not in the model:
# - **1.4765 nats/char** (the README and `checkpoints/manifest.json`): every character of the validation split
#   (the last 10% of Tiny Shakespeare, 111,540 characters) in non-overlapping 128-character windows, computed
#   by `scripts/train_gpt.py` once training ends. This is the exact value; it takes about 15 s on one CPU
#   thread, so we read it instead of recomputing it.
# - **the estimate above**: the same loss on 64 randomly placed 128-character windows (8,192 predictions,
#   the same windows every run), with its standard error (± one standard deviation of the window losses /
#   √64). It misses the exact value only because it sees 7% of the text, and lies within 3 standard errors of
#   it (asserted when the shipped model is loaded).
# - **section 10's reference**: 256 real passages of 80 characters, each starting right after a newline,
#   scored exactly as the generated samples are scored there. Each passage starts from scratch (at most 80
#   characters of context, against up to 128 here), so it is its own measurement, printed with its own error.
#
# ## 1. What the model gives us: a distribution
#
# Give the model a prompt and it returns one score (a **logit**) per character of the vocabulary for the next
# position; a softmax turns them into probabilities. Everything in this notebook is a way of choosing from this
# distribution.

# %%
def encode(text):
    return torch.tensor(tok.encode(text), device=device)

def show(c):
    return {"\n": "⏎", " ": "␣"}.get(c, c)

def next_logits(prompt):
    with torch.no_grad():
        return model(encode(prompt)[None])[0, -1].float().cpu()

prompt = "ROMEO:\nI will "
logits = next_logits(prompt)
probs = logits.softmax(-1)
top = probs.topk(15)
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar([show(tok.chars[i]) for i in top.indices], top.values.numpy())
ax.set(title=f"Next character after {prompt!r}", xlabel="next character", ylabel="probability")
plt.show()
print(f"{(probs > 0.01).sum()} characters have more than 1% probability; the top one has {top.values[0]:.0%}")


# %% [markdown]
# The model spreads real probability over many letters: after "I will " many words can follow.
#
# ## 2. Greedy decoding
#
# The obvious strategy: always take the most likely token. We write the loop by hand and check it against
# `genlib.text.decoding.generate` with `temperature=0`, which means greedy, for 60 characters; then we let
# `generate` (faster, thanks to the key/value cache of section 9) write 200.

# %%
def my_greedy(prompt_ids, n):
    ids = prompt_ids[None]
    for _ in range(n):
        with torch.no_grad():
            logits = model(ids[:, -block_size:])[:, -1]        # the model sees at most block_size tokens
        ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], dim=1)
    return ids[0]

start = encode("ROMEO:\n")
assert torch.equal(my_greedy(start, 60), generate(model, start, 60, temperature=0))
greedy_text = tok.decode(generate(model, start, 200, temperature=0))
print(greedy_text)


# %% [markdown]
# Greedy text goes round in circles. We measure it: the share of the text's 12-character pieces that already
# appeared earlier in the same text, next to the same measure on 20 real Shakespeare passages of the same
# length from the validation set.

# %%
def repeated_share(text, n=12):
    seen, repeats = set(), 0
    for i in range(len(text) - n + 1):
        repeats += text[i:i + n] in seen          # this piece already appeared earlier
        seen.add(text[i:i + n])
    return repeats / (len(text) - n + 1)

greedy_rep = repeated_share(greedy_text[len("ROMEO:\n"):])
real_rep = sum(repeated_share(tok.decode(val_ids[i:i + 200])) for i in range(0, 20 * 5000, 5000)) / 20
print(f"12-character pieces seen before in the same text: greedy {greedy_rep:.0%}, real Shakespeare {real_rep:.0%}")
assert greedy_rep > 0.15 and greedy_rep > 3 * real_rep

# %% [markdown]
# Why? Once the model has written a phrase, the phrase itself becomes the most likely continuation of its own
# context, and greedy never takes a less likely turn to escape. This is the "repetition loop" of small and
# large models alike. The cure is to **sample**: draw the next token from the distribution instead of taking
# its peak, and shape the distribution first.
#
# ## 3. Temperature
#
# Divide the logits by T before the softmax. T < 1 sharpens the distribution towards greedy; T > 1 flattens
# it towards uniform; T → 0 is exactly greedy, which is why `generate(temperature=0)` means greedy decoding.

# %%
temps = [0.5, 1.0, 1.5]
tempered = {T: (logits / T).softmax(-1) for T in temps}
for T in temps:
    torch.testing.assert_close(tempered[T], apply_temperature(logits, T).softmax(-1))
entropy = {T: -(p * p.clamp_min(1e-12).log()).sum().item() for T, p in tempered.items()}

fig, ax = plt.subplots(figsize=(8, 3))
order = probs.argsort(descending=True)[:15]
for i, T in enumerate(temps):
    ax.bar(torch.arange(15) + (i - 1) * 0.28, tempered[T][order].numpy(), width=0.28,
           label=f"T = {T} (entropy {entropy[T]:.2f} nats)")
ax.set_xticks(range(15), [show(tok.chars[j]) for j in order])
ax.set(title=f"Temperature reshapes the next-character distribution after {prompt!r}",
       xlabel="next character", ylabel="probability")
ax.legend()
plt.show()
assert entropy[0.5] < entropy[1.0] < entropy[1.5]

# %% [markdown]
# Same ranking, different spread: entropy rises with temperature. Samples show what that means for text
# (each row is drawn with its own seeded generator, so the notebook gives the same text every run):

# %%
for T in [0.5, 1.0, 1.5]:
    out = generate(model, start, 100, temperature=T, generator=torch.Generator().manual_seed(1))
    print(f"--- T = {T}\n{tok.decode(out[len(start):])}")


# %% [markdown]
# At T = 0.5 the text is tidy but plain; at 1.5 it invents words and breaks the format. Two filters aim to keep
# the variety while cutting off the unlikely tail, where the nonsense comes from.
#
# ## 4. Top-k
#
# Keep only the k most likely tokens, renormalize, sample. We build it and compare with `genlib` on the
# model's real next-token logits at every position of eight validation windows.

# %%
def my_top_k(logits, k):
    kth = logits.topk(k, dim=-1).values[..., -1:]           # the k-th largest logit in each row
    return logits.masked_fill(logits < kth, float("-inf"))

xv, _ = fixed_batches(val_ids, block_size, 8, 1)[0]
with torch.no_grad():
    val_logits = model(xv.to(device)).flatten(0, 1).float().cpu()       # [8 * block_size, vocab]
for k in (1, 5, 20):
    torch.testing.assert_close(my_top_k(val_logits, k), top_k_filter(val_logits, k))
assert torch.equal(my_top_k(val_logits, 1).argmax(-1), greedy(val_logits))
print(f"hand-written top-k == genlib.top_k_filter on {len(val_logits)} real distributions; top-1 == greedy")


# %% [markdown]
# ## 5. Top-p (nucleus sampling)
#
# A fixed k is too many tokens when the model is sure (after "Rome" the next letter is almost surely "o") and
# too few when it is not (the first letter of a new word). **Top-p** keeps the smallest set of most likely
# tokens whose probabilities add up to at least p, so the set grows and shrinks with the model's uncertainty
# (Holtzman et al., 2019, "The Curious Case of Neural Text Degeneration"). Sort, add up, cut:

# %%
def my_top_p(logits, p):
    probs = logits.softmax(-1)
    sorted_probs, order = probs.sort(-1, descending=True)
    mass_above = sorted_probs.cumsum(-1) - sorted_probs     # probability of the tokens ranked above
    drop_sorted = mass_above >= p                            # the set already reached p without this token
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)   # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))

for p in (0.5, 0.9, 0.99):
    torch.testing.assert_close(my_top_p(val_logits, p), top_p_filter(val_logits, p))
nucleus = top_p_filter(val_logits, 0.9).isfinite().sum(-1)
print(f"hand-written top-p == genlib.top_p_filter; at p = 0.9 the nucleus holds {nucleus.min()} to "
      f"{nucleus.max()} characters (median {nucleus.median()})")
assert nucleus.min() <= 2 and nucleus.max() >= 8

# %%
fig, ax = plt.subplots(figsize=(7, 3))
ax.hist(nucleus.numpy(), bins=range(1, int(nucleus.max()) + 2), align="left")
ax.set(title="Top-p = 0.9 keeps a different number of characters at each position",
       xlabel="characters in the nucleus", ylabel="positions")
plt.show()

# %% [markdown]
# Often one or two characters suffice (inside a word), sometimes many more (at the start of a word): top-p
# adapts where top-k cannot. (`genlib`'s version also keeps tokens *tied* with the last one kept, so the result
# never depends on how equal logits are ordered; a unit test covers ties and p = 1.)
#
# **Try it.** Move the sliders: temperature first reshapes the distribution, then top-p cuts its tail; the bars
# show what is left after a prompt, and the text below is a sample drawn with those settings. (On GitHub you
# see the figure at the default values.)

# %%
slider_prompt = "JULIET:\nO Romeo, Romeo! "
slider_logits = next_logits(slider_prompt)

def draw(temperature, top_p):
    kept = top_p_filter(apply_temperature(slider_logits, temperature), top_p).softmax(-1)
    n_left = int((kept > 0).sum())
    order = kept.argsort(descending=True)[:min(20, n_left)]      # at most 20 bars, all of them left after top-p
    shown = f"all {n_left}" if n_left <= 20 else f"top 20 of {n_left}"
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar([show(tok.chars[i]) for i in order], kept[order].numpy())
    ax.set(title=f"T = {temperature:.1f}, top-p = {top_p:.2f}: {shown} characters left shown",
           xlabel=f"next character after {slider_prompt!r}", ylabel="probability", ylim=(0, 1))
    out = generate(model, encode(slider_prompt), 80, temperature=temperature, top_p=top_p,
                   generator=torch.Generator().manual_seed(0))
    print(tok.decode(out[len(slider_prompt):]))

viz.slider_plot(draw, temperature=(0.1, 2.0, 0.1, 1.0), top_p=(0.05, 1.0, 0.05, 0.9))


# %% [markdown]
# ## 6. Repetition penalty
#
# Another cure for loops, from the CTRL model (Keskar et al., 2019): make every token that has already been
# generated less likely. CTRL divides a positive logit by the penalty θ and multiplies a negative one by it (so
# both move down). `genlib` applies it to the generated tokens only, not the prompt.

# %%
def my_repetition_penalty(logits, previous, theta):
    out = logits.clone()
    for i in set(previous.tolist()):
        out[i] = out[i] / theta if out[i] > 0 else out[i] * theta
    return out

previous = torch.tensor(tok.encode("the state of the"))      # on the CPU, like `logits`
torch.testing.assert_close(my_repetition_penalty(logits, previous, 1.3),
                           apply_repetition_penalty(logits, previous, 1.3))
penalized = generate(model, start, 200, temperature=0, repetition_penalty=1.3)
penalized_text = tok.decode(penalized)
print(penalized_text)


# %% [markdown]
# We compare plain and penalized greedy by the repeated share of section 2, and by their **distinct-4
# ratio**: the share of the text's 4-character pieces that differ from each other (1 = no piece ever repeats).

# %%
def distinct_n(texts, n=4):
    grams = [t[i:i + n] for t in texts for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams)

plain_d, penalized_d = distinct_n([greedy_text[7:]]), distinct_n([penalized_text[7:]])
penalized_rep = repeated_share(penalized_text[7:])
print(f"greedy: distinct-4 {plain_d:.2f}, repeated 12-character pieces {greedy_rep:.0%}; "
      f"with penalty 1.3: {penalized_d:.2f} and {penalized_rep:.0%}")
assert penalized_d > plain_d and penalized_rep < greedy_rep

# %% [markdown]
# The penalty makes the text less repetitive (both measures improve), but with characters as tokens it is a blunt
# tool: after a few words every common letter (and the space) has "already appeared" and is penalized alike,
# so the penalty can no longer tell a repeated word from a new one, and a loop may come back. With word-piece
# tokens (notebook 04) it behaves better, which is where chat models use it.
#
# ## 7. When to stop
#
# A model could go on forever; generation ends at a **stop token** or a **maximum length**. Chat models emit a
# special end-of-text token; our character model has none, so we use the newline as "end of line". We sample
# four continuations of one prompt as a batch: each row stops at its first newline, and rows that finish early
# are padded with newlines until the last one is done (or the length limit is reached).

# %%
newline = tok.stoi["\n"]
batch = encode("JULIET:\n").repeat(4, 1)
out = generate(model, batch, 120, temperature=0.8, eos_id=newline, generator=torch.Generator().manual_seed(2))
n_generated = out.shape[1] - batch.shape[1]
print(f"generated {n_generated} positions (limit 120)")
assert n_generated < 120
for row in out:
    new = tok.decode(row[batch.shape[1]:])
    line, padding = new.split("\n", 1) if "\n" in new else (new, "")
    print(f"{line!r} + newline and {len(padding)} padding")
    assert set(padding) <= {"\n"} and ("\n" in new or len(new) == 120)

# %% [markdown]
# Each row ends at its first newline, and generation stopped as soon as the longest line was done, well
# before the limit of 120. That is all a "stop sequence" is.
#
# ## 8. Beam search
#
# Greedy picks the best *next* token; it does not find the most likely *sequence*. **Beam search** keeps the
# `beam_width` most likely partial sequences at each step and extends them all. Width 1 is greedy (we check),
# and wider beams find sequences the model rates as more likely.

# %%
n_new = 32
greedy_ids = generate(model, start, n_new, temperature=0)
beams = {}
for width in progress([1, 2, 4, 8], desc="beam widths"):
    beams[width] = beam_search(model, start, beam_width=width, max_new_tokens=n_new)
assert torch.equal(beams[1][0], greedy_ids)
greedy_logp = sequence_log_prob(model, greedy_ids, start=len(start)).item()
for width, (ids, logp) in beams.items():
    print(f"width {width}: log-prob {logp:7.2f}  {tok.decode(ids[len(start):])!r}")
gain = beams[8][1] - greedy_logp
print(f"width 8 vs greedy: {gain:+.2f} nats")
assert abs(beams[1][1] - greedy_logp) < 1e-3 and all(logp >= greedy_logp - 1e-3 for _, logp in beams.values())

# %% [markdown]
# Here the wider beams find continuations at least as likely as greedy's (beam search does not promise it in
# general: greedy's path can fall off the beam) — and they are no better to read.
# The most *likely* text is short, common and repetitive; human text is not the most likely text, which is why
# open-ended generation samples and beam search is kept for tasks with one right answer (translation,
# speech recognition).
#
# ## 9. The key/value cache
#
# Without a cache, generating each token reruns the model on the whole context, so generating n tokens costs
# about n²/2 token-positions. But in a causal model the keys and values of past tokens never change (notebook 05
# showed that position t ignores what comes after it). So we can **keep them**: feed the prompt once, then each
# step feeds only the newest token, whose query attends to the stored keys and values. `genlib`'s GPT does this
# with `model.new_caches()` and `forward(idx, caches, start)`. First, the logits must not change:

# %%
import copy
model64 = copy.deepcopy(model).cpu().double()               # float64 on the CPU: rounding can't hide a bug
window = xv[:2]                                             # two validation windows of block_size characters
with torch.no_grad():
    full = model64(window)                                  # everything at once, no cache
    caches = model64.new_caches()
    pieces = [model64(window[:, :8], caches=caches, start=0)]             # an 8-character prompt
    pieces += [model64(window[:, t:t + 1], caches=caches, start=t) for t in range(8, block_size)]
cached = torch.cat(pieces, dim=1)
torch.testing.assert_close(cached, full, atol=1e-5, rtol=0)             # every logit within 1e-5
print(f"each layer's cache holds keys {tuple(caches[0]['k'].shape)} (batch, heads, positions, head size)")
print(f"largest logit difference {(cached - full).abs().max():.1e}, on logits as large as {full.abs().max():.1f}")

# %% [markdown]
# Equal up to rounding: every logit within 1e-5 (we compare in float64, where rounding is a million times
# smaller than the tolerance; in float32 the two orders of adding up differ by about 1e-5 on logits this large). Now the speed: generate 48 characters for 8 prompts at once, with and without
# the cache (greedy, so the outputs must match exactly; the faster of two runs each).

# %%
prompts8 = xv[:, :4].to(device)                            # 8 prompts of 4 characters
n_gen = 48

def best_time(use_cache, repeats=2):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = generate(model, prompts8, n_gen, temperature=0, use_cache=use_cache)
        best = min(best, time.perf_counter() - t0)
    return out, best

(out_cached, t_cached), (out_full, t_full) = best_time(True), best_time(False)
work_full = sum(min(4 + i, block_size) for i in range(n_gen))
print(f"{n_gen} tokens x 8 prompts: {t_full * 1e3:.0f} ms without cache, {t_cached * 1e3:.0f} ms with it "
      f"({t_full / t_cached:.1f}x faster); positions computed per row: {work_full} vs {4 + n_gen - 1}")

# %% [markdown]
# The timings depend on the machine and its load, so what we check is not the clock but the outputs (identical)
# and the work (positions computed per row):

# %%
assert torch.equal(out_cached, out_full)
assert work_full > 10 * (4 + n_gen - 1)
print("identical outputs with and without the cache")

# %% [markdown]
# Same tokens, less work: without the cache each step recomputes every earlier position, with it each step
# computes one. The gap grows with the context length, which is why every serving system keeps a KV cache (and
# why its memory, not the weights, often limits how many users a GPU can serve). On a GPU a model this small
# is limited by the number of kernel launches rather than by arithmetic, so there the gain is small. When the sequence outgrows the
# context, `generate` slides the window and recomputes (a cached key cannot change its position), so the output
# never depends on `use_cache`; a unit test checks that past the context too.
#
# ## 10. Diversity against quality
#
# Temperature trades one for the other. For each temperature we draw 16 samples of 80 characters (or one
# context's length, if shorter) and measure:
# - **diversity**: the distinct-4 ratio over all 16 samples;
# - **quality as the model sees it**: the samples' loss under the model, in nats per character (lower = the
#   model finds the text more typical); the dashed line is its loss on 256 real validation passages scored
#   the same way (80 characters, each right after a newline);
# - **quality by an outside reference**: the share of generated words that occur somewhere in the training text.

# %%
train_text, _ = shakespeare_splits()
known_words = set(re.findall(r"[a-z]+", train_text.lower()))

def real_word_rate(texts):
    words = [w for t in texts for w in re.findall(r"[a-z]+", t.lower())]
    return sum(w in known_words for w in words) / max(1, len(words))

temperatures = [0.3, 0.5, 0.7, 1.0, 1.3, 1.6]
n_samples, length = 16, min(block_size - 1, 80)
stats = {"distinct-4": [], "loss under the model": [], "real-word rate": []}
sample_losses = {}                                # per-sample losses, for the error bars of the comparison below
for T in progress(temperatures, desc="temperatures"):
    prompt_ids = torch.full((n_samples, 1), newline, device=device)
    ids = generate(model, prompt_ids, length, temperature=T, generator=torch.Generator().manual_seed(0))
    texts = [tok.decode(row[1:]) for row in ids]
    sample_losses[T] = -sequence_log_prob(model, ids).cpu() / length
    stats["distinct-4"].append(distinct_n(texts))
    stats["loss under the model"].append(sample_losses[T].mean().item())
    stats["real-word rate"].append(real_word_rate(texts))

# %%
# the fair reference: real validation text scored the same way (80 characters, each right after a newline);
# 256 passages spread over the split, so its standard error is small next to the gaps we discuss
starts = (val_ids[:-length - 1] == newline).nonzero().squeeze(1)[:: 17][:256]
real = torch.stack([val_ids[s: s + length + 1] for s in starts.tolist()]).to(device)
real_losses = -sequence_log_prob(model, real).cpu() / length
real_loss, real_se = real_losses.mean().item(), real_losses.std().item() / len(real_losses) ** 0.5
fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
units = {"distinct-4": "share of distinct 4-grams", "loss under the model": "nats per character",
         "real-word rate": "share of words in the training text"}
for ax, (name, values) in zip(axes, stats.items()):
    ax.plot(temperatures, values, marker="o")
    ax.set(title=name, xlabel="temperature", ylabel=units[name])
    ax.grid(alpha=0.3)
axes[1].axhline(real_loss, color="gray", ls="--", label="real text, scored the same way")
axes[1].legend()
fig.suptitle("Diversity rises with temperature; quality falls")
plt.show()
for T, d, l, w in zip(temperatures, *stats.values()):
    print(f"T = {T:.1f}: distinct-4 {d:.2f}, loss under the model {l:.2f} nats/char, real words {w:.0%}")
increasing = lambda v, slack=0.0: all(b > a - slack for a, b in zip(v, v[1:]))
assert increasing(stats["loss under the model"])
assert increasing(stats["distinct-4"], slack=0.01) and stats["distinct-4"][0] < stats["distinct-4"][-1]  # near 1 it saturates
assert stats["real-word rate"][0] > stats["real-word rate"][-1]
at_one, at_one_se = sample_losses[1.0].mean().item(), sample_losses[1.0].std().item() / n_samples ** 0.5
gap, gap_se = real_loss - at_one, math.hypot(at_one_se, real_se)
print(f"at T = 1 the samples' loss is {at_one:.2f} ± {at_one_se:.2f}; {len(real_losses)} real passages after a "
      f"newline score {real_loss:.2f} ± {real_se:.2f} nats/char: a gap of {gap:.2f} = {gap / gap_se:.1f} standard "
      f"errors; at T = 1.3 the samples score {stats['loss under the model'][temperatures.index(1.3)]:.2f}")
assert gap > 2 * gap_se                                                       # T = 1 samples: clearly less surprising
assert stats["loss under the model"][temperatures.index(1.3)] > real_loss   # the curve crosses real text's below T = 1.3

# %% [markdown]
# Both curves move together, in opposite directions for the reader: as T rises, the samples repeat themselves
# less (distinct-4 up), but the model finds them less typical (loss up) and fewer of their words are real.
#
# At T = 1 the samples' loss is clearly *below* real text's, not close to it: the gap is several times its
# standard error (printed; the assert asks for more than two). At T = 1 the model draws from its own
# distribution, so on average its samples surprise it only as much as its own uncertainty (the entropy of its
# predictions); real text surprises it more, wherever the model is wrong about Shakespeare. To make samples as
# surprising as real text you must raise T above 1 (the curve crosses the dashed line between T = 1.0 and 1.3),
# and by then the real-word rate has already dropped. Low temperatures buy "quality" by repeating the few
# phrases the model is surest of (distinct-4 is lowest there). There is no free setting:
# every product picks a point on this curve (and top-p helps by cutting the worst tail at a given T).
#
# ## Summary
#
# - A language model outputs a next-token distribution; decoding chooses from it. Greedy takes the peak and
#   falls into loops (far more of its text repeats itself than real Shakespeare does).
# - Temperature divides the logits: entropy rises with T; T → 0 is greedy.
# - Top-k keeps a fixed number of tokens; top-p keeps the smallest set reaching probability p, so its size
#   adapts to the model's uncertainty. Both built by hand equal `genlib.text.decoding`.
# - A CTRL repetition penalty makes greedy text less repetitive (distinct-4 up, repeated pieces down) but is
#   blunt with character tokens.
# - Generation stops at an end token (here, newline) or a maximum length.
# - Beam search finds sequences at least as likely as greedy's, which are not better text.
# - The key/value cache gives the same logits (within 1e-5) and the same tokens, with far less work: we
#   measured the speed-up on this machine.
# - Raising temperature trades quality (loss under the model, real-word rate) for diversity (distinct-4).
#   At T = 1 the model finds its own samples less surprising than real text: the gap is what it still gets
#   wrong about Shakespeare.

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. *(easy)* Generate 200 characters from "KING HENRY VI:\n" at T = 0.8 with top-k = 10 and with top-p = 0.9.
#    Which reads better to you?

# %% tags=["exercise"]
# Exercise 1: generate 200 characters from "KING HENRY VI:\n" at temperature 0.8, once with top-k = 10 and once
# with top-p = 0.9, and print both.

# %% [markdown] tags=["exercise"]
# 2. *(change the code)* Add **min-p** sampling (keep tokens whose probability is at least `min_p` times the top
#    token's) as a function `min_p_filter(logits, min_p)` like `top_p_filter`, hand it to `generate` through its
#    hook, `generate(..., logits_filter=lambda l: min_p_filter(l, 0.1))` (no need to rewrite the loop), and add
#    it to the diversity/quality study of section 10 at min_p = 0.1. Does your filter see the logits before or
#    after the temperature? (`help(generate)` gives the order.)

# %% tags=["exercise"]
# Exercise 2: write min_p_filter(logits, min_p) (like top_p_filter: set to -inf the logits whose probability is
# below min_p times the top one), pass it to generate as logits_filter, and add it to section 10's study at min_p = 0.1.

# %% [markdown] tags=["exercise"]
# 3. *(open question)* The samples' loss under the model is lowest at low temperature, but those samples are
#    the worst to read. What does this say about using a model's own likelihood to judge its text? What would
#    be a better judge?

# %% [markdown] tags=["solution"]
# <details><summary>Solution</summary>
#
# 1. ```python
#    p = encode("KING HENRY VI:\n")
#    for kw in (dict(top_k=10), dict(top_p=0.9)):
#        out = generate(model, p, 200, temperature=0.8, generator=torch.Generator().manual_seed(0), **kw)
#        print(kw, tok.decode(out[len(p):]), sep="\n")
#    ```
#    At this temperature both are close; top-p is safer where the model is sure (one or two letters kept) and
#    freer where it is not.
# 2. ```python
#    def min_p_filter(logits, min_p):
#        probs = logits.softmax(-1)
#        return logits.masked_fill(probs < min_p * probs.max(-1, keepdim=True).values, float("-inf"))
#
#    for T in temperatures:
#        prompt_ids = torch.full((n_samples, 1), newline, device=device)
#        ids = generate(model, prompt_ids, length, temperature=T, generator=torch.Generator().manual_seed(0),
#                       logits_filter=lambda l: min_p_filter(l, 0.1))
#        texts = [tok.decode(row[1:]) for row in ids]
#        print(f"T = {T}: distinct-4 {distinct_n(texts):.2f}, real words {real_word_rate(texts):.0%}")
#    ```
#    `generate` applies the filter after the temperature (and after top-k and top-p), so min-p cuts relative to
#    the top token of the distribution that is actually sampled. With the shipped model and these seeds we
#    measured, at T = 1.6, 87% real words with min-p against 64% without, for a distinct-4 of 0.90 against 0.94:
#    min-p removes most of the invented words and keeps most of the variety, because its cut follows the top
#    token (strict where the model is sure, loose where it is not).
# 3. A model's likelihood rewards text that is typical *for the model*, including its own loops, so it cannot
#    judge its own samples. Better judges are outside it: a different, stronger model; statistics of real text
#    (like our real-word rate, or distinct-n against the validation set); or people, whose preferences a
#    *reward model* learns to imitate (the idea behind RLHF, which turns a pre-trained model into an
#    assistant). Holtzman et al. (2019) show human text sits at a likelihood well below the beam-search optimum.
# </details>
