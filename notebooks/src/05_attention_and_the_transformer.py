# %% [markdown]
# # 05 · Attention and the transformer
#
# **The idea:** an n-gram model looks back a fixed two or three tokens. A transformer lets every token *choose*
# which earlier tokens to read, with weights it computes on the fly: that is **attention**, and it is how a
# model uses its **context**. This notebook builds attention by hand, checks it against PyTorch, adds the pieces
# that turn it into a transformer (heads, positions, blocks), and then looks inside a GPT trained on Shakespeare.
#
# **Learning objectives.** After this notebook you can
# - compute self-attention by hand (scores, scaling, causal mask, softmax, weighted sum) and prove it equals
#   `F.scaled_dot_product_attention`;
# - explain why scores are divided by √d, and measure what happens if they are not;
# - split attention into heads and merge them back;
# - give a transformer a sense of order three ways (learned, sinusoidal, RoPE) and show that RoPE makes the
#   query–key score depend only on the distance between tokens;
# - read a transformer block, prove a GPT cannot see the future, and draw a trained model's attention maps.
#
# **Prerequisites.** Notebooks 02 (PyTorch, training) and 03 (next-token prediction); matrix products.
#
# **Estimated time.** 60 minutes; under a minute to run on a laptop CPU.

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
from genlib.device import describe, get_device, pick, seed_everything
from genlib.text.attention import (MultiHeadAttention, attention, attention_maps, attention_weights,
                                   causal_mask, sinusoidal_positions)
from genlib.text.gpt import GPT, GPTConfig, Block, CausalSelfAttention, apply_rope, rope_tables
from genlib.text.lm import fixed_batches
from genlib.text.shakespeare import char_tokenizer, encoded_splits, load_or_train_gpt

seed_everything(0)
device = get_device()
print(describe())

# %% [markdown]
# ## 1. Attention by hand
#
# Six words, each turned into a vector (in a real model a learned embedding; here random numbers). Each word
# makes three vectors from its embedding with three matrices:
# a **query** ("what am I looking for?"), a **key** ("what do I contain?") and a **value** ("what do I hand over
# if chosen?"). The score of word i for word j is the dot product of i's query with j's key. Notice that
# "the" appears twice, with the same embedding.

# %%
words = ["the", "cat", "sat", "on", "the", "mat"]
vocab = sorted(set(words))
ids = torch.tensor([vocab.index(w) for w in words])
T, d = len(words), 8
g = torch.Generator().manual_seed(0)
embedding = torch.randn(len(vocab), d, generator=g)
Wq, Wk, Wv = (torch.randn(d, d, generator=g) / math.sqrt(d) for _ in range(3))
x = embedding[ids]                       # [T, d]: one row per word
q, k, v = x @ Wq, x @ Wk, x @ Wv         # queries, keys, values
scores = q @ k.T / math.sqrt(d)          # [T, T]: row i = how well word i's query matches each key
print(scores.shape)

# %% [markdown]
# A softmax turns each row of scores into weights that are positive and sum to one. A language model must not
# peek at the words it is trying to predict, so for text generation we also apply a **causal mask**: word i
# may only look at words 0..i. Setting the future's scores to −∞ makes their weight exactly zero.

# %%
weights_all = scores.softmax(dim=-1)
future = torch.ones(T, T).triu(1).bool()                 # True above the diagonal: the future
weights_causal = scores.masked_fill(future, float("-inf")).softmax(dim=-1)
out = weights_causal @ v                                 # each word's output: a weighted mean of values

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
for ax, m, title in zip(axes, [scores, weights_all, weights_causal],
                        ["scores q·k/√d", "weights: softmax(scores)", "weights with the causal mask"]):
    im = ax.imshow(m.numpy(), cmap="viridis")
    ax.set(title=title, xlabel="key (the word being read)", xticks=range(T), yticks=range(T),
           xticklabels=words, yticklabels=words)
    fig.colorbar(im, ax=ax, shrink=0.8)
axes[0].set_ylabel("query (the word reading)")
plt.show()
assert torch.allclose(weights_causal.sum(-1), torch.ones(T)) and (weights_causal.triu(1) == 0).all()
print("row sums:", weights_causal.sum(-1).tolist())


# %% [markdown]
# Each row is a probability distribution over the words the query may read; with the mask, the upper triangle
# is exactly zero and the first word can only read itself. Now the whole computation as one function, checked
# against PyTorch's fused `F.scaled_dot_product_attention` on random batched shapes (batch, heads, time, size)
# and against `genlib.text.attention.attention`:

# %%
def my_attention(q, k, v, causal=True):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        T = q.shape[-2]
        scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    return scores.softmax(-1) @ v

for shape in [(2, 4, 6, 8), (1, 1, 5, 3), (3, 2, 17, 16)]:
    qb, kb, vb = torch.randn(3, *shape, generator=g).unbind(0)
    for causal in (True, False):
        mine = my_attention(qb, kb, vb, causal)
        torch.testing.assert_close(mine, F.scaled_dot_product_attention(qb, kb, vb, is_causal=causal))
        torch.testing.assert_close(mine, attention(qb, kb, vb, causal=causal))
print("hand-written attention == F.scaled_dot_product_attention == genlib attention (causal and not)")

# %% [markdown]
# They agree, so from here on we use `genlib.text.attention` (it also accepts extra masks and gives the weights
# back for drawing). One more thing to notice: without the mask, the two "the"s have identical inputs and so
# identical outputs. Attention alone does not know *where* a word is — section 4 fixes that.

# %%
plain = attention(q, k, v, causal=False)
assert torch.allclose(plain[0], plain[4])
print("without the mask the two 'the's get the same output:", torch.allclose(plain[0], plain[4]))

# %% [markdown]
# ## 2. Why divide by √d?
#
# A dot product of two random d-dimensional vectors with unit-variance entries has standard deviation √d. If
# scores grow with d, the softmax saturates: one key takes nearly all the weight and the gradient to the others
# vanishes. Dividing by √d keeps the scores at unit scale whatever the head size. We measure it, with 32 keys
# per query.

# %%
rows = []
for dim in [4, 16, 64, 256]:
    qr, kr = torch.randn(2, 2000, 32, dim, generator=g).unbind(0)
    raw = (qr[:, :1] @ kr.transpose(-2, -1)).squeeze(1)             # [2000, 32] scores, unscaled
    rows.append((dim, raw.std().item(), (raw / math.sqrt(dim)).std().item(),
                 raw.softmax(-1).max(-1).values.mean().item(),
                 (raw / math.sqrt(dim)).softmax(-1).max(-1).values.mean().item()))
print(" d   std(q·k)  std(q·k/√d)   mean top weight: unscaled  scaled")
for dim, s_raw, s_scaled, top_raw, top_scaled in rows:
    print(f"{dim:3d}  {s_raw:8.2f}  {s_scaled:10.2f}   {top_raw:24.2f}  {top_scaled:6.2f}")
assert all(abs(s_raw / math.sqrt(dim) - 1) < 0.1 and abs(s_scaled - 1) < 0.1 for dim, s_raw, s_scaled, _, _ in rows)
assert rows[-1][3] > 0.9 and all(r[4] < 0.5 for r in rows)

# %% [markdown]
# Unscaled, the score's spread grows as √d, and at d = 256 the top key takes over 90% of the weight on
# average: attention has become a hard choice before training even starts. Scaled, the spread stays near 1
# and the weights stay soft, at every size.
#
# ## 3. Several heads
#
# One attention pattern per layer is limiting: a word may need to look at the previous letter *and* at the
# start of the line. **Multi-head attention** splits the C channels into H heads of C/H channels, runs
# attention in each head independently, and concatenates the results. We write the split and merge by hand:

# %%
C, H = 16, 4
mha = MultiHeadAttention(C, H)                        # genlib's module: qkv and output projection
xs = torch.randn(2, 7, C, generator=g)                # [B, T, C]

def my_multi_head(x, qkv, proj, n_head):
    B, T, C = x.shape
    q, k, v = qkv(x).split(C, dim=2)                                              # each [B, T, C]
    q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))  # [B, H, T, C/H]
    y = attention(q, k, v)                                                         # every head at once
    return proj(y.transpose(1, 2).reshape(B, T, C))                                # merge heads, mix them

with torch.no_grad():
    torch.testing.assert_close(my_multi_head(xs, mha.qkv, mha.proj, H), mha(xs))
print("hand-written multi-head == genlib.text.attention.MultiHeadAttention")

# %% [markdown]
# And `genlib`'s module equals PyTorch's own `nn.MultiheadAttention` once they share weights (note PyTorch's
# mask convention is the opposite one: True means *may not* attend). Heads cost nothing extra: the parameter
# count is 4·C² (three input projections and one output projection), whatever H is.

# %%
ref = torch.nn.MultiheadAttention(C, H, bias=False, batch_first=True)
with torch.no_grad():
    ref.in_proj_weight.copy_(mha.qkv.weight)
    ref.out_proj.weight.copy_(mha.proj.weight)
    expected, _ = ref(xs, xs, xs, attn_mask=~causal_mask(7))
    torch.testing.assert_close(mha(xs), expected)
counts = {h: sum(p.numel() for p in MultiHeadAttention(C, h).parameters()) for h in (1, 2, 4, 8)}
assert set(counts.values()) == {4 * C * C}
print("genlib MultiHeadAttention == torch.nn.MultiheadAttention; parameters per head count:", counts)

# %% [markdown]
# ## 4. Where is each token? Positions
#
# Section 1 showed it: attention treats its input as a *set*. Without a causal mask, shuffling the tokens
# just shuffles the outputs the same way. Word order matters in language, so a transformer adds position
# information. Here is the shuffle, computed:

# %%
perm = torch.randperm(7, generator=g)
free = MultiHeadAttention(C, H, causal=False)
with torch.no_grad():
    torch.testing.assert_close(free(xs[:, perm]), free(xs)[:, perm])
print("no mask, no positions: shuffled inputs give the same outputs, shuffled")


# %% [markdown]
# Three ways to add order, each used by a famous model:
#
# 1. **Learned positions** (GPT-2, and `genlib`'s GPT with `pos='learned'`): a second embedding table with one
#    vector per position, added to the token embedding. Simple, but it knows nothing beyond `block_size`.
# 2. **Sinusoidal positions** (the original Transformer, 2017): fixed sines and cosines of geometrically spaced
#    frequencies, added to the embedding. Written out, and checked against `genlib`:

# %%
def my_sinusoidal(T, d):
    pos = torch.arange(T).float()[:, None]
    freq = 10000 ** (-torch.arange(0, d, 2).float() / d)     # one frequency per channel pair
    pe = torch.zeros(T, d)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return pe

pe = my_sinusoidal(64, 32)
torch.testing.assert_close(pe, sinusoidal_positions(64, 32))
fig, ax = plt.subplots(figsize=(7, 3))
im = ax.imshow(pe.T.numpy(), aspect="auto", cmap="RdBu")
ax.set(title="Sinusoidal position codes (Transformer, 2017)", xlabel="position t", ylabel="channel")
fig.colorbar(im, ax=ax)
plt.show()

# %% [markdown]
# The first channels oscillate fast, the last ones barely move: like the hands of a clock, together they give
# every position a distinct code. The dot product of two codes depends only on how far apart they are:

# %%
sim = pe @ pe.T                                          # sim[s, t] = <pe_s, pe_t>
for offset in (1, 5, 20):
    diag = sim.diagonal(offset)
    assert torch.allclose(diag, diag[0].expand_as(diag), atol=1e-3)
print("<pe_t, pe_t+k> for k = 0, 1, 5, 20:", [round(sim.diagonal(o)[0].item(), 2) for o in (0, 1, 5, 20)])

# %% [markdown]
# 3. **Rotary position embeddings, RoPE** (LLaMA and most recent models; `genlib`'s GPT with `pos='rope'`):
#    nothing is added to the embedding. Instead each query and key is *rotated*, pair of channels by pair of
#    channels, by an angle proportional to its position. A rotation by angle a·m followed by one by −a·n is a
#    rotation by a·(m − n), so the score between a query at m and a key at n can only depend on **m − n**.
#    We compute it: the same query vector and the same key vector placed at every position of a 48-token window.

# %%
L, D = 48, 16
cos, sin = rope_tables(D, L)                       # genlib.text.gpt: the tables the GPT uses
qv, kv = torch.randn(2, D, generator=g)
q_at = apply_rope(qv.expand(1, 1, L, D), cos, sin)[0, 0]   # row m: the query as seen at position m
k_at = apply_rope(kv.expand(1, 1, L, D), cos, sin)[0, 0]
rope_scores = q_at @ k_at.T                        # [m, n]: query at m, key at n
for offset in range(-L + 1, L):
    diag = rope_scores.diagonal(offset)
    assert torch.allclose(diag, diag[0].expand_as(diag), atol=1e-4)
print("RoPE: every diagonal is constant, so the score depends only on the offset n - m")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
im = axes[0].imshow(rope_scores.numpy(), cmap="RdBu")
axes[0].set(title="RoPE score of one query/key pair", xlabel="key position n", ylabel="query position m")
fig.colorbar(im, ax=axes[0])
offsets = torch.arange(0, L)
axes[1].plot(offsets.numpy(), rope_scores[L - 1].flip(0).numpy(), marker=".")
axes[1].set(title="The same score against distance", xlabel="distance m − n (tokens back)", ylabel="q·k after RoPE")
axes[1].grid(alpha=0.3)
plt.show()

# %% [markdown]
# Stripes run parallel to the diagonal: moving both tokens by the same amount changes nothing, only the gap
# does. That is why RoPE models transfer to positions they never saw in the same arrangement, and why notebook
# 09 can stretch a RoPE model's context.
#
# ## 5. The transformer block
#
# A block is attention (tokens exchange information) followed by an MLP (each token thinks on its own), each
# wrapped in a **residual connection** (x + f(x), so information and gradients pass straight through) with a
# **normalization** before it ("pre-norm", as GPT-2). Here is `genlib`'s, which is the whole of it:

# %%
print(inspect.getsource(Block))

# %% [markdown]
# The GPT's `CausalSelfAttention` stores its weights exactly as our `MultiHeadAttention` does, so we can load
# one into the other and check they compute the same thing; then we rebuild a whole block from its parts.

# %%
config = GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=4, n_embd=32)
block = Block(config).eval()
mine = MultiHeadAttention(32, 4)
mine.load_state_dict(block.attn.state_dict())
xb = torch.randn(2, 10, 32, generator=g)
with torch.no_grad():
    torch.testing.assert_close(mine(xb), block.attn(xb))
    h = xb + mine(block.norm1(xb))                     # tokens talk to each other
    h = h + block.mlp(block.norm2(h))                  # each token on its own
    torch.testing.assert_close(h, block(xb))
print("MultiHeadAttention == gpt.CausalSelfAttention, and x + attn(norm(x)), then + mlp(norm(.)) == Block")

# %% [markdown]
# ## 6. A GPT cannot see the future
#
# A GPT stacks blocks between a token embedding and a linear layer that scores every possible next token. It
# is trained to predict token t + 1 at *every* position t at once, which is only honest if position t never
# sees tokens after t. The causal mask in every layer guarantees it. We check it on an untrained GPT, with
# learned positions and with RoPE: change every token after t = 9 and compare the outputs.

# %%
t = 9
x1 = torch.randint(65, (1, 24), generator=g)
x2 = x1.clone()
x2[:, t + 1:] = torch.randint(65, (1, 24 - t - 1), generator=g)
change = {}
for pos in ("learned", "rope"):
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=4, n_embd=32, pos=pos)).eval()
    with torch.no_grad():
        change[pos] = (gpt(x1) - gpt(x2)).abs().amax(-1)[0]       # biggest logit change, per position
    assert change[pos][:t + 1].max() < 1e-5 < change[pos][t + 1:].min()

fig, ax = plt.subplots(figsize=(7, 3))
for pos, c in change.items():
    ax.plot(c.numpy(), marker="o", label=f"pos='{pos}'")
ax.axvline(t + 0.5, color="gray", ls="--")
ax.set(title=f"Changing tokens after t = {t} changes only later outputs", xlabel="position",
       ylabel="max |logit change|")
ax.legend(); ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# Up to position 9 the logits are unchanged (to the last bit of float precision); from 10 on they move. The
# same property is held by a unit test (`tests/test_attention.py`) for both position schemes.
#
# ## 7. Inside a trained GPT
#
# Now a GPT trained on Tiny Shakespeare, one character per token. We load the course's shipped checkpoint if
# it is there (made by `scripts/train_gpt.py`); if not, we train a small one for a short, visible run.

# %%
tok = char_tokenizer()
train_ids, val_ids = encoded_splits(tok)
model, source = load_or_train_gpt(device, steps=pick(300, 3000))   # the shipped GPT, or a short run here
block_size = model.config.block_size
print(f"{source}: {model.num_params():,} parameters, {model.config.n_layer} layers of "
      f"{model.config.n_head} heads, context {block_size} characters")

# %% [markdown]
# **Context helps.** The model predicts the next character at every position of its window. At position 0 it
# has seen one character; at position 60, sixty. Its loss at each position shows how much it uses the context
# attention gives it.

# %%
losses = torch.zeros(block_size)
with torch.no_grad():
    for xv, yv in fixed_batches(val_ids, block_size, 32, 2):     # 64 validation windows
        logits = model(xv.to(device))
        losses += F.cross_entropy(logits.transpose(1, 2), yv.to(device), reduction="none").mean(0).cpu() / 2
print(f"validation loss {losses.mean():.3f} nats/char on average over the window")
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(losses.numpy(), marker=".")
ax.set(title="Validation loss by position in the context window", xlabel="position t (characters seen = t + 1)",
       ylabel="loss (nats/char)")
ax.grid(alpha=0.3)
plt.show()
late = losses[block_size // 2:].mean().item()
print(f"loss with 1 character of context {losses[0]:.2f}; with {block_size // 2}+ characters {late:.2f}")
assert losses[0] > late + 0.15

# %% [markdown]
# With one character the model can only guess from letter frequencies and the previous letter; the loss
# drops fast over the first few characters and then keeps easing down as more context arrives. That drop is
# what attention buys over a bigram model.
#
# **Attention maps.** The GPT attends with a fused kernel that never shows its weights, so
# `genlib.text.attention.attention_maps` records each layer's input and recomputes the weights (a unit test
# checks that these weights reproduce the layer's output exactly). We draw every head of the first and the
# last layer for a line of Romeo and Juliet.

# %%
line = "ROMEO:\nBut soft! what light through yonder window breaks?"
idx = torch.tensor([tok.encode(line)], device=device)
maps = attention_maps(model, idx)[:, 0].cpu()             # [layer, head, T, T]
n_layer, n_head = maps.shape[:2]
fig, axes = plt.subplots(2, n_head, figsize=(min(12, 2.8 * n_head), 6), sharex=True, sharey=True)
for row, layer in enumerate([0, n_layer - 1]):
    for h in range(n_head):
        axes[row, h].imshow(maps[layer, h].numpy() ** 0.5, cmap="magma")  # square root: faint weights show
        axes[row, h].set_title(f"layer {layer}, head {h}", fontsize=10)
for ax in axes[-1]:
    ax.set_xlabel("key position (read)")
for ax in axes[:, 0]:
    ax.set_ylabel("query position")
fig.suptitle(f"Attention weights (square root) of the trained GPT on {line[:24]!r}...")
plt.show()


# %% [markdown]
# Every map is lower-triangular (the causal mask). Heads differ: some put their weight on the diagonal or
# just below it (the current or previous character), others spread it back over the word or the line. We
# measure two things per head: how much weight goes to the previous character, and the **entropy** of each
# row (in nats: 0 means all weight on one key, log(t + 1) means spread evenly), compared with the same
# architecture untrained.

# %%
def head_stats(maps):
    prev = maps.diagonal(-1, dim1=-2, dim2=-1).mean(-1)                  # weight on key t-1, averaged over t
    entropy = -(maps * maps.clamp_min(1e-12).log()).sum(-1)[..., 1:].mean(-1)
    return prev, entropy

prev, ent = head_stats(maps)
torch.manual_seed(0)
untrained = GPT(model.config).to(device).eval()
prev0, ent0 = head_stats(attention_maps(untrained, idx)[:, 0].cpu())
for layer in range(n_layer):
    print(f"layer {layer}: weight on previous char " + " ".join(f"{p:.2f}" for p in prev[layer])
          + " | row entropy " + " ".join(f"{e:.2f}" for e in ent[layer]))
print(f"untrained: weight on previous char at most {prev0.max():.2f}, mean row entropy {ent0.mean():.2f} "
      f"vs trained {ent.mean():.2f}")
assert prev.max() > 2 * prev0.max() and ent.mean() < ent0.mean()

# %% [markdown]
# An untrained GPT spreads its attention almost evenly (high entropy, the previous character gets no special
# treatment). Training makes attention *selective*: the entropy falls, and at least one head puts more than
# twice as much weight on the previous character as any untrained head: a "previous-token head", a building
# block that later layers combine into longer patterns. Nobody wrote that rule; gradient descent found it because it lowers the loss.
#
# ## Summary
#
# - Attention: scores = q·kᵀ/√d, mask the future with −∞, softmax each row, take the weighted mean of the
#   values. Our hand-written version equals `F.scaled_dot_product_attention` and `genlib.text.attention`.
# - Dividing by √d keeps scores at unit scale; without it, at d = 256 one key took over 90% of the weight.
# - Multi-head attention splits channels into heads, attends in each, and merges them, at no extra parameter
#   cost; `genlib`'s `MultiHeadAttention` equals `torch.nn.MultiheadAttention` and the GPT's attention.
# - Attention alone ignores order; learned, sinusoidal and rotary (RoPE) positions fix that. With RoPE the
#   query–key score depends only on the distance between tokens, which we computed.
# - A block is pre-norm attention and MLP, each with a residual. A causal GPT's output at position t does not
#   change when later tokens do.
# - In a trained GPT, more context means lower loss, and attention heads become selective, some attending to
#   the previous character.

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. *(easy)* Draw the attention maps of the trained model for a line of your own (use only characters in
#    `tok.chars`). Which head has the highest weight on the previous character?

# %% tags=["exercise"]
# Exercise 1: encode a line of your own with tok (only characters in tok.chars), draw its attention maps with
# attention_maps, and find the (layer, head) with the highest weight on the previous character (head_stats).

# %% [markdown] tags=["exercise"]
# 2. *(change the code)* Give `genlib.text.attention.attention` a **sliding-window** mask so each token sees
#    only its last w tokens (as Mistral does), using the `mask` argument. Check that w = T gives plain causal
#    attention and draw the weights for w = 3 on the six-word example.

# %% tags=["exercise"]
# Exercise 2: write window_mask(T, w), a boolean T x T mask that is True for keys at most w - 1 positions back;
# check attention(q, k, v, mask=window_mask(T, T)) equals attention(q, k, v), then draw the weights for w = 3.

# %% [markdown] tags=["exercise"]
# 3. *(open question)* Section 1 showed that without positions the two "the"s got identical outputs — but
#    only *without* the causal mask. With it they differ. Can a causal transformer with no position embedding
#    at all (NoPE) still work out where a token is? How?

# %% [markdown] tags=["solution"]
# <details><summary>Solution</summary>
#
# 1. ```python
#    mine = "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?"
#    m = attention_maps(model, torch.tensor([tok.encode(mine)], device=device))[:, 0].cpu()
#    prev_mine, _ = head_stats(m)
#    print(divmod(prev_mine.argmax().item(), m.shape[1]))   # (layer, head)
#    ```
#    It is usually the same head as for Romeo's line: a head's job does not depend much on the text.
# 2. ```python
#    def window_mask(T, w):
#        i = torch.arange(T)
#        return (i[:, None] - i[None, :]) < w          # True for keys at most w - 1 back
#    torch.testing.assert_close(attention(q, k, v, mask=window_mask(T, T)), attention(q, k, v))
#    plt.imshow(attention_weights(q, k, mask=window_mask(T, 3)).numpy()); plt.title("window 3"); plt.show()
#    ```
#    The causal mask is still applied (`causal=True`), and the window mask removes the keys further back, so
#    each row has at most three non-zero weights.
# 3. Yes, to a degree. With a causal mask, token t averages over t + 1 values, so a head with equal scores
#    gives weights 1/(t + 1): the output's size and spread change with t, and later layers can read position
#    from that. Kazemnejad et al. (2023), "The Impact of Positional Encoding on Length Generalization in
#    Transformers", found such NoPE models competitive. Without the mask (section 4's shuffle test) this
#    is impossible.
# </details>
