# %% [markdown]
# # 04 · Tokenization
#
# **The idea:** a language model never sees text. It sees a sequence of integer **tokens**, drawn from a
# fixed **vocabulary**, and predicts the next one. Notebook 03 used one token per character; GPT-2, GPT-4 and
# LLaMA use **byte-level byte-pair encoding (BPE)**: start from the 256 possible bytes, and repeatedly glue
# the most frequent adjacent pair into a new token. This notebook builds BPE by hand, trains it on
# Shakespeare, and uses it to explain some famous oddities of language models.
#
# **Learning objectives.** After this notebook you can
# - explain Unicode code points and UTF-8 bytes, and why a byte-level vocabulary can encode any string;
# - run the BPE merge loop by hand and prove it equals `genlib.text.bpe`;
# - train a tokenizer, encode and decode with it, and use special tokens such as `<|endoftext|>`;
# - measure compression (characters and bytes per token) against vocabulary size on held-out text;
# - show with the trained tokenizer why models find spelling and arithmetic hard.
#
# **Prerequisites.** Notebook 03 (character tokens, next-token prediction); Python strings and dictionaries.
#
# **Estimated time.** 45 minutes; about 20 seconds to run on a laptop CPU.

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
import random
import re
import time
from collections import Counter
import matplotlib.pyplot as plt
from genlib.device import describe, pick, seed_everything
from genlib.data import shakespeare_splits
from genlib.text.bpe import ENDOFTEXT, GPT2_SPLIT_PATTERN, BPETokenizer
from genlib.text.shakespeare import char_tokenizer
from genlib import viz  # noqa: F401  (the course's figure style)

seed_everything(0)
print(describe())
train_text, val_text = shakespeare_splits()

# %% [markdown]
# ## 1. Characters, code points, bytes
#
# A Python string is a sequence of Unicode **code points** (numbers up to 1,114,111). To store or send it,
# it is encoded as **UTF-8** bytes: 1 byte for ASCII, 2 to 4 for everything else.

# %%
for s in ["hello", "café", "日本", "😀", "👍🏽"]:
    b = s.encode("utf-8")
    print(f"{s!r:9} {len(s)} code point(s) {[ord(c) for c in s]!s:22} -> {len(b)} bytes {list(b)}")
    assert bytes(list(b)).decode("utf-8") == s

# %% [markdown]
# The thumbs-up with a skin tone is *two* code points and eight bytes. A character vocabulary, like notebook
# 03's, only knows the characters of its training text, and fails on anything else:

# %%
chars = char_tokenizer()
try:
    chars.encode("café")
except ValueError as err:
    print("ValueError:", str(err)[:90], "...")


# %% [markdown]
# Bytes have the opposite property: there are only 256 of them, and **every** string is some sequence of
# bytes. A model over bytes can read and write anything — but its sequences are long (every English letter is a
# token, every emoji four), so its context window holds little text, and it spends most of its effort on
# spelling. BPE takes the middle road: start from bytes, then add tokens for byte sequences that are common.
#
# ## 2. Byte-pair encoding, by hand
#
# The algorithm fits in a few lines. Count every adjacent pair of tokens; replace the most frequent pair
# everywhere by a new token id (256, 257, ...); repeat. The list of merges, in order, *is* the tokenizer.
# When two pairs are equally frequent we take the smaller pair, so the result never depends on chance.

# %%
def pair_counts(ids):
    return Counter(zip(ids, ids[1:]))

def merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id); i += 2
        else:
            out.append(ids[i]); i += 1
    return out

def bpe_by_hand(text, n_merges, verbose=False):
    ids, merges, names = list(text.encode("utf-8")), {}, {i: chr(i) for i in range(256)}
    for new_id in range(256, 256 + n_merges):
        counts = pair_counts(ids)
        pair = max(counts, key=lambda p: (counts[p], -p[0], -p[1]))   # most frequent, then smallest
        ids, merges[pair] = merge(ids, pair, new_id), new_id
        names[new_id] = names[pair[0]] + names[pair[1]]
        if verbose:
            print(f"merge {names[pair[0]]!r} + {names[pair[1]]!r} (seen {counts[pair]}x) -> {new_id}: "
                  + " ".join(names[i] for i in ids))
    return ids, merges

ids, merges = bpe_by_hand("aaabdaaabac", 3, verbose=True)

# %% [markdown]
# This is the textbook example (Gage, 1994, where BPE began as a compression method): `aa` becomes token 256,
# then `ab` becomes 257, then the pair (256, 257) — the string `aaab` — becomes 258, and eleven bytes are now
# five tokens. `genlib.text.bpe.BPETokenizer` must learn exactly these merges and encode to exactly these ids;
# we also check it against the hand loop on a real passage of Shakespeare.

# %%
lib = BPETokenizer(pattern=None, special_tokens=()).train("aaabdaaabac", 256 + 3)
assert lib.merges == merges and lib.encode("aaabdaaabac") == ids == [258, 100, 258, 97, 99]

passage = train_text[:2000]
hand_ids, hand_merges = bpe_by_hand(passage, 40)
lib = BPETokenizer(pattern=None, special_tokens=()).train(passage, 256 + 40)
assert lib.merges == hand_merges and lib.encode(passage) == hand_ids
print(f"hand-written BPE == genlib BPETokenizer: same 40 merges, {len(passage)} bytes -> {len(hand_ids)} tokens")

# %% [markdown]
# The library version gives the same answer but is built to be fast on a real corpus: it counts each distinct
# word once (weighted by how often it occurs) and, after a merge, updates only the words that contained the
# pair, instead of recounting the whole text each time.
#
# ## 3. Cutting text into chunks first
#
# Run on raw text, BPE happily learns tokens that straddle word boundaries — a word glued to the space after
# it (`"the "`, `"and "`), and with more merges whole phrases — so the same word becomes different tokens
# depending on what follows it (`dog `, `dog.`, `dog!`). GPT-2 therefore
# first cuts text with a regular expression into words (with their leading space), numbers, punctuation and
# whitespace, and never merges across the cuts. GPT-2's pattern uses `\p{L}` (any letter), which Python's
# built-in `re` does not support; `genlib` writes the same idea with standard `re` classes:

# %%
print(GPT2_SPLIT_PATTERN)
print(BPETokenizer().chunks("Hello, world! It's 1603;  thou art 42 years old.\n\nFare thee well"))


# %% [markdown]
# Each word keeps its leading space, numbers stand alone, and `'s` is split off as in English grammar. What
# difference does it make to the learned vocabulary? Train two small tokenizers on the same 20,000 characters
# and count the tokens that run across a word boundary (a space after some non-space character):

# %%
def across_words(t):   # learned tokens holding a space after some other character, e.g. "e t"
    return [t.decode([i]) for i in range(256, 256 + len(t.merges)) if re.search(r"\S ", t.decode([i]))]

sample = train_text[:20_000]
raw = BPETokenizer(pattern=None).train(sample, 384)
split = BPETokenizer().train(sample, 384)
print(f"without the split: {len(across_words(raw))} of {len(raw.merges)} learned tokens span words, "
      f"e.g. {across_words(raw)[:6]}")
print(f"with the split:    {len(across_words(split))}")
assert len(across_words(split)) == 0 and len(across_words(raw)) > 0.3 * len(raw.merges)

# %% [markdown]
# Without the split, almost half of the learned tokens glue the end of a word to what follows it; with it,
# every token lies inside one word, number or run of punctuation, so the vocabulary is spent on words.
#
# ## 4. Training on the corpus
#
# Now the real thing: a tokenizer with a vocabulary of 2,048 ids (256 bytes, 1,791 merges and the special
# token `<|endoftext|>`), trained on 300,000 characters of the training split (all of it on a GPU machine).

# %%
corpus = train_text[:pick(300_000, len(train_text))]
start = time.perf_counter()
tok = BPETokenizer().train(corpus, vocab_size=2048)
print(f"trained {len(tok.merges)} merges on {len(corpus):,} characters in {time.perf_counter() - start:.1f} s")
print("first merges: ", [tok.decode([i]) for i in range(256, 280)])
print("longest tokens:", [tok.decode([i]) for i in sorted(tok.vocab, key=lambda i: -len(tok.vocab[i]))[:10]])

# %% [markdown]
# The first merges are the commonest fragments of English (`" t"`, `"he"`, `"ou"`, `" the"`); the longest
# tokens are whole words and the names of characters who speak often, which the training text repeats many
# times (in upper case as speaker labels, and in mixed case in the lines).
#
# ## 5. Encoding and decoding
#
# `encode` cuts the text into chunks and applies the learned merges to each chunk's bytes, in the order they
# were learned; `decode` concatenates the tokens' bytes and reads them as UTF-8. The round trip must be exact,
# on the whole validation split and on text unlike anything in Shakespeare:

# %%
line = "Good morrow, neighbour Baptista."
ids = tok.encode(line)
print(f"{len(line)} characters -> {len(ids)} tokens: {ids}")
print("|".join(tok.token_strings(ids)))

assert tok.decode(tok.encode(val_text)) == val_text
odd = "Café naïve 日本語 😀👍🏽 – ½ <tab>\t!"
assert tok.decode(tok.encode(odd)) == odd
print(f"{odd!r}: {len(odd)} characters, {len(odd.encode())} bytes -> {len(tok.encode(odd))} tokens")

# %% [markdown]
# Frequent words are a single token (`Good`), rarer ones are built from pieces (` neighbour`), and a name
# that is rare or absent in the tokenizer's training text, like Baptista here, falls apart into fragments.
# The unusual string still encodes — no unknown token exists — but characters Shakespeare never used fall
# back to their raw bytes, one token each. Byte-level BPE degrades gracefully rather than failing.
#
# ## 6. Special tokens
#
# Training documents are joined with a marker that means "a new text starts here", and a chat model uses more
# markers for turns. Such **special tokens** must be a single id that ordinary text can never produce by
# accident. Here `<|endoftext|>` is the last id of the vocabulary (as in GPT-2, where it is 50,256).

# %%
eot = tok.special_ids[ENDOFTEXT]
docs = f"To be, or not to be{ENDOFTEXT}Now is the winter of our discontent"
ids = tok.encode(docs)
print(f"<|endoftext|> is id {eot} of {tok.vocab_size}; it appears once in {ids}")
untrusted = tok.encode(docs, allow_special=False)
print(f"with allow_special=False it is ordinary text: {tok.token_strings(untrusted)[5:12]}")
assert ids.count(eot) == 1 and eot not in untrusted and tok.decode(untrusted) == tok.decode(ids) == docs

# %% [markdown]
# `encode(text)` turns every occurrence of a special string into its id. That is right for text we build
# ourselves, and dangerous for text from users: someone could type `<|endoftext|>` and make the model believe a
# document or a turn had ended. So text from outside is encoded with `allow_special=False`, and the marker is
# then just a dozen ordinary tokens. Notebook 08 returns to this as *prompt injection*.
#
# ## 7. Compression versus vocabulary size
#
# A bigger vocabulary makes sequences shorter. BPE learns its merges greedily, in order, so the tokenizer with
# the first k merges is exactly what training to a smaller vocabulary would give: `shrink` makes it without
# retraining. We measure characters and bytes per token on the **validation** split (text the tokenizer never
# saw), and on its own training text.

# %%
sizes = [257, 300, 400, 512, 768, 1024, 1536, 2048]
val_bytes = len(val_text.encode("utf-8"))
per_token = {"validation": [], "training text": []}
for size in sizes:
    small = tok.shrink(size)
    n_val = len(small.encode(val_text))
    per_token["validation"].append((len(val_text) / n_val, val_bytes / n_val))
    per_token["training text"].append((len(corpus[:100_000]) / len(small.encode(corpus[:100_000])), None))

fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.plot(sizes, [c for c, _ in per_token["validation"]], marker="o", label="validation (unseen)")
ax.plot(sizes, [c for c, _ in per_token["training text"]], marker="o", ls="--", label="the tokenizer's training text")
ax.set(xscale="log", xlabel="vocabulary size (ids)", ylabel="characters per token",
       title="Byte-level BPE on Shakespeare: compression grows with the vocabulary")
ax.set_xticks(sizes, [str(s) for s in sizes]); ax.xaxis.set_minor_locator(plt.NullLocator())
ax.legend(); ax.grid(alpha=0.3)
plt.show()
val_cpt = [c for c, _ in per_token["validation"]]
print(" vocab  chars/token  bytes/token (validation)")
for size, (c, b) in zip(sizes, per_token["validation"]):
    print(f"{size:6d} {c:11.2f} {b:12.2f}")
assert val_cpt == sorted(val_cpt) and val_cpt[0] == 1.0 and per_token["training text"][-1][0] > val_cpt[-1]

# %% [markdown]
# With only the bytes (257 ids) every character is a token; 1,791 merges bring the validation text to about
# 2.5 characters per token, so a model with a 256-token context sees 2.5 times as much text. (Shakespeare is
# plain ASCII, so bytes and characters per token are equal here; for Chinese or emoji, bytes per token is the
# larger one.) The gains shrink as the vocabulary grows, and the tokenizer compresses its own training text
# better than new text — its longest tokens are names from the plays it was trained on, a small case of
# over-fitting. The price of a large vocabulary is a larger embedding table and output layer (V × d
# parameters each), and rarer tokens, each seen fewer times in training; GPT-2 uses 50,257 ids, GPT-4 about
# 100,000. The character-level GPT of notebook 06 keeps 65.
#
# ## 8. Why tokenization explains odd model behaviour
#
# ### Spelling
#
# A model sees token ids, not letters. Here is how our tokenizer splits some words, and how often a word in the
# validation text is a single token whose letters the model never sees:

# %%
for w in [" the", " thee", " king", " unkindness", " strawberry", " Shakespeare"]:
    print(f"{w!r:16} -> {'|'.join(tok.token_strings(tok.encode(w)))}")
words = re.findall(r"[A-Za-z]+", val_text)
single = sum(len(tok.encode(" " + w)) == 1 for w in words) / len(words)
variants = {v: tok.encode(v) for v in ["king", " king", "King", " King", " KING"]}
print(f"{single:.0%} of the {len(words):,} words in the validation text are one token (with a leading space)")
print("the same word, five ways:", {v: ids for v, ids in variants.items()})
assert single > 0.5 and len({tuple(ids) for ids in variants.values()}) == len(variants)

# %% [markdown]
# For most words the model receives one opaque id: "how many e's are in ` thee`?" asks about letters it was
# never shown, which it can only answer if it has memorized the spelling of each token from elsewhere in its
# training text. And the same word is five unrelated token sequences depending on a leading space and
# capitals, each of which must be learned separately; famously, large models miscounted the r's in
# "strawberry" for this reason.
#
# ### Numbers
#
# Shakespeare has no numbers to speak of, so we build a small text that does: a ledger of payments, amounts
# spread over five orders of magnitude, mixed with some Shakespeare. Then we look at how the four-digit
# numbers 1000–9999 come out.

# %%
rng = random.Random(0)
ledger = "\n".join(f"Paid {int(10 ** rng.uniform(0, 5))} crowns on day {rng.randint(1, 365)} of year "
                   f"{rng.randint(1550, 1650)}." for _ in range(4000))
num_tok = BPETokenizer().train(train_text[:100_000] + ledger, 1024)
splits = {x: num_tok.token_strings(num_tok.encode(f" {x}")) for x in range(1000, 10000)}
patterns = Counter(tuple(len(p.strip()) for p in s) for s in splits.values())
print(ledger[:90], "...")
print("digits per token, 4-digit numbers:", {"+".join(map(str, p)): n for p, n in patterns.most_common()})
for start in (1230, 9970):
    print("  ".join("|".join(splits[x]).strip() for x in range(start, start + 10)))
years_whole = sum(len(splits[y]) == 1 for y in range(1550, 1651)) / 101
print(f"{years_whole:.0%} of the years 1550-1650 are a single token")
assert len(patterns) >= 3 and all(len({len(splits[x]) for x in range(s, s + 10)}) > 1 for s in (1230, 9970))
assert years_whole > 0.9

# %% [markdown]
# Consecutive numbers are cut in different places: 1234 is `12|34` but 1235 is `12|3|5`; 9975 is `99|75` but
# 9976 is `9|97|6`. Which digit groups became tokens depends on what happened to be frequent in the training
# text: the years 1550–1650, which the ledger repeats, have each become a single token. To add two numbers a
# model must line up units, tens and hundreds, but in token space the units digit sits in a different token
# from one number to the next. This is one reason early
# GPT models were poor at arithmetic. Later tokenizers chose fixed rules instead: GPT-4's splits numbers into
# chunks of at most three digits, and LLaMA's into single digits (exercise 2).
#
# ## Summary
#
# - Text becomes bytes (UTF-8), bytes become tokens. A byte-level vocabulary can encode any string, so there
#   is no unknown token; byte-pair encoding adds tokens for frequent byte sequences to shorten the sequences.
# - BPE training is a short loop: count adjacent pairs, merge the most frequent into a new id, repeat. Our
#   hand-written loop learned exactly the merges of `genlib.text.bpe.BPETokenizer`.
# - A regular expression first cuts text into words, numbers and punctuation, so no token spans two words.
# - `decode(encode(s)) == s` holds for any string. Special tokens such as `<|endoftext|>` are single ids;
#   untrusted text is encoded with `allow_special=False`.
# - Compression grows with the vocabulary (on Shakespeare, from 1 to about 2.5 characters per token at 2,048
#   ids), with diminishing returns and a cost in parameters and rare tokens.
# - Tokens hide letters (spelling is hard) and cut numbers inconsistently (arithmetic is hard).

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. *(easy)* How many tokens does `tok` use for your name, for a sentence in another language you know, and
#    for a line of Python? Compute characters and bytes per token for each.

# %% tags=["exercise"]
# Exercise 1: for your name, a sentence in another language and a line of Python, print the number of tokens
# len(tok.encode(s)), characters per token and bytes (len(s.encode())) per token.

# %% [markdown] tags=["exercise"]
# 2. *(change the code)* Make numbers split consistently: replace the number part of the pattern, `' ?\d+'`,
#    by `'\d{1,3}'` (GPT-4's rule) or `'\d'` (LLaMA's), retrain `num_tok` with `BPETokenizer(pattern=...)`,
#    and count the digit patterns of the numbers 1000–9999 again.

# %% tags=["exercise"]
# Exercise 2: for rule in (r"\d{1,3}", r"\d"): replace r" ?\d+" in GPT2_SPLIT_PATTERN by the rule, train a
# BPETokenizer(pattern=...) as num_tok was trained, and count the digit patterns of the numbers 1000-9999.

# %% [markdown] tags=["exercise"]
# 3. *(open question)* Why do models not simply use a vocabulary of a million tokens, or go back to raw bytes?
#    Think about sequence length, the embedding table, how often each token is seen during training, and
#    languages other than English.

# %% [markdown] tags=["solution"]
# <details><summary>Solution</summary>
#
# 1. For example
#    ```python
#    for s in ["Ada Lovelace", "Je pense, donc je suis.", "def f(x): return x ** 2"]:
#        n = len(tok.encode(s))
#        print(f"{s!r}: {n} tokens, {len(s) / n:.2f} chars/token, {len(s.encode()) / n:.2f} bytes/token")
#    ```
#    English words the plays use compress well; French words and Python keywords get fewer merges, and
#    accented letters cost two bytes each, so other languages pay more tokens for the same meaning — a real
#    cost (in money and context length) for non-English users of English-trained tokenizers.
# 2. ```python
#    for rule in (r"\d{1,3}", r"\d"):
#        pattern = GPT2_SPLIT_PATTERN.replace(r" ?\d+", rule)
#        t = BPETokenizer(pattern=pattern).train(train_text[:100_000] + ledger, 1024)
#        cuts = Counter(tuple(len(p) for p in t.token_strings(t.encode(str(x)))) for x in range(1000, 10000))
#        print(rule, cuts.most_common(4))
#    ```
#    With `\d` every number is one token per digit: a single pattern, and the units digit is always the last
#    token. With `\d{1,3}` the chunks are always 3 + 1 digits, though BPE may still split a 3-digit chunk
#    differently from one number to the next.
# 3. Each extra id adds a row to the embedding table and the output layer (at d = 4,096, a million ids
#    would be 8 billion parameters), and the rarer tokens are seen too few times to learn good embeddings;
#    the softmax over the vocabulary also costs time at every step. Raw bytes make sequences 3–4 times longer,
#    and attention's cost grows with the square of the length. A vocabulary of 50k–250k is the compromise
#    today; byte-level models with smarter architectures (e.g. MegaByte, 2023, and the Byte Latent
#    Transformer, 2024) are an active research direction, partly because they treat all languages alike.
# </details>
