# %% [markdown]
# # 09 · Reasoning, experts and long context — three claims about large models, measured small
#
# **The idea:** three things are said about today's language models. *Chain-of-thought helps them reason*:
# a model that writes its intermediate steps gets harder problems right. *Mixture-of-experts models grow their
# knowledge without growing their cost per token*: a router sends each token to a few of many MLPs. *Context
# windows have limits and can be stretched*: a model trained on 4k tokens can be taught to read 32k. Each
# claim becomes an experiment here, with a number, on models small enough to train on a laptop.
#
# **Learning objectives.** After this notebook you can
# - explain why writing intermediate steps (a scratchpad) helps a transformer do multi-digit arithmetic, and
#   measure it against direct answers at equal training tokens;
# - build a safe calculator (an `ast` walk, never `eval`) and let a model call it mid-generation (tool use);
# - build a top-k router with a load-balancing loss, and compare a mixture of experts with dense models of
#   the same active and the same total parameters;
# - measure how a RoPE model fails past its training length, and fix it with position interpolation or NTK
#   scaling; compute what a long context costs in key/value-cache memory.
#
# **Prerequisites.** Notebooks 05 (attention, RoPE), 06 (training a GPT) and 07 (decoding, the key/value cache).
#
# **Estimated time.** 75 minutes; about two minutes to run on a laptop CPU.

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
import ast
import math
from dataclasses import replace
import operator
import random
import time
import torch
import torch.nn.functional as F
import matplotlib.pyplot as plt
from genlib.checkpoints import load_or_train, read_manifest
from genlib.data import arithmetic as ar
from genlib.device import describe, get_device, seed_everything
from genlib.text import reasoning
from genlib.text.calculator import calculate, generate_with_calculator
from genlib.text.decoding import generate
from genlib.text.gpt import GPT, GPTConfig, kv_cache_bytes
from genlib.text.lm import evaluate_loss, loss_by_position, sequential_batches
from genlib.text.pretrain import Recipe, pretrain
from genlib.text.moe import MoE, active_params, expert_usage, moe_aux_loss, total_params
from genlib.text.shakespeare import encoded_splits, load_gpt

seed_everything(0)
device = get_device()
print(describe())

# %% [markdown]
# ## 1. Chain-of-thought: a scratchpad for arithmetic
#
# Ask a model "1234+5678=" and it must produce the first digit of the answer, 6, before it has written
# anything else. That digit depends on every carry from the right, so the whole addition has to happen
# inside one forward pass, in a fixed number of layers. Let the model **write its steps first** (the
# *scratchpad* of Nye et al. 2021, the *chain of thought* of Wei et al. 2022) and each new token needs only a
# little work: add two digits and a carry that are already on the page.
#
# `genlib.data.arithmetic` writes each problem three ways. Everything is character level over a 22-symbol
# vocabulary, and a fixed hash keeps 10% of all problems out of training, so every test problem is new.

# %%
problem = ar.Problem(1234, "+", 5678)
for fmt in ar.FORMATS:
    text = problem.question + ar.solution(problem, fmt)
    print(f"{fmt:>10}: {text:<58} {len(text):3d} characters")
print(f"{'':>10}  and multiplication by one digit: {ar.Problem(1234, '*', 7).question}{ar.solution(ar.Problem(1234, '*', 7), 'scratchpad')}")

# %% [markdown]
# The scratchpad goes right to left, one column per step, `digit+digit+carry=two-digit sum`; the answer after
# `|` is the left digit of the last sum followed by every column's right digit, read backwards. The `tool`
# format is section 2.
#
# **A fair race: equal training tokens.** A scratchpad costs tokens: a 5-digit scratchpad problem is about five
# times longer than its direct answer. So each model gets the same number of tokens, not the same number of
# problems: `ar.batch(rng, fmt, tokens=2048, ...)` keeps adding problems until it holds 2,048 tokens to
# predict from. The direct model sees several times more problems in every batch.

# %%
rng = random.Random(0)
for fmt in ar.FORMATS:
    ids, mask = ar.batch(rng, fmt, tokens=2048, max_digits=5)
    print(f"{fmt:>10}: {ids.shape[0]:3d} problems, {int((ids != ar.PAD).sum()) - ids.shape[0]:,} tokens, "
          f"{int(mask.sum()):,} of them written by the model (trained on)")

# %% [markdown]
# The loss counts only the tokens the model must write (mask 1): it is never trained to produce the question.
# `reasoning.train_format` is the course's training loop (`genlib.train.train`) with that masked loss, AdamW
# and a cosine schedule. Here is a short visible run of the scratchpad model; `scripts/train_arithmetic.py`
# trained each shipped model on 3,000,000 tokens (1,464 steps, about 6 minutes each on one CPU core).

# %%
seed_everything(0)
demo = reasoning.new_model().to(device)
history = reasoning.train_format(demo, "scratchpad", tokens=40 * 2048, seed=0)
fig, ax = plt.subplots(figsize=(6, 2.6))
ax.plot(history.loss)
ax.set(title="A short scratchpad run (40 steps)", xlabel="step", ylabel="masked cross-entropy (nats)")
plt.show()

# %% [markdown]
# Now the three shipped models, all from the same seed and the same 3M tokens. (Without the checkpoints the
# notebook trains each for 120 steps instead, and the numbers below are rougher.)

# %%
models, sources = {}, {}
for fmt in ar.FORMATS:
    models[fmt] = reasoning.new_model().to(device)
    sources[fmt] = load_or_train(f"arith_{fmt}", models[fmt],
                                 lambda m, f=fmt: reasoning.train_format(m, f, 120 * 2048, progress=False))
    models[fmt].eval()
shipped = all(s == "loaded" for s in sources.values())
print(sources)

# %% [markdown]
# Each model answers 100 held-out problems for every length from 1 to 8 digits, greedily. Training used 1 to
# 5 digits, so 6, 7 and 8 digits are longer than anything the models have seen.

# %%
DIGITS = range(1, 9)
N = 100
acc = {fmt: {op: [reasoning.accuracy(models[fmt], fmt, d, op, n=N) for d in DIGITS] for op in ar.OPS}
       for fmt in ("direct", "scratchpad")}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
for ax, op, name in zip(axes, ar.OPS, ("addition (n digits + n digits)", "multiplication (n digits × 1 digit)")):
    for fmt in acc:
        ax.plot(list(DIGITS), acc[fmt][op], "o-", label=fmt)
    ax.axvspan(5.5, 8.5, color="0.9", label="longer than training")
    ax.set(title=name, xlabel="digits", ylabel="exact-match accuracy", ylim=(-0.03, 1.03))
axes[0].legend()
plt.show()
for fmt in acc:
    print(f"{fmt:>10} +: " + " ".join(f"{a:4.0%}" for a in acc[fmt]["+"]) + "   ×: " +
          " ".join(f"{a:4.0%}" for a in acc[fmt]["*"]))

# %% [markdown]
# Two things to read off the figure. **Within the training lengths**, the scratchpad is exact where the direct
# model is lost beyond two digits, though the direct model saw about four times more problems. On 4-digit
# addition, the course's target is a gap of at least 30 points:

# %%
gap = acc["scratchpad"]["+"][3] - acc["direct"]["+"][3]
print(f"4-digit addition: scratchpad {acc['scratchpad']['+'][3]:.0%}, direct {acc['direct']['+'][3]:.0%}, "
      f"gap {gap * 100:.0f} points")
if shipped:
    assert gap >= 0.30
    assert acc["scratchpad"]["+"][4] >= 0.95 and acc["scratchpad"]["*"][4] >= 0.95  # 5 digits, both operations

# %% [markdown]
# **Past the training lengths**, every model falls to zero at once, scratchpad included. Look at what the
# scratchpad model writes for a 6-digit sum:

# %%
p6 = reasoning.held_out_problems(6, "+", n=1)[0]
print(f"{p6.question}{reasoning.solve(models['scratchpad'], [p6], 'scratchpad')[0]}")
print(f"{'right:':>14} {ar.solution(p6, 'scratchpad')}")

# %% [markdown]
# It writes five columns, the number it saw in training, and its first column does not even start at the
# right digits: the model learned *where* to look for "the next digit" by position, for the lengths it met.
# Longer inputs move every digit to positions it never used that way. This is **length generalisation**, a
# known weakness of transformers (Anil et al. 2022); training on more lengths, or writing numbers
# least-significant digit first, or position schemes built for it, help. Chain-of-thought buys accuracy on
# problems like the training ones; it does not by itself teach an algorithm that runs for any length.
#
# ## 2. Tool use: a calculator the model can call
#
# The third format asks the model only to *write down the question for a calculator*:
# `<calc>1234+5678</calc>`. Generation then pauses, a program computes the result, the result is inserted as
# if the model had written it, and the model goes on (here: it closes with `;`). Assistants call search
# engines, code interpreters and calculators this way.
#
# The calculator must never run what the model writes: `eval("__import__('os').system(...)")` would run a
# shell command. So we walk the expression's syntax tree with `ast` and accept only integers and the four
# operators.

# %%
ALLOWED = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
           ast.Div: operator.floordiv}

def my_calculate(expression):
    def value(node):
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in ALLOWED:
            return ALLOWED[type(node.op)](value(node.left), value(node.right))
        raise ValueError(f"{type(node).__name__} is not allowed")
    return value(ast.parse(expression, mode="eval").body)

for expression, value in [("1234+5678", 6912), ("12*34-5", 403), ("-7+100//3", 26), ("99999*9", 899991)]:
    assert my_calculate(expression) == calculate(expression) == value
for attack in ["__import__('os').system('echo hacked')", "2**1000000", "open('secret.txt').read()"]:
    try:
        my_calculate(attack)
        raise AssertionError("an attack got through")
    except ValueError as e:
        print(f"refused {attack!r}: {e}")

# %% [markdown]
# `genlib.text.calculator.calculate` is the same walk plus two guards (division by zero, numbers over 40 digits,
# so `9*9*9*...` cannot eat the memory). `generate_with_calculator` is the loop: greedy decoding, and when the
# text ends with `</calc>`, the calculator's result is fed to the model token by token in place of its own
# choices. In training the result's digits had loss weight 0, so the model never learned to produce them:

# %%
ids, mask = ar.example(problem, "tool")
print("".join(c if m else "·" for c, m in zip(ar.decode(ids), mask)))
print("(· = not trained on: the question, and the digits the calculator supplies)")
for p in reasoning.held_out_problems(5, "+", n=2) + reasoning.held_out_problems(4, "*", n=1):
    text, calls = generate_with_calculator(models["tool"], p.question, ar.encode, ar.decode)
    print(f"{p.question}{text}   calls: {calls}")

# %% [markdown]
# The tool model against the scratchpad model, on the same held-out problems:

# %%
acc["tool"] = {op: [reasoning.accuracy(models["tool"], "tool", d, op, n=N) for d in DIGITS] for op in ar.OPS}
for fmt in ("scratchpad", "tool"):
    print(f"{fmt:>10} +: " + " ".join(f"{a:4.0%}" for a in acc[fmt]["+"]) + "   ×: " +
          " ".join(f"{a:4.0%}" for a in acc[fmt]["*"]))
tool_5 = reasoning.accuracy(models["tool"], "tool", 5, "+", n=400)
print(f"tool model on 400 held-out 5-digit additions: {tool_5:.1%}")
if shipped:
    assert tool_5 >= 0.95

# %% [markdown]
# The calculator makes the arithmetic exact, and the model's job small: copy two numbers. Yet the tool
# model also fails from 6 digits: copying a 6-digit number is, for it, as new as adding one. What if the
# calculator is switched off and the model must write the result itself? Plain greedy decoding:

# %%
problems_3 = reasoning.held_out_problems(3, "+", n=N)
prompts = torch.tensor([ar.encode(p.question) for p in problems_3], device=device)
out = generate(models["tool"], prompts, 30, temperature=0, eos_id=ar.STOI[ar.END])
own = [ar.read_answer(ar.decode(row)) for row in out[:, prompts.shape[1]:].tolist()]
no_tool = sum(a == p.answer for a, p in zip(own, problems_3)) / N
print(f"3-digit additions, the tool model without its calculator: {no_tool:.0%} "
      f"(with it: {acc['tool']['+'][2]:.0%})")
if shipped:
    assert no_tool < 0.5 < acc["tool"]["+"][2]
print("what it writes:", ar.decode(out[0, prompts.shape[1]:].tolist()).split(";")[0] + ";")

# %% [markdown]
# Without its calculator the model closes the call and ends the answer: it never learned to write the digits
# that the tool supplies. Tool use moves the skill out of the model; the model must still know *when* to call
# and *what* to pass.

# %% [markdown]
# ## 3. Mixture of experts: more parameters, the same compute per token
#
# In a transformer block most parameters sit in the MLP. A **mixture of experts** (MoE) keeps several MLPs,
# the *experts*, and a small linear *router* that scores them for each token; the token goes through its
# top-k experts only, and their outputs are mixed by the router's (renormalised) probabilities. With 4
# experts and top-2 routing, the model stores 4 MLPs but each token pays for 2. Switch Transformer (Fedus et
# al. 2021) uses top-1; Mixtral (2024) top-2 of 8.
#
# Here is the routing written out for one layer, checked against `genlib.text.moe.MoE` (in eval mode, where no
# token is dropped; in training each expert takes at most `capacity_factor` times its even share of a batch):

# %%
def my_moe(x, router, experts, k=2):
    probs = router(x).softmax(-1)                      # [tokens, n_expert]
    gate, choice = probs.topk(k, dim=-1)               # each token's k best experts
    gate = gate / gate.sum(-1, keepdim=True)           # Mixtral: the k gates sum to 1
    out = torch.zeros_like(x)
    for e, expert in enumerate(experts):
        for slot in range(k):
            chosen = choice[:, slot] == e
            out[chosen] += gate[chosen, slot, None] * expert(x[chosen])
    return out, probs, choice

torch.manual_seed(0)
layer = MoE(GPTConfig(n_embd=32, n_head=4, n_expert=4, expert_top_k=2, mlp_ratio=2)).eval()
x = torch.randn(200, 32)
with torch.no_grad():
    mine, probs, choice = my_moe(x, layer.router, layer.experts)
    torch.testing.assert_close(mine, layer(x))
print("my_moe equals genlib's MoE; tokens per expert:", torch.bincount(choice.flatten(), minlength=4).tolist())

# %% [markdown]
# **Load balancing.** Nothing in the task loss stops the router from sending most tokens to one or two experts,
# which then train faster, get chosen more, and leave the others idle. The Switch Transformer adds
# `n_expert · Σᵢ fᵢ · Pᵢ` to the loss, where fᵢ is the share of routing choices that went to expert i and Pᵢ the
# router's mean probability for it: it is 1.0 when both are even and grows as the routing concentrates. fᵢ
# comes from a top-k choice and has no gradient; Pᵢ carries the gradient that pushes the router towards even use.

# %%
f = torch.bincount(choice.flatten(), minlength=4).float() / choice.numel()
P = probs.mean(0)
print(f"f = {[round(v, 3) for v in f.tolist()]}, P = {[round(v, 3) for v in P.tolist()]}, "
      f"loss = {4 * (f * P).sum():.4f}, genlib: {layer.aux_loss:.4f}")
torch.testing.assert_close(4 * (f * P).sum(), layer.aux_loss)

# %% [markdown]
# **The experiment.** Four character-level GPTs on Tiny Shakespeare, trained by `scripts/train_moe.py` with the
# same seed, batches and number of steps (1,200 steps of 32 × 128 characters) and the course's recipe from
# notebook 06. All have 4 layers of width 128:
# - **MoE**: 4 experts of half an MLP each (ratio 2), top-2, balancing loss weight 0.01;
# - **MoE without the balancing loss**, otherwise the same;
# - **dense, same active parameters**: one MLP of ratio 4, as much compute per token as the MoE;
# - **dense, same total parameters**: one MLP of ratio 8, as many weights as the MoE stores.

# %%
base = GPTConfig(vocab_size=65, block_size=128, n_layer=4, n_head=4, n_embd=128, pos="rope", norm="rms")
moe_config = replace(base, n_expert=4, expert_top_k=2, mlp_ratio=2)
experiment = {
    "MoE (4 experts, top-2)": ("moe_shakespeare", moe_config, 0.01),
    "MoE, no balancing loss": ("moe_shakespeare_noaux", moe_config, 0.0),
    "dense, same active params": ("dense_shakespeare_active", replace(base, mlp_ratio=4), 0.0),
    "dense, same total params": ("dense_shakespeare_total", replace(base, mlp_ratio=8), 0.0),
}
train_ids, val_ids = encoded_splits()
manifest = read_manifest()
lms, lm_sources = {}, {}
for label, (name, config, aux) in experiment.items():
    torch.manual_seed(0)
    lms[label] = GPT(config).to(device)
    lm_sources[label] = load_or_train(name, lms[label], lambda m, a=aux: pretrain(
        m, train_ids, Recipe(batch_size=32, block_size=128, lr=3e-3, muon_lr=1e-2, optimizer="muon", schedule="wsd",
                             cooldown=0.4, min_lr_ratio=0.0, warmup=0.02), steps=30, aux_loss_weight=a, device=device))
    if lm_sources[label] == "loaded":
        assert GPTConfig(**manifest[name]["settings"]["config"]) == config, "the notebook's config must be the script's"
lms_shipped = all(s == "loaded" for s in lm_sources.values())
print(lm_sources)

# %% [markdown]
# Each model is scored on every character of the validation split. The time the scoring takes gives a rough
# throughput (characters per second, forward pass only, here and now); the last column is the training
# throughput `scripts/train_moe.py` measured (one thread each, on the machine that trained them). Both depend on
# the machine and its load, so read the ratios, not the absolute numbers; the comparison itself rests on the
# loss at equal training steps.

# %%
val_batches = sequential_batches(val_ids, 128, 64)
rows = {}
for label, model in lms.items():
    start = time.perf_counter()
    loss = evaluate_loss(model, val_batches, device)
    seconds = time.perf_counter() - start
    name = experiment[label][0]
    rows[label] = dict(loss=loss, active=active_params(model), total=total_params(model),
                       speed=sum(y.numel() for _, y in val_batches) / seconds,
                       train_speed=manifest.get(name, {}).get("metric", {}).get("train_tokens_per_s", float("nan")))
print(f"{'':27} {'val loss':>9} {'active params':>14} {'total params':>13} {'chars/s (fwd)':>14} {'train chars/s':>14}")
for label, r in rows.items():
    print(f"{label:27} {r['loss']:9.4f} {r['active']:14,} {r['total']:13,} {r['speed']:14,.0f} {r['train_speed']:14,.0f}")

# %% [markdown]
# The comparison at equal training steps, from the losses above (the throughputs play no part in it):

# %%
moe_label, active_label, total_label = "MoE (4 experts, top-2)", "dense, same active params", "dense, same total params"
print(f"\nMoE minus dense (same active params): {rows[moe_label]['loss'] - rows[active_label]['loss']:+.4f} nats/char")
print(f"MoE minus dense (same total params):  {rows[moe_label]['loss'] - rows[total_label]['loss']:+.4f} nats/char")
if lms_shipped:
    assert rows[moe_label]["loss"] < rows[active_label]["loss"]
    assert abs(rows[moe_label]["active"] - rows[active_label]["active"]) < 0.01 * rows[active_label]["active"]
    assert abs(rows[moe_label]["total"] - rows[total_label]["total"]) < 0.01 * rows[total_label]["total"]
    assert abs(rows[moe_label]["loss"] - rows[total_label]["loss"]) < 0.01

# %% [markdown]
# **Expert usage.** The share of routing choices each expert received on the validation text, in each layer,
# with and without the balancing loss (an even split is 25%):

# %%
sample = val_batches[0][0].to(device)
fig, axes = plt.subplots(1, 2, figsize=(10, 3), sharey=True)
for ax, label in zip(axes, ["MoE (4 experts, top-2)", "MoE, no balancing loss"]):
    usage = expert_usage(lms[label], sample).cpu()
    for layer_i, row in enumerate(usage):
        ax.bar(torch.arange(4) + 0.2 * layer_i - 0.3, row, width=0.2, label=f"layer {layer_i}")
    ax.axhline(0.25, color="k", ls="--", lw=1)
    lms[label].eval()
    lms[label](sample)
    ax.set(title=f"{label}\nbalancing loss {moe_aux_loss(lms[label]).item() / 4:.3f} per layer (1.0 = even)",
           xlabel="expert", ylabel="share of routing choices", xticks=range(4))
axes[0].legend(fontsize=8)
plt.show()
spread = {}
for label in ["MoE (4 experts, top-2)", "MoE, no balancing loss"]:
    usage = expert_usage(lms[label], sample)
    spread[label] = (usage.min().item(), usage.max().item())
    print(f"{label:24}: every expert gets between {spread[label][0]:.0%} and {spread[label][1]:.0%} of the choices")
if lms_shipped:
    balanced, free = spread["MoE (4 experts, top-2)"], spread["MoE, no balancing loss"]
    assert balanced[1] - balanced[0] < free[1] - free[0]
    assert rows[moe_label]["loss"] < rows["MoE, no balancing loss"]["loss"] < rows[active_label]["loss"]
free_usage = expert_usage(lms["MoE, no balancing loss"], sample)
worst = (free_usage.max(1).values / free_usage.min(1).values).max().item()
print(f"without the loss, the most uneven layer gives its busiest expert {worst:.1f}x the share of its least busy one")

# %% [markdown]
# With the balancing loss every expert stays close to an even share in every layer; without it the shares drift
# apart (here no expert died, but the most uneven layer favours one expert by the factor printed above, and at
# larger scale whole experts can fall idle). In this run the MoE without the loss still beat the dense model of equal active size
# (the table above), but by less than the balanced one.
#
# ## 4. Long context: past the trained length, and how to stretch it
#
# A model trained on windows of 128 characters has never seen position 200. With learned position vectors
# (GPT-2) it simply has none for it. With **RoPE** (notebook 05) every position has a rotation, so the model can
# *read* 512 characters — but does it still *work* there? We score the shipped GPT of notebook 06 (context 128)
# on 32 windows of 512 validation characters and look at its loss at each position.

# %%
try:
    gpt, _, _ = load_gpt(device)
    long_shipped = True
except (KeyError, FileNotFoundError):   # no checkpoint: a small RoPE GPT trained here
    torch.manual_seed(0)
    gpt = GPT(base).to(device)
    pretrain(gpt, train_ids, Recipe(batch_size=32, block_size=128, lr=3e-3), steps=150, device=device)
    long_shipped = False
trained_weights = {k: v.clone() for k, v in gpt.state_dict().items()}
LONG = 4 * gpt.config.block_size
RANGES = {"1x (0-128)": (0, 128), "2x (128-256)": (128, 256), "4x (256-512)": (256, 512)}

def fresh(**rope):
    """The trained weights, reading LONG characters with the given RoPE scaling."""
    model = GPT(replace(gpt.config, block_size=128)).to(device)
    model.load_state_dict(trained_weights)
    return model.extend_context(LONG, **rope).eval()

def by_range(curve):
    return {name: curve[a:b].mean().item() for name, (a, b) in RANGES.items()}

def smooth(curve, width=16):
    return F.avg_pool1d(curve[None, None].cpu(), width, 1)[0, 0]

curves = {"plain RoPE": loss_by_position(fresh(), val_ids.to(device), LONG)}
for name, r in by_range(curves["plain RoPE"]).items():
    print(f"plain RoPE, positions {name:>13}: {r:.3f} nats/char")

# %% [markdown]
# The loss falls over the first few dozen characters (more context, better guesses), stays flat to 128, then
# climbs once the positions leave the trained range. Two well-known ways to stretch the context:
# - **Position interpolation** (Chen et al. 2023): read position p as p/4, so every angle stays inside the range
#   seen in training, at the price of squeezing neighbours 4 times closer than the model is used to;
# - **NTK-aware scaling** (bloc97 2023): raise RoPE's base so the slowest rotation turns 4 times slower while the
#   fastest (which tells neighbours apart) stays the same.
#
# Both only change the RoPE tables (`GPT.extend_context(n, rope_scale=...)` or `rope_ntk_alpha=...`); the
# weights are untouched. First without any training:

# %%
curves["interpolation x4"] = loss_by_position(fresh(rope_scale=4.0), val_ids.to(device), LONG)
curves["NTK alpha 4"] = loss_by_position(fresh(rope_ntk_alpha=4.0), val_ids.to(device), LONG)
print(f"{'no fine-tuning':18}" + "".join(f"{name:>15}" for name in RANGES))
for label, curve in curves.items():
    print(f"{label:18}" + "".join(f"{v:15.3f}" for v in by_range(curve).values()))

# %% [markdown]
# Then each with a short fine-tune on 512-character windows: 20 steps of 4 windows, AdamW, the course's
# training loop. This is the "short visible run" of this notebook; long-context models do the same at scale
# (LLaMA 2 Long, Code Llama: about a thousand steps at the new length).

# %%
tuned = {}
for label, rope in [("plain RoPE", {}), ("interpolation x4", dict(rope_scale=4.0)), ("NTK alpha 4", dict(rope_ntk_alpha=4.0))]:
    model = fresh(**rope)
    pretrain(model, train_ids, Recipe(batch_size=4, block_size=LONG, lr=1e-3, warmup=0.1), steps=20, seed=0,
             device=device, desc=f"fine-tune: {label}")
    tuned[label] = loss_by_position(model, val_ids.to(device), LONG)
print(f"{'after 20 steps':18}" + "".join(f"{name:>15}" for name in RANGES))
for label, curve in tuned.items():
    print(f"{label:18}" + "".join(f"{v:15.3f}" for v in by_range(curve).values()))

fig, axes = plt.subplots(1, 2, figsize=(11, 3.3), sharey=True)
for ax, (title, group) in zip(axes, [("no fine-tuning", curves), ("after a 20-step fine-tune at 512", tuned)]):
    for label, curve in group.items():
        ax.plot(smooth(curve), label=label)
    ax.axvline(128, color="k", ls="--", lw=1)
    ax.set(title=title, xlabel="position in the window (trained context: 128)", ylabel="loss (nats/char, smoothed)",
           ylim=(1.2, 4.2))
axes[0].legend()
plt.show()

# %% [markdown]
# What the tables say (each line is asserted below when the shipped GPT is loaded):
# - plain RoPE works on positions it trained on and degrades past them, more the further it goes;
# - interpolation without training is the worst of all, *even inside the trained range*: squeezing positions
#   four times closer blurs which character came just before, and a character model lives on that;
# - NTK scaling, which keeps the fast rotations, is the best of the three without training;
# - a 20-step fine-tune at 512 brings plain RoPE and NTK back to about their short-context loss at every
#   position; interpolation recovers too, but slowest, because every distance it knew has changed.

# %%
before, after = {k: by_range(v) for k, v in curves.items()}, {k: by_range(v) for k, v in tuned.items()}
one, four = "1x (0-128)", "4x (256-512)"
if long_shipped:
    assert before["plain RoPE"][four] > before["plain RoPE"][one] + 0.3
    assert before["NTK alpha 4"][four] < before["plain RoPE"][four]
    assert before["interpolation x4"][one] > before["plain RoPE"][one] + 1.0
    for label in ("plain RoPE", "NTK alpha 4"):
        assert after[label][four] < after[label][one] + 0.1 and after[label][four] < before[label][four]
    assert after["interpolation x4"][four] < before["interpolation x4"][four]

# %% [markdown]
# **What a long context costs.** Attention keeps a key and a value of `n_embd` numbers per token, per layer, for
# every token in the context (the cache of notebook 07): memory grows linearly with the context.
# `kv_cache_bytes` computes it; for a 7-billion-parameter LLaMA-style model in 16-bit numbers the cache of a
# single long conversation rivals the weights themselves.

# %%
llama7b = GPTConfig(vocab_size=32000, block_size=131072, n_layer=32, n_head=32, n_embd=4096, pos="rope", norm="rms")
for context in (128, 512):
    print(f"this GPT, {context:>7,} characters: {kv_cache_bytes(gpt.config, context) / 2**20:8.2f} MiB (float32)")
for context in (4096, 32768, 131072):
    print(f"7B model, {context:>7,} tokens:     {kv_cache_bytes(llama7b, context, dtype_bytes=2) / 2**30:8.2f} GiB "
          f"(bfloat16; the weights: {7e9 * 2 / 2**30:.1f} GiB)")
assert kv_cache_bytes(llama7b, 131072, dtype_bytes=2) == 2 * 32 * 131072 * 4096 * 2   # 64 GiB

# %% [markdown]
# ## Summary
#
# - **Chain-of-thought** is a change of *format*, not of model: the same GPT, trained on the same number of
#   tokens, is exact on held-out additions of up to 5 digits when it writes one column per step, and fails from
#   2–3 digits when it must answer at once. Writing the steps spends tokens to give each token a small,
#   local job.
# - It does not teach an algorithm for any length: past the lengths seen in training, scratchpad, direct and
#   tool models all fail, because *where* to look was learned by position.
# - **Tool use** moves the skill out of the model: it learns to write the call (and nothing of the result),
#   a safe evaluator that walks the syntax tree computes it, and generation continues.
# - A **mixture of experts** stores more parameters than it uses per token: at equal steps it beat the dense
#   model with its *active* parameters and came within 0.01 nats of the dense model with its *total* parameters,
#   while doing the arithmetic (FLOPs) of the smaller one. Turning those saved FLOPs into speed takes more: our
#   plain loop over experts, with its gathers and scatters, ran at best as fast as the dense model of equal active
#   size and trained slower than it (the throughput columns); real systems use grouped kernels and spread
#   experts over devices. The
#   load-balancing loss keeps every expert in use.
# - A RoPE model reads past its training length but works worse there. NTK scaling helps without training;
#   position interpolation needs training; a short fine-tune at the new length fixes most of it. The key/value
#   cache grows linearly with the context and, for a 7B model at 128k tokens, outgrows the weights.

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. *(easy)* Print the scratchpad model's full answer for the 5-digit multiplication `98765*7=` and for the
#    6-digit `987654*7=`. Where does the second one go wrong?

# %% tags=["exercise"]
# Exercise 1: solve ar.Problem(98765, "*", 7) and ar.Problem(987654, "*", 7) with the scratchpad model and
# print the question followed by what the model wrote.

# %% [markdown] tags=["exercise"]
# 2. *(change the code)* The Switch Transformer routes each token to **one** expert and does *not* renormalise:
#    the gate is the router's probability itself (so the task loss still reaches the router). Change `my_moe` so
#    that with `k=1` it does exactly that, and check it against `MoE(GPTConfig(..., expert_top_k=1))`.

# %% tags=["exercise"]
# Exercise 2: a my_moe that keeps the gate unnormalised when k == 1, checked with torch.testing.assert_close
# against genlib's MoE built with expert_top_k=1 (in eval mode).

# %% [markdown] tags=["exercise"]
# 3. *(open question)* The tool model only has to *copy* two numbers into the call, yet it fails on 6-digit
#    numbers. What would you change in the data, the format or the model so that it copies (or adds) numbers of
#    any length?

# %% [markdown] tags=["solution"]
# <details><summary>Solution</summary>
#
# 1. ```python
#    for p in (ar.Problem(98765, "*", 7), ar.Problem(987654, "*", 7)):
#        print(p.question + reasoning.solve(models["scratchpad"], [p], "scratchpad")[0])
#    ```
#    The 5-digit one is right column by column. For 6 digits the model still writes five columns, the number it
#    met in training, and reads its digits from the wrong places, so the answer is wrong from the first step.
# 2. ```python
#    def my_moe(x, router, experts, k=2):
#        probs = router(x).softmax(-1)
#        gate, choice = probs.topk(k, dim=-1)
#        if k > 1:
#            gate = gate / gate.sum(-1, keepdim=True)   # Mixtral; Switch (k = 1) keeps the probability
#        out = torch.zeros_like(x)
#        for e, expert in enumerate(experts):
#            for slot in range(k):
#                chosen = choice[:, slot] == e
#                out[chosen] += gate[chosen, slot, None] * expert(x[chosen])
#        return out, probs, choice
#
#    torch.manual_seed(0)
#    switch = MoE(GPTConfig(n_embd=32, n_head=4, n_expert=4, expert_top_k=1, mlp_ratio=2)).eval()
#    with torch.no_grad():
#        torch.testing.assert_close(my_moe(x, switch.router, switch.experts, k=1)[0], switch(x))
#    ```
#    Renormalising a single gate would make it always 1.0, and the router would get no gradient from the task.
# 3. Some directions that are known to work: train on many lengths (and on a few much longer ones); write
#    numbers least-significant digit first, so the answer's digits come in the order they are computed; give
#    the model an explicit index for each digit (for example `a1=4 a2=3 ...` in the scratchpad, or position
#    "coupling" as in Abacus embeddings, McLeish et al. 2024); or let the tool read the numbers from the question
#    itself, so the model never has to copy them. A model that must *compute* where to look cannot extrapolate
#    what it only memorised by position.
# </details>
