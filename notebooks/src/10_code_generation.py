# %% [markdown]
# # 10 · Code generation — a language model that writes Python, checked by running it
#
# **The idea:** code is text, so a language model trained on code writes code. What is new is that code can
# be *checked*: a sample either parses or it does not, a function either passes its tests or it does not. That
# turns "the model writes code" into numbers (the share of samples that parse, pass@k on held-out tasks) and
# brings a new duty: a program a model wrote must never run on your machine with your rights. Here we train
# nothing new in the notebook; `scripts/train_code.py` trained a small GPT for an hour on the Python standard
# library's own source, and we measure what it can and cannot do.
#
# **Learning objectives.** After this notebook you can
# - build a code corpus from the running interpreter's standard library and read what a BPE tokenizer learns
#   from code (indentation, keywords, `self.`);
# - measure how temperature trades variety for validity, with the share of samples that parse and compile;
# - run generated programs in a sandbox (a child process with a time limit, memory limit, no network and a
#   throw-away folder) and say what such a sandbox does *not* protect against;
# - compute pass@k with the unbiased estimator of Chen et al. (2021), prove it against a direct count, and
#   report it beside a baseline.
#
# **Prerequisites.** Notebooks 04 (BPE), 06 (training a GPT) and 07 (decoding, temperature).
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
import ast
import math
import sysconfig
import textwrap
from collections import Counter
import torch
import matplotlib.pyplot as plt
from genlib.checkpoints import checkpoint_dir, load_or_train, read_manifest
from genlib.data.code_corpus import corpus_digest, stdlib_dir, stdlib_files, stdlib_sources
from genlib.data.code_tasks import code_tasks
from genlib.device import describe, get_device, seed_everything
from genlib.text import codegen
from genlib.text.bpe import BPETokenizer
from genlib.text.gpt import GPT
from genlib.text.lm import evaluate_loss, sequential_batches
from genlib.text.passk import mean_pass_at_k, pass_at_k
from genlib.text.pretrain import Recipe, pretrain
from genlib.text.sandbox import run_program, run_tests

seed_everything(0)
device = get_device()
print(describe())

# %% [markdown]
# ## 1. A corpus that is already on your machine
#
# Every Python installation carries its standard library as source: about a thousand `.py` files written by
# experienced programmers. `genlib.data.code_corpus` reads them from the running interpreter (leaving out test
# suites, `idlelib` and generated data) and puts every tenth file, chosen by a fixed hash of its path, in a
# validation split, so the model is scored on files it never saw. Nothing is downloaded and nothing is copied
# into the course: another Python version simply has a slightly different corpus, and the digest below names
# exactly which one you have.

# %%
train_files, val_files = stdlib_files("train"), stdlib_files("val")
val_text = stdlib_sources("val")
print(f"Python {sysconfig.get_python_version()}: {len(train_files)} training files, {len(val_files)} validation files "
      f"({len(val_text):,} characters, digest {corpus_digest(val_text)})")
print("a few validation files:", ", ".join(val_files[:5]))

# %% [markdown]
# The model reads code through a byte-level BPE tokenizer (notebook 04) with 2,048 ids, trained by the script on
# the first three million characters of the training split and shipped beside the weights: a tokenizer retrained
# on another Python's library would learn other merges, and the model's ids would stop meaning what they meant.
# Look at what it learned. Code is repetitive in ways prose is not, and the merges show it: runs of spaces
# (indentation), `self`, `return`, `def`, `__init__`.

# %%
tok_path = checkpoint_dir() / codegen.TOKENIZER_FILE
if tok_path.exists():
    tok = BPETokenizer.load(tok_path)
else:  # no shipped tokenizer: train one here (a few seconds on a smaller slice of the corpus)
    tok = BPETokenizer().train(stdlib_sources("train", max_bytes=300_000), codegen.VOCAB_SIZE)
snippet = "    def __init__(self, name):\n        self.name = name\n        return None\n"
print(" | ".join(repr(s) for s in tok.token_strings(tok.encode(snippet))))
val_ids = torch.tensor(tok.encode(val_text, allow_special=False))
print(f"validation: {len(val_text) / len(val_ids):.2f} characters per token")

# %% [markdown]
# A line break and the next line's indentation are one token (`'\n       '`, then `' self'`: GPT-2's split
# pattern gives the last space to the next word), and a line like `self.name = name` takes five ids. The model
# sees 256 tokens at a time, about 750 characters of code.

# %% [markdown]
# ## 2. The code model
#
# `scripts/train_code.py` trained a GPT of notebook 06's shape (4 layers, 256 wide, RoPE, RMSNorm, 3.7 million
# parameters) with the course's recipe for 60 minutes on one CPU core. We score it on files from both splits. If
# the weights are not shipped (or you changed `codegen.CONFIG`), the cell below trains one for 90 seconds instead:
# it will write worse code, and the checks later in the notebook that need the shipped model are skipped.

# %%
torch.manual_seed(0)
model = GPT(codegen.CONFIG).to(device)


def train_fallback(m):
    ids = torch.tensor(tok.encode(stdlib_sources("train", max_bytes=2_000_000), allow_special=False))
    pretrain(m, ids, Recipe(batch_size=16, block_size=codegen.CONFIG.block_size, lr=3e-3, muon_lr=1e-2,
                            optimizer="muon", schedule="wsd", cooldown=0.4, min_lr_ratio=0.0, warmup=0.02),
             seconds=90, device=device)


source = load_or_train(codegen.CHECKPOINT, model, train_fallback)
model.eval()
shipped = source == "loaded" and tok_path.exists()
entry = read_manifest().get(codegen.CHECKPOINT, {})
train_ids = torch.tensor(tok.encode(stdlib_sources("train", max_bytes=1_000_000), allow_special=False))
losses = {name: evaluate_loss(model, sequential_batches(ids, codegen.CONFIG.block_size, 16)[:10], device)
          for name, ids in (("training", train_ids), ("validation", val_ids))}
print(f"{source}; {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters")
for name, loss in losses.items():
    print(f"  {name} files: {loss:.3f} nats per token (160 windows of 256 tokens)")
if shipped:
    print(f"the training run: {entry['steps']:,} steps of 16 x 256 tokens on {entry['metric']['train_tokens']:,} "
          f"training tokens; validation loss {entry['metric']['value']} on every validation token")

# %% [markdown]
# The training files score much better than the validation files: in one hour the model read its 3 million
# training tokens about four times and has begun to learn them by heart rather than learning Python in general.
# That is the first sign that this model is short of data and size, not of training time.

# %% [markdown]
# ## 3. Temperature: variety against validity
#
# The simplest check of generated code is whether Python accepts it. We ask for functions: the prompt is a
# blank line and `def `, and each sample is cut where the function ends (the first later line that starts at
# column 0). Then two checks of increasing strictness: `ast.parse` (is it syntactically Python?) and `compile`
# (does the compiler also accept it? It rejects some things the parser allows, such as a repeated argument name
# or `return` outside a function). A sample that is still going when its 200 tokens run out usually fails both.

# %%
TEMPERATURES = (0.2, 0.5, 0.8, 1.2)
N_SAMPLES = {0.8: 200}  # issue 10's target is measured on 200 samples at T = 0.8; 100 elsewhere keeps the cell short
rates = {}
for t in TEMPERATURES:
    n = N_SAMPLES.get(t, 100)
    samples = codegen.sample_functions(model, tok, n, temperature=t, seed=1)
    rates[t] = {"n": n, "parses": sum(codegen.parses(s) for s, _ in samples) / n,
                "compiles": sum(codegen.compiles(s) for s, _ in samples) / n,
                "ended": sum(ended for _, ended in samples) / n, "distinct": len({s for s, _ in samples}) / n}
    if t == 0.8:
        samples_08 = samples
for t, r in rates.items():
    print(f"T = {t:<4} n = {r['n']}: parses {r['parses']:5.1%}  compiles {r['compiles']:5.1%}  "
          f"ended within 200 tokens {r['ended']:5.1%}  distinct {r['distinct']:5.1%}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
for key, style in (("parses", "o-"), ("compiles", "s--"), ("distinct", "^:")):
    ax.plot(TEMPERATURES, [100 * rates[t][key] for t in TEMPERATURES], style, label=key)
ax.set_xlabel("temperature")
ax.set_ylabel("% of samples")
ax.set_ylim(0, 105)
ax.legend()
ax.set_title("Colder sampling is more often valid")
plt.tight_layout()
plt.show()

# %% [markdown]
# Here is one sample at temperature 0.8 that parses, and one that does not, with the line where the parser gave
# up.

# %%
good = next(s for s, _ in samples_08 if codegen.parses(s) and s.count("\n") >= 4)
bad = next(s for s, _ in samples_08 if not codegen.parses(s))
print(good)
try:
    ast.parse(bad)
except SyntaxError as e:
    lines = bad.splitlines()
    print("\n".join(lines[max(0, e.lineno - 4):e.lineno]))
    print(f"    ^ SyntaxError on line {e.lineno}: {e.msg}")

# %% [markdown]
# The numbers say what the picture says: colder samples are valid more often, and at 1.2 almost nothing parses.
# But even cold, fewer than half of this model's functions parse. Two things break them: a function still going
# when its 200 tokens run out (the `ended` share), and plain syntax errors inside finished ones (unclosed
# brackets and docstrings, like the one above). We set out to reach 80% at temperature 0.8; the shipped model is
# far from that:

# %%
parse_08 = rates[0.8]["parses"]
print(f"{parse_08:.1%} of {rates[0.8]['n']} samples at T = 0.8 parse; {rates[0.8]['compiles']:.1%} compile")
if shipped:
    assert rates[0.2]["parses"] > 3 * rates[1.2]["parses"] and rates[0.5]["parses"] > 3 * rates[1.2]["parses"]
    assert losses["validation"] > losses["training"] + 0.3   # the gap described above

# %% [markdown]
# Codex (Chen et al. 2021) sampled at temperature 0.8 *with nucleus sampling* (top-p 0.95, notebook 07), which
# drops the long tail of unlikely tokens at every step, and the tail is where many syntax errors come from. Same
# seed, same temperature, the tail cut:

# %%
nucleus = codegen.sample_functions(model, tok, rates[0.8]["n"], temperature=0.8, seed=1, top_p=0.95)
parse_nucleus = sum(codegen.parses(s) for s, _ in nucleus) / len(nucleus)
print(f"T = 0.8: {parse_08:.1%} parse; T = 0.8 with top-p 0.95: {parse_nucleus:.1%}")
if shipped:
    assert parse_nucleus > parse_08 + 0.05

# %% [markdown]
# Cutting the tail helps (by the figures above), and it is free. The rest needs a better model: more data than
# the 3 million tokens of one standard library, more parameters, more compute. Section 5 shows what that costs
# when the code has to *work*.

# %% [markdown]
# Parsing is a low bar: `x = undefined_name + 1` parses and compiles and still fails when it runs. To know
# whether code *works* we must run it, and that needs care first.

# %% [markdown]
# ## 4. Running code a model wrote: the sandbox
#
# A sampled program can do anything a program can: delete files, open network connections, loop forever, eat
# memory. A model trained on the standard library has read `shutil.rmtree` and `socket.connect` many times.
# So every program runs through `genlib.text.sandbox`, which gives it
# - a fresh, isolated Python process (`python -I -S`: no site packages, no environment variables) in its own
#   process group, with a wall-clock time limit after which the whole group is killed;
# - on Linux and macOS, `resource` limits on memory, CPU seconds, file size and (for non-root users) new
#   processes;
# - a throw-away temporary folder as its working directory and home;
# - an *audit hook* (PEP 578), installed before the program starts, that stops the process the moment it
#   opens a socket, starts a process, or writes, deletes or renames anything outside its folder, and reports
#   what it tried.
#
# Here are five programs that must not be allowed to do what they try, and one that should run.

# %%
outside = os.path.join(os.path.dirname(os.path.abspath(".")), "written-by-a-sample.txt")
programs = {
    "well-behaved": "print(sum(range(10)))",
    "writes outside its folder": f"open({outside!r}, 'w').write('hello')",
    "opens a socket": "import socket\nsocket.create_connection(('203.0.113.1', 80), timeout=1)",
    "starts a process": "import os\nos.system('echo hi')",
    "loops forever": "while True:\n    pass",
    "eats memory": "x = bytearray(4 * 1024 ** 3)",
}
for what, program in programs.items():
    r = run_program(program, timeout=2.0, memory_mb=256)
    detail = r.blocked or r.stdout.strip() or r.stderr.strip().splitlines()[-1][:60]
    print(f"{what:27s} {r.status:8s} {r.seconds:5.2f} s  {detail}")
assert not os.path.exists(outside)

# %% [markdown]
# The file was never written, no connection was opened, the loop was killed at the time limit and the 4 GB
# allocation failed against the 256 MB limit. Inside its own folder a program may do what it likes, so tests that
# write scratch files still work.
#
# **What this sandbox does not do** (read the module's docstring for the full list): an audit hook runs in the
# same interpreter as the program, so determined code can get around it; a program can still *read* any file
# your user can read and print it; Windows gets only the time limit and the hook. It is a seat belt for
# honest mistakes of a small model, not a wall against an adversary. For code from anyone you do not trust, run
# it in a container or a virtual machine with no network.

# %% [markdown]
# ## 5. Does it work? Function completion and pass@k
#
# HumanEval (Chen et al. 2021) measures code models like this: give the model a function's signature and
# docstring, let it write the body, and run hidden tests. `genlib.data.code_tasks` holds 32 such tasks in the
# same form, from `add(a, b)` to `word_counts(text)`. Each has a reference body that passes its tests (checked
# here, in the sandbox) and tests that a body returning `None` fails.

# %%
tasks = code_tasks()
print(len(tasks), "tasks, e.g.\n")
print(tasks[0].prompt + tasks[0].reference)
print(tasks[0].tests)
assert all(run_tests(t.prompt + t.reference, t.tests).ok for t in tasks[:4])

# %% [markdown]
# **The prompt boundary.** The prompt ends with the docstring's closing `"""` and a newline. But in the model's
# training text a newline followed by indentation is *one* token (`'\n   '`, then `' return'`), so a prompt that
# ends in a bare `'\n'` token is something the model has rarely seen: ours answers it by ending the function at
# once, with an empty body. We stop the prompt before that newline and let the model write it: the same text,
# split the way training split it.

# %%
print([tok.decode([i]) for i in tok.encode('    """Return the sum of a and b."""\n    return a + b\n')][-6:])
bare = codegen.sample_functions(model, tok, 5, 0.2, max_new_tokens=40, prompt="\n\n" + tasks[0].prompt, seed=0)
print("bodies written after a prompt that ends in '\\n':", [s[len(tasks[0].prompt):][:20] for s, _ in bare])

# %% [markdown]
# **pass@k.** Draw n samples per task and count the c that pass. pass@k is the chance that at least one of k
# samples passes; estimating it as `1 - (1 - c/n)^k` is biased. Chen et al. count instead how many k-subsets of
# the n samples contain a pass: pass@k = 1 − C(n−c, k) / C(n, k). Write it, and check it against a brute-force
# count over every subset and against `genlib.text.passk`, which uses the overflow-free product form.

# %%
def my_pass_at_k(n, c, k):
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


from itertools import combinations
outcomes = [True] * 3 + [False] * 7  # n = 10 samples, c = 3 pass
for k in (1, 2, 5):
    subsets = list(combinations(outcomes, k))
    brute = sum(any(s) for s in subsets) / len(subsets)
    assert abs(my_pass_at_k(10, 3, k) - brute) < 1e-12 and abs(pass_at_k(10, 3, k) - brute) < 1e-12
    print(f"n=10, c=3: pass@{k} = {brute:.3f} (every subset counted); the naive 1-(1-c/n)^k gives {1 - 0.7 ** k:.3f}")
assert abs(pass_at_k(200, 13, 10) - my_pass_at_k(200, 13, 10)) < 1e-12

# %% [markdown]
# Now the model. For each task we draw N = 20 completions at temperature 0.8 (and one greedy completion), cut
# each where the function ends, and run the ones that parse in the sandbox with the task's tests; one that does
# not parse fails without running. Identical programs are run once.

# %%
N_TASK, TASK_T = 20, 0.8
results_cache = {}


def passes(task, program):
    if program not in results_cache:
        results_cache[program] = codegen.parses(program) and run_tests(program, task.tests, timeout=2.0).ok
    return results_cache[program]


def complete(task, n, temperature, seed=0):
    prompt = "\n\n" + task.prompt.rstrip("\n")
    return [s for s, _ in codegen.sample_functions(model, tok, n, temperature, max_new_tokens=80,
                                                    prompt=prompt, seed=seed)]


counts, greedy_pass, examples = [], [], {}
for i, task in enumerate(tasks):
    programs_i = complete(task, N_TASK, TASK_T, seed=i)
    ok = [passes(task, p) for p in programs_i]
    counts.append((N_TASK, sum(ok)))
    greedy = complete(task, 1, 0.0)[0]
    greedy_pass.append(passes(task, greedy))
    examples[task.name] = next((p for p, o in zip(programs_i, ok) if o), None)
pass1, pass10 = mean_pass_at_k(counts, 1), mean_pass_at_k(counts, 10)
print(f"code model, T = {TASK_T}, n = {N_TASK} per task: pass@1 = {pass1:.1%}, pass@10 = {pass10:.1%}; "
      f"greedy: {sum(greedy_pass)}/{len(tasks)} tasks")
print(f"{len(results_cache)} distinct programs judged")

# %% [markdown]
# **The baseline.** A number needs something to stand beside. The simplest "model" ignores the prompt and
# writes the body that is most common in the training corpus. Find it with `ast`: every function in the
# training split, its body without the docstring, counted.

# %%
bodies = Counter()
for rel in train_files:
    try:
        tree = ast.parse((stdlib_dir() / rel).read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        continue
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[1:] if (node.body and isinstance(node.body[0], ast.Expr)
                                     and isinstance(node.body[0].value, ast.Constant)
                                     and isinstance(node.body[0].value.value, str)) else node.body
            if body:
                bodies[ast.unparse(ast.Module(body=body, type_ignores=[]))] += 1
print(f"{sum(bodies.values()):,} functions; the most common bodies:")
for body, n in bodies.most_common(4):
    print(f"  {n:5d}  {body!r}")
baseline_body = bodies.most_common(1)[0][0]
baseline_ok = [run_tests(t.prompt + textwrap.indent(baseline_body, "    ") + "\n", t.tests).ok for t in tasks]
baseline_pass = sum(baseline_ok) / len(tasks)  # the same answer every time, so pass@1 = pass@10
print(f"baseline ({baseline_body!r} for every task): pass@1 = pass@10 = {baseline_pass:.1%}")

# %% [markdown]
# The scores are in, and they are zero: not one of the model's 640 sampled functions passes its tests, and the
# greedy ones fail too. What does it write? Here is the start of its first three completions for `add`:

# %%
for program in complete(tasks[0], 3, TASK_T, seed=0):
    body = program[len(tasks[0].prompt.rstrip("\n")):]
    print(repr(body[:120]))
solved = [t.name for t, (_, c) in zip(tasks, counts) if c]
print("tasks solved at least once:", ", ".join(solved) or "none")

# %% [markdown]
# The completions *look* like the standard library (guard clauses, `return None`, `isinstance` checks) and ignore
# what the docstring asks for. The model has learned the surface of Python code, not what code means. That is
# the honest result at this size, and it matches the scale of the literature: Codex's smallest model (12 million
# parameters, three times ours, trained on 159 GB of GitHub Python, ten thousand times our corpus) scored about
# 2% pass@1 on HumanEval; pass@1 rose past 28% only at 12 billion parameters. The machinery here (tasks, hidden
# tests, the sandbox, the unbiased estimator, a baseline) is the same one that measured those models: give it a
# better model and it reports a better number. Exercise 2 asks you to try.

# %%
print(f"pass@1 {pass1:.1%}  pass@10 {pass10:.1%}  greedy {sum(greedy_pass)}/{len(tasks)}  baseline {baseline_pass:.1%}")
assert baseline_pass == 0.0   # every task's tests reject a body that does not compute its answer
if shipped:
    assert pass10 <= 0.05 and not any(greedy_pass), (pass1, pass10)   # the prose above: (almost) nothing passes

# %% [markdown]
# ## Summary
#
# - Code is text: the same GPT and BPE as for Shakespeare, trained on the standard library, writes Python.
# - Temperature trades validity for variety: colder samples parse more often, and nucleus sampling (top-p) cuts
#   the tail of unlikely tokens where many syntax errors start.
# - Generated code runs only in a sandbox: its own process, limits on time and memory, a throw-away folder, and
#   an audit hook that stops network, processes and writes outside the folder. It is a seat belt, not a wall.
# - pass@k with the unbiased estimator, against a baseline, says what parsing cannot: whether the code works.
#   Our 3.7M-parameter model, trained for an hour on a CPU, writes code that looks like the standard library, a
#   third of which parses, and solves none of the 32 tasks: at this size the measuring is the lesson.
#
# **Where to go next.** Real code models add far more data and parameters, fill-in-the-middle training (so
# they can complete code with text on both sides), and feedback from execution (reinforcement learning on test
# results, notebook 08's ideas applied to code).

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. *(warm-up)* Write a program that the sandbox stops because it *deletes* a file outside its folder. Then one
#    that writes a file *inside* its folder and reads it back: does it run?

# %% [markdown] tags=["exercise"]
# 2. *(measure)* Our model scores 0, so build a "model" whose pass@k you know: for every task, 20 candidate
#    programs of which 3 are the reference and 17 are the baseline's body. Run them in the sandbox, compute
#    pass@1 and pass@10 with `mean_pass_at_k`, and compare with what you expect (0.15 and 1 − C(17,10)/C(20,10))
#    and with the naive 1 − (1 − c/n)^k.

# %% [markdown] tags=["exercise"]
# 3. *(open question)* The sandbox stops writes outside the folder but not reads. Write a program that would leak
#    a secret file's contents through its output, and say which layer (process, container, virtual machine) you
#    would add to stop it.

# %% [markdown] tags=["solution"]
# <details><summary>Solution</summary>
#
# 1. ```python
#    print(run_program(f"import os\nos.remove({outside!r})").status)   # 'blocked': os.remove outside
#    print(run_program("open('note.txt', 'w').write('hi')\nprint(open('note.txt').read())").stdout)  # 'hi'
#    ```
# 2. ```python
#    bad = textwrap.indent(baseline_body, "    ") + "\n"
#    c = []
#    for t in tasks:
#        programs = [t.prompt + t.reference] * 3 + [t.prompt + bad] * 17
#        c.append((20, sum(run_tests(p, t.tests).ok for p in programs)))
#    print(mean_pass_at_k(c, 1), mean_pass_at_k(c, 10), 1 - math.comb(17, 10) / math.comb(20, 10), 1 - 0.85 ** 10)
#    ```
#    pass@1 = 0.15 and pass@10 = 0.895 (the chance that 10 of the 20 include one of the 3 good ones); the naive
#    formula says 0.803, because it pretends the 10 tries are drawn with replacement.
# 3. `print(open('/home/you/.ssh/id_rsa').read())` (any file your user can read, by its full path: the sandbox
#    sets HOME to the throw-away folder, so `~` would not find it) prints it, and the output comes back to you. Run untrusted code in a container or virtual machine that mounts only the
#    program's folder and has no network (e.g. `docker run --network none --read-only -v $PWD:/work ...`), so
#    there are no secrets to read.
# </details>
