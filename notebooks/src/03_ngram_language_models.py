# %% [markdown]
# # 03 · N-gram language models
#
# **The idea:** a language model does one thing: given the text so far, it gives a probability to every
# possible **next token**. Generate text by sampling a token, appending it, and asking again. Everything from
# this notebook to ChatGPT is **next-token prediction**; what changes is how the model uses what came before.
# Here the model is the simplest there is: count, in a big text, what follows each short context.
#
# **Learning objectives.** After this notebook you can
# - build bigram and trigram character models by counting, and sample Shakespeare-ish text from them;
# - explain add-α smoothing, and choose α on held-out text;
# - score a language model by its validation loss (nats per character) and perplexity, with the same
#   function and the same validation windows that will score the GPT of notebook 06;
# - show that longer contexts help until the counts get too sparse;
# - train a bigram by gradient descent and see it arrive at the counting model.
#
# **Prerequisites.** Notebooks 01 (likelihood on held-out data, sampling) and 02 (gradient descent, `genlib.train`).
#
# **Estimated time.** 45 minutes; about 40 seconds to run on a laptop CPU.

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
from genlib.device import describe, get_device, pick, seed_everything
from genlib.text.lm import evaluate_loss, fixed_batches, perplexity, random_batch
from genlib.text.ngram import NeuralBigram, NGramLM, next_token_loss, ngram_codes
from genlib.text.shakespeare import char_tokenizer, encoded_splits
from genlib.train import cosine_lr, train
from genlib import viz

seed_everything(0)
device = get_device()
print(describe())

# %% [markdown]
# ## 1. The data and the task
#
# Tiny Shakespeare: 1.1 million characters of plays. The tokenizer maps each of its 65 distinct characters to
# an id; we train on the first 90% and keep the last 10% as **validation** text the models never count.

# %%
tok = char_tokenizer()
V = tok.vocab_size
train_ids, val_ids = encoded_splits(tok)
print(f"vocabulary: {V} characters {''.join(tok.chars)!r}")
print(f"train: {len(train_ids):,} characters   validation: {len(val_ids):,} characters")
print(repr(tok.decode(val_ids[:120])))

# %% [markdown]
# A language model answers "what comes next?" at every position. In the text above, after `"Good morro"` the
# next character is `"w"`; after `"Good morrow"`, a comma. Each (context → next) pair is one training example, and a
# million characters give a million of them for free — this is why language models can learn from raw text
# with no labels.
#
# ## 2. A bigram model, by counting
#
# The shortest useful context is one character. Count, for every pair of characters (a, b), how often b
# follows a in the training text: a 65 × 65 table.

# %%
a, b = train_ids[:-1], train_ids[1:]                    # every (current, next) pair in the training text
N2 = torch.zeros(V, V)
N2.index_put_((a, b), torch.ones(len(a)), accumulate=True)
print(f"{int(N2.sum()):,} pairs; the most common: " + ", ".join(
    f"{tok.decode([i // V, i % V])!r} ×{int(N2.flatten()[i])}" for i in N2.flatten().topk(5).indices))

# %% [markdown]
# A picture of part of the table (space and the lowercase letters) shows the structure English spelling
# puts into it.

# %%
show = tok.encode(" abcdefghijklmnopqrstuvwxyz")
fig, ax = plt.subplots(figsize=(6.5, 6))
ax.imshow(N2[show][:, show].log1p().numpy(), cmap="Blues")
labels = ["␣" if c == " " else c for c in tok.decode(show)]
ax.set_xticks(range(len(show)), labels); ax.set_yticks(range(len(show)), labels)
ax.set(title="Bigram counts (log scale): how often column follows row", xlabel="next character",
       ylabel="current character")
plt.show()

# %% [markdown]
# Dark cells are common pairs: `q` is followed only ever by `u`, vowels follow most consonants, and the
# space row shows which letters start words. Rows are *contexts*; each row, divided by its total, is a
# probability distribution over the next character.
#
# **Smoothing.** A pair never seen in training would get probability 0, and a single such pair in the
# validation text makes the loss infinite. Add-α smoothing adds a small pseudo-count α to every cell:
# p(b | a) = (N[a, b] + α) / (N[a, ·] + α V). Here is the whole model, and the proof that
# `genlib.text.ngram.NGramLM` computes exactly the same table.

# %%
alpha = 1.0
P2 = (N2 + alpha) / (N2.sum(1, keepdim=True) + alpha * V)   # row a: p(next | current = a)

bigram = NGramLM(V, n=2, alpha=alpha).fit(train_ids)
lib_P2 = bigram.log_probs(torch.arange(V)[:, None]).exp()     # one context (a single character) per row
torch.testing.assert_close(lib_P2, P2)
assert torch.allclose(P2.sum(1), torch.ones(V))
print("hand-counted bigram == genlib NGramLM(n=2); every row sums to 1")

# %% [markdown]
# **Sampling.** To write text, start from a character, draw the next one from its row, and repeat. By hand:

# %%
g = torch.Generator().manual_seed(0)
ids = tok.encode("\n")
for _ in range(200):
    ids.append(torch.multinomial(P2[ids[-1]], 1, generator=g).item())
print(tok.decode(ids))

# %% [markdown]
# Word-shaped blobs, capital letters after newlines, and names followed by colons, because those are the
# pairs that are common. But a bigram forgets everything except the last character, so it cannot spell.
# `NGramLM.generate` does the same loop for any order (we use it from now on).
#
# ## 3. Scoring a language model: loss and perplexity
#
# The score is the one from notebook 01: the average **negative log-likelihood** of held-out data, here of
# each validation character given its context, in nats per character. Lower is better; a model that knew
# nothing (uniform over 65 characters) scores ln 65 = 4.17.
#
# To compare models fairly, every text model in this course is scored by `genlib.text.lm.evaluate_loss` on
# the **same** fixed validation windows from `fixed_batches` (20 batches of 32 windows of 64 characters).
# Notebook 06's GPT is scored with this function on exactly these windows, so its number goes in the same
# table as the n-grams below. First by hand, then with the library:

# %%
val_batches = fixed_batches(val_ids, block_size=64)        # the course's fixed validation windows

def loss_by_hand(P, batches):
    # P[x, y] picks p(y_t | x_t) at every position of every window
    nll = sum(-P[x, y].log().sum().item() for x, y in batches)
    return nll / sum(y.numel() for _, y in batches)

mine = loss_by_hand(P2, val_batches)
bigram_loss = evaluate_loss(bigram.to(device), val_batches, device)
assert abs(mine - bigram_loss) < 1e-5
print(f"bigram validation loss {bigram_loss:.4f} nats/char (by hand {mine:.4f}); "
      f"perplexity {perplexity(bigram_loss):.1f}; uniform guessing {math.log(V):.4f}")

# %% [markdown]
# **Perplexity** is exp(loss): the bigram is, on average, as unsure as if it were choosing uniformly among
# about 12 characters instead of 65. That is next-token prediction's standard score; both numbers say the
# same thing.
#
# ## 4. Longer contexts: the trigram
#
# With two characters of context the model can tell `"th"` (likely `e`) from `"sh"` (often a space). The
# table grows: one row per *pair* of characters, 65² = 4,225 rows. Counting works the same way; the triple
# (a, b, c) adds one to N3[a, b, c].

# %%
N3 = torch.zeros(V, V, V)
N3.index_put_((train_ids[:-2], train_ids[1:-1], train_ids[2:]), torch.ones(len(train_ids) - 2), accumulate=True)
P3 = (N3 + alpha) / (N3.sum(-1, keepdim=True) + alpha * V)

trigram = NGramLM(V, n=3, alpha=alpha).fit(train_ids)
pairs = torch.cartesian_prod(torch.arange(V), torch.arange(V))  # all 4,225 two-character contexts
torch.testing.assert_close(trigram.log_probs(pairs).exp(), P3.reshape(V * V, V))
print(f"hand-counted trigram == genlib NGramLM(n=3); contexts seen in training: "
      f"{int((N3.sum(-1) > 0).sum())} of {V * V}")

# %% [markdown]
# Only a third of the possible two-character contexts ever occur. One detail: the first position of each
# 64-character window has only one character before it, so `NGramLM` uses its bigram table there (in general,
# the longest context it can see). A GPT also sees less context at the start of a window, so the scores stay
# comparable.
#
# ## 5. Choosing α, honestly
#
# α matters more as contexts get longer: most rows of a long-context table hold a handful of counts, and
# adding α = 1 to each of the 65 cells drowns them. We choose α on a **development** split cut from the end
# of the training text (never on the validation text, which must stay unseen until the final score).
# `set_alpha` re-smooths the same counts, so each order is counted only once. (An n-gram model does not care
# about windows, so here we score the whole development text as one long sequence.)

# %%
cut = int(0.9 * len(train_ids))
fit_ids, dev_ids = train_ids[:cut], train_ids[cut:]
dev = [(dev_ids[None, :-1], dev_ids[None, 1:])]             # one "batch": the whole development text
alphas = [1.0, 0.3, 0.1, 0.03, 0.01]
orders = [2, 3, 4, 5, 6]
dev_loss = {}
for n in orders:
    model = NGramLM(V, n).fit(fit_ids).to(device)
    dev_loss[n] = [evaluate_loss(model.set_alpha(a), dev, device) for a in alphas]
best_alpha = {1: 1.0, **{n: alphas[min(range(len(alphas)), key=dev_loss[n].__getitem__)] for n in orders}}

fig, ax = plt.subplots(figsize=(6.5, 3.8))
for n in orders:
    ax.plot(alphas, dev_loss[n], marker="o", label=f"{n}-gram (best α = {best_alpha[n]})")
ax.set(xscale="log", xlabel="smoothing α (pseudo-count per cell)", ylabel="development loss (nats/char)",
       title="Add-α smoothing: longer contexts want a smaller α")
ax.legend(); ax.grid(alpha=0.3)
plt.show()
assert best_alpha[2] > best_alpha[3] > best_alpha[4]


# %% [markdown]
# The bigram hardly cares (its rows hold thousands of counts each); for the 4-, 5- and 6-grams the curve is a
# steep valley, and α = 1 would cost a tenth of a nat or more. The best α shrinks as the order grows.
#
# ## 6. How much context helps: unigram to 6-gram
#
# Now each order, refit on the whole training text with its chosen α, scored on the validation windows. We
# also measure **sparsity**: the share of validation positions whose context never occurred in training.
# There, add-α smoothing can only guess uniformly.

# %%
def unseen_share(model, ids):
    # the share of positions in ids [..., T] whose context (the n - 1 tokens before them) never occurred in training
    k = model.n - 1
    return 1 - model.seen(ids.unfold(-1, k, 1)[..., :-1, :]).float().mean().item() if k else 0.0

val_loss, unseen, models = {}, {}, {}
for n in [1, *orders]:
    models[n] = NGramLM(V, n, alpha=best_alpha[n]).fit(train_ids).to(device)
    val_loss[n] = evaluate_loss(models[n], val_batches, device)
    unseen[n] = unseen_share(models[n], val_ids.to(device))
print(" n   α      val loss  perplexity  unseen contexts")
for n in val_loss:
    print(f"{n:2d}   {best_alpha[n]:<6} {val_loss[n]:8.4f}  {perplexity(val_loss[n]):10.2f}  {unseen[n]:14.2%}")
assert val_loss[1] > val_loss[2] > val_loss[3]                    # more context helps...
best_n = min(val_loss, key=val_loss.get)
assert best_n not in (1, max(val_loss)) and val_loss[max(val_loss)] > val_loss[best_n] + 0.1  # ...until sparsity
print(f"the trigram beats the bigram beats the unigram; the best order is n = {best_n}")

# %%
fig, ax1 = plt.subplots(figsize=(6.5, 3.8))
ax1.plot(list(val_loss), list(val_loss.values()), marker="o", label="validation loss")
ax1.set(xlabel="order n (context of n − 1 characters)", ylabel="validation loss (nats/char)",
        title="More context helps, until most contexts were never seen")
ax2 = ax1.twinx()
ax2.bar(list(unseen), [100 * u for u in unseen.values()], alpha=0.25, color="C3", label="unseen contexts")
ax2.set_ylabel("validation contexts never seen in training (%)")
fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.85))
plt.show()

# %% [markdown]
# Each extra character of context buys less, and at six characters one validation context in ten never
# appeared in a million characters of training text, so the loss climbs again. Counting cannot share what it
# learned about `" the kin"` with `" the quee"`: every context is its own row. That is the limitation neural
# models remove.
#
# **Sampling tells a different story.** Ten samples of 200 characters from each order, with the share of
# sampled positions whose context was never seen in training:

# %%
prompt = torch.tensor([tok.encode("\n")] * 10, device=device)
sample_unseen = {}
for n in (1, 2, 3, 4, best_n):
    out = models[n].generate(prompt, 200, generator=torch.Generator().manual_seed(1))
    sample_unseen[n] = unseen_share(models[n], out)
    print(f"--- {n}-gram ({sample_unseen[n]:.0%} of sampled contexts unseen in training, {unseen[n]:.0%} in real text)")
    print(tok.decode(out[0, 1:121]))
assert sample_unseen[3] < 0.05 and sample_unseen[best_n] > 0.5 > 10 * unseen[best_n]

# %% [markdown]
# The unigram is letter soup in the right proportions; the bigram makes word-sized blobs; the trigram
# produces real short words and names. But the 5-gram, our *best* model by validation loss, writes a few good
# words and then garbage. Once one unlucky draw lands in a context never seen in training, add-α smoothing
# can only guess uniformly; a random character makes the next context unseen too, and the sample never
# recovers — most of its contexts are unseen, against a few percent in real text. Scoring real text never
# shows this, because real text stays where the counts are. Two lessons: judge a generative model by its
# samples as well as its likelihood (as in notebook 01), and a good model must say something sensible about
# contexts it has never seen (a better n-gram would fall back to a shorter context: exercise 2).
#
# ## 7. The same bigram, learned by gradient descent
#
# The bigram is a table of 65 × 65 numbers. Instead of counting, we can make that table the *parameters* of
# a model — logits, turned into probabilities by a softmax — and train it with `genlib.train` to minimize
# the cross-entropy of the next character, exactly as notebook 02 trained its MLP. The loss is minimized
# by a table whose softmax equals the normalized counts, so gradient descent should arrive at the counting
# model. In code the table is an `nn.Embedding(V, V)`: looking up row a gives the logits for what follows a.

# %%
torch.manual_seed(0)
neural = NeuralBigram(V).to(device)
g = torch.Generator().manual_seed(0)
steps = pick(200, 1000)

def get_batch():
    return tuple(t.to(device) for t in random_batch(train_ids, block_size=64, batch_size=128, generator=g))

hist = train(neural, next_token_loss, get_batch, steps=steps, lr=0.5,
             lr_schedule=lambda p: cosine_lr(p, min_ratio=0.01),
             eval_fn=lambda m: {"val_loss": evaluate_loss(m, val_batches, device)}, eval_every=steps // 5)
neural_loss = hist.eval_series("val_loss")[-1]
print(f"neural bigram {neural_loss:.4f} vs counting bigram {val_loss[2]:.4f} nats/char")
assert abs(neural_loss - val_loss[2]) < 0.01

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.plot(hist.steps, viz.smooth(hist.loss, 20), label="training loss (smoothed)")
ax.plot(hist.eval_steps, hist.eval_series("val_loss"), marker="o", label="validation loss")
ax.axhline(val_loss[2], color="k", ls="--", label=f"counting bigram ({val_loss[2]:.3f})")
ax.set(ylim=(2.3, 3.2), xlabel="step", ylabel="loss (nats/char)",
       title="A bigram trained by gradient descent converges to the counted one")
ax.legend(); ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# The loss starts at ln 65 = 4.17 (a zero table is uniform, above the plot's top) and settles on the
# counting model's line. Are the two tables the same? Compare them row by row where the rows rest on plenty
# of data:

# %%
learned = neural.probs().detach().cpu()
counted = models[2].log_probs(torch.arange(V, device=device)[:, None]).exp().cpu()
common = N2.sum(1) > 10_000                                   # characters seen more than 10,000 times
gap = (learned - counted)[common].abs().max().item()
fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
for ax, table, name in zip(axes, (counted, learned), ("counted", "learned by gradient descent")):
    ax.imshow(table[show][:, show].numpy(), cmap="Blues", vmin=0, vmax=0.5)
    ax.set_xticks(range(len(show)), labels, fontsize=7); ax.set_yticks(range(len(show)), labels, fontsize=7)
    ax.set(title=f"p(next | current), {name}", xlabel="next character", ylabel="current character")
plt.show()
print(f"{int(common.sum())} common characters: largest probability difference {gap:.3f}")
assert gap < 0.05

# %% [markdown]
# The same table, found two ways. So why bother with gradient descent? Because counting only works when
# every context has its own row. A neural network can instead map a *long* context to logits through shared
# weights — similar contexts get similar predictions, and unseen contexts are no longer hopeless. That is the
# road from here: notebook 05 builds attention, and notebook 06 trains a GPT scored by this same
# `evaluate_loss` on these same windows, to see how far below the n-grams it goes.
#
# ## Summary
#
# - A language model gives p(next token | context); sampling it token by token generates text.
# - An n-gram model is a table of counts, one row per context of n − 1 tokens, with add-α smoothing so no
#   token is impossible. We built the bigram and trigram by hand and proved `NGramLM` identical.
# - Models are scored by validation loss in nats per character (perplexity = e^loss), always with
#   `genlib.text.lm.evaluate_loss` on the same fixed windows, so every model in the course is comparable.
# - On Tiny Shakespeare the trigram beats the bigram beats the unigram; longer contexts help until sparsity
#   takes over (at six characters, 10% of validation contexts were never seen) — choose α on a development split.
# - The best-scoring n-gram still samples garbage once it strays into an unseen context: likelihood and
#   sample quality are different tests, and generalizing to unseen contexts is what counting cannot do.
# - A bigram trained by gradient descent converges to the counting bigram: the neural view of the same model,
#   and the one that scales to long contexts.

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. *(easy)* Sample from the 5-gram with α = 1, with its best α, and with α = 0.001, and print the share
#    of unseen contexts for each (`set_alpha` changes α in place). Which writes the best text? Is it the α
#    with the best validation loss?

# %% tags=["exercise"]
# Exercise 1: for alpha in (1.0, best_alpha[5], 0.001): set the 5-gram's alpha with models[5].set_alpha,
# generate 300 characters, print the share of unseen contexts (unseen_share) and the text. Restore best_alpha[5].

# %% [markdown] tags=["exercise"]
# 2. *(change the code)* Add-α gives an unseen context a uniform guess. **Interpolation** mixes orders
#    instead: p = Σ λ_k p_k(next | last k − 1 characters), with weights λ_k summing to 1. Write a module whose
#    `forward` mixes the models in `models` and score it with `evaluate_loss`. Can it beat the best single order?

# %% tags=["exercise"]
# Exercise 2: write an Interpolated(torch.nn.Module) whose forward returns the log of a weighted sum of the
# models' probabilities (logsumexp of log-probabilities + log weights), and score it with evaluate_loss.

# %% [markdown] tags=["exercise"]
# 3. *(open question)* Why not simply count 20-grams over a trillion characters of web text? Think about
#    the table size, the share of unseen contexts, and what a model needs to say about a context it has
#    never seen.

# %% [markdown] tags=["solution"]
# <details><summary>Solution</summary>
#
# 1. ```python
#    for a in (1.0, best_alpha[5], 0.001):
#        out = models[5].set_alpha(a).generate(prompt, 300, generator=torch.Generator().manual_seed(1))
#        print(f"alpha = {a}: {unseen_share(models[5], out):.0%} unseen\n{tok.decode(out[0, 1:200])}\n")
#    models[5].set_alpha(best_alpha[5])
#    ```
#    With α = 1 the samples derail within a few characters (about 98% of contexts unseen); with the best α
#    after a line or two (about 89%); with α = 0.001 they mostly stay in seen contexts (about 12%) and read
#    far better — yet α = 0.001 has a *worse* validation loss. Likelihood rewards keeping some probability
#    for surprises; sampling punishes every bit of probability put on implausible characters. The
#    temperature, top-k and top-p tricks of notebook 07 exist for the same reason.
# 2. ```python
#    class Interpolated(torch.nn.Module):
#        def __init__(self, models, weights):
#            super().__init__()
#            self.models, self.weights = torch.nn.ModuleList(models), weights
#        def forward(self, idx):   # log of a weighted sum of probabilities: still normalized
#            return torch.stack([m(idx) + math.log(w) for m, w in zip(self.models, self.weights)]).logsumexp(0)
#
#    mix = Interpolated([models[n] for n in (1, 2, 3, 4, 5, 6)], [0.01, 0.04, 0.1, 0.25, 0.35, 0.25])
#    print(evaluate_loss(mix, val_batches, device))
#    ```
#    With these weights the mixture scores about 1.69 nats/char, clearly below the best single order
#    (about 1.78): the long contexts speak when they have data, the short ones fill the gaps. Tuning the λ
#    on the development split (or making them depend on the context's count, as Kneser–Ney and Witten–Bell
#    smoothing do) gains a little more.
# 3. A 20-gram table has 65²⁰ ≈ 10³⁶ possible rows, and almost every 20-character context in new text has
#    never occurred even in a trillion characters, so the model would mostly back off to short contexts. The
#    real need is to *generalize*: to give similar predictions for similar contexts ("the king said" and
#    "the queen said"). That takes learned representations (embeddings) and a function shared across
#    contexts — Bengio et al.'s neural language model (2003), and then the transformer.
# </details>
