# %% [markdown]
# # 02 · Neural nets and gradient descent
#
# **The idea:** every model from notebook 03 on is a neural network whose numbers (parameters) are set by
# **gradient descent**: measure how wrong the model is (the *loss*), find which way each parameter should
# move to make it less wrong (the *gradient*, computed by **backpropagation**), take a small step, repeat.
#
# **Learning objectives.** After this notebook you can
# - run gradient descent by hand and say what the learning rate does;
# - build a tiny automatic-differentiation engine (backpropagation on scalars) and check it against `torch.autograd`;
# - train an MLP classifier on MNIST with the course's training loop, `genlib.train`, and read its curves;
# - recognise a learning rate that is too small, about right, and too large from the loss curve.
#
# **Prerequisites.** Notebooks 00–01; the derivative of a function of one variable; the chain rule.
#
# **Estimated time.** 60 minutes; about 40 seconds to run on a laptop CPU.

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
import torch.nn.functional as F
import matplotlib.pyplot as plt
from torch import nn
from genlib.device import describe, get_device, pick, seed_everything
from genlib.data import load_mnist
from genlib.image import MLP
from genlib.train import train, cosine_lr
from genlib import viz

seed_everything(0)
device = get_device()
print(describe())


# %% [markdown]
# ## 1. Gradient descent on one number
#
# Take the loss L(w) = (w − 3)². Its derivative is dL/dw = 2(w − 3): positive when w is too big, negative when
# too small. Gradient descent repeats w ← w − η · dL/dw, where η is the **learning rate**. The only question
# is how big a step to take.

# %%
def descend(lr, w=-2.0, steps=15):
    path = [w]
    for _ in range(steps):
        w = w - lr * 2 * (w - 3)
        path.append(w)
    return path

fig, ax = plt.subplots(figsize=(6, 3.5))
for lr in (0.05, 0.3, 0.9, 1.05):
    ax.plot(descend(lr), marker=".", label=f"learning rate {lr}")
ax.axhline(3, color="k", lw=0.8, ls="--")
ax.set(title="Gradient descent on L(w) = (w − 3)²", xlabel="step", ylabel="w", ylim=(-12, 14))
ax.legend(); ax.grid(alpha=0.3); plt.show()
assert abs(descend(0.3)[-1] - 3) < 1e-3 and abs(descend(1.05)[-1] - 3) > abs(descend(1.05)[0] - 3)


# %% [markdown]
# Too small (0.05) crawls; 0.3 arrives; 0.9 overshoots back and forth but settles; above 1.0 every step
# overshoots by more than it corrects, and w flies off. Real networks have millions of parameters, but these
# three behaviours are exactly what we will see again on MNIST.
#
# ## 2. Backpropagation, built by hand
#
# For a network we need the derivative of the loss with respect to *every* parameter. Backpropagation gets
# them all in one backward sweep: each operation records its inputs and how to pass a gradient back to them
# (the chain rule), and we visit operations from the output back to the inputs. Here is a complete scalar
# version — in the spirit of Karpathy's *micrograd* — in about thirty lines.

# %%
class Value:
    """A number that remembers how it was computed, so it can send gradients back to its inputs."""
    def __init__(self, data, parents=(), backward=lambda: None):
        self.data, self.grad, self._parents, self._backward = float(data), 0.0, parents, backward

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other))
        def backward():
            self.grad += out.grad                      # d(a+b)/da = 1
            other.grad += out.grad
        out._backward = backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other))
        def backward():
            self.grad += other.data * out.grad         # d(ab)/da = b
            other.grad += self.data * out.grad
        out._backward = backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,))
        def backward():
            self.grad += (1 - t * t) * out.grad        # d tanh(a)/da = 1 - tanh(a)^2
        out._backward = backward
        return out

    def __pow__(self, k):
        out = Value(self.data ** k, (self,))
        def backward():
            self.grad += k * self.data ** (k - 1) * out.grad
        out._backward = backward
        return out

    __radd__, __rmul__ = __add__, __mul__
    def __neg__(self): return self * -1
    def __sub__(self, other): return self + (-other)

    def backward(self):
        order, seen = [], set()
        def visit(v):                                  # topological order: inputs before outputs
            if id(v) not in seen:
                seen.add(id(v))
                for p in v._parents:
                    visit(p)
                order.append(v)
        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()


# %% [markdown]
# **Prove it.** The same expression in our `Value` and in PyTorch must give the same gradients.

# %%
a, b, c = Value(0.7), Value(-1.3), Value(2.0)
out = ((a * b + c).tanh() * a - b ** 2) * c
out.backward()

ta, tb, tc = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.7, -1.3, 2.0))
tout = ((ta * tb + tc).tanh() * ta - tb ** 2) * tc
tout.backward()
for mine, ref in [(out.data, tout.item()), (a.grad, ta.grad.item()), (b.grad, tb.grad.item()), (c.grad, tc.grad.item())]:
    assert abs(mine - ref) < 1e-9, (mine, ref)
print(f"value {out.data:.6f}; gradients a {a.grad:.6f}, b {b.grad:.6f}, c {c.grad:.6f} — identical to torch.autograd")

# %% [markdown]
# ## 3. A neuron, a layer, a network
#
# A neuron computes tanh(w · x + b). A layer is several neurons side by side; an MLP (multilayer perceptron)
# is layers in sequence. We fit a tiny 1 → 8 → 1 network to ten points of a sine wave, with nothing but our
# `Value` class and the update rule from section 1.

# %%
import random
random.seed(0)
xs = [i / 4.5 - 1 for i in range(10)]
ys = [math.sin(3 * x) for x in xs]
W1 = [Value(random.uniform(-1, 1)) for _ in range(8)]; B1 = [Value(0.0) for _ in range(8)]
W2 = [Value(random.uniform(-1, 1)) for _ in range(8)]; B2 = Value(0.0)
params = W1 + B1 + W2 + [B2]

def net(x):
    hidden = [(w * x + b).tanh() for w, b in zip(W1, B1)]
    return sum((w * h for w, h in zip(W2, hidden)), B2)

losses = []
for step in range(300):
    loss = sum(((net(x) - y) ** 2 for x, y in zip(xs, ys)), Value(0.0)) * (1 / len(xs))
    for p in params:
        p.grad = 0.0
    loss.backward()
    for p in params:
        p.data -= 0.2 * p.grad
    losses.append(loss.data)
print(f"mean squared error: {losses[0]:.3f} at the start, {losses[-1]:.4f} after 300 steps")
assert losses[-1] < 0.1 * losses[0]

grid = [i / 50 - 1.1 for i in range(111)]
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(grid, [net(x).data for x in grid], label="network after 300 steps")
ax.scatter(xs, ys, color="k", zorder=3, label="training points")
ax.set(title="A 1→8→1 network trained with our own backprop", xlabel="x", ylabel="y"); ax.legend(); plt.show()

# %% [markdown]
# The same network in PyTorch is a few lines, and — given the same weights — computes the same gradients.
# From here on we let PyTorch do the bookkeeping: it is the same algorithm, run on whole tensors at once.

# %%
torch_net = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1)).double()
with torch.no_grad():
    torch_net[0].weight.copy_(torch.tensor([[w.data] for w in W1])); torch_net[0].bias.copy_(torch.tensor([b.data for b in B1]))
    torch_net[2].weight.copy_(torch.tensor([[w.data for w in W2]])); torch_net[2].bias.fill_(B2.data)

loss = sum(((net(x) - y) ** 2 for x, y in zip(xs, ys)), Value(0.0)) * (1 / len(xs))
for p in params:
    p.grad = 0.0
loss.backward()
tx, ty = torch.tensor(xs, dtype=torch.float64)[:, None], torch.tensor(ys, dtype=torch.float64)[:, None]
F.mse_loss(torch_net(tx), ty).backward()
torch.testing.assert_close(torch_net[0].weight.grad.squeeze(1), torch.tensor([w.grad for w in W1], dtype=torch.float64))
torch.testing.assert_close(torch_net[2].weight.grad.squeeze(0), torch.tensor([w.grad for w in W2], dtype=torch.float64))
print("our scalar backprop and torch.autograd agree on every weight's gradient")

# %% [markdown]
# ## 4. An MNIST classifier, and the course's training loop
#
# Now a real task: 784 pixels in, 10 digit scores out. The loss is the **cross-entropy**: minus the log of the
# probability the network gives the right digit. Each step uses a random **mini-batch** of 128 images, not all
# 9,000 — a noisy but cheap estimate of the gradient. Here is the whole training loop, written out.

# %%
x_train, y_train = load_mnist("train")
x_val, y_val = load_mnist("val")
x_train, y_train, x_val, y_val = (t.to(device) for t in (x_train, y_train, x_val, y_val))

def get_batch(generator, batch_size=128):
    idx = torch.randint(len(x_train), (batch_size,), generator=generator).to(device)
    return x_train[idx], y_train[idx]

def loss_fn(model, batch):
    images, labels = batch
    return F.cross_entropy(model(images), labels)

def my_train(model, steps, lr, seed=0):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = loss_fn(model, get_batch(g))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


# %% [markdown]
# `genlib.train.train` is this loop plus a progress bar, periodic evaluation, a loss history and optional
# checkpointing. **Prove it** is the same loop: from the same starting weights and the same batches, both
# end at the same weights.

# %%
torch.manual_seed(0); a = MLP([784, 64, 10]).to(device)
torch.manual_seed(0); b = MLP([784, 64, 10]).to(device)
my_train(a, steps=20, lr=1e-3)
g = torch.Generator().manual_seed(0)
train(b, loss_fn, lambda: get_batch(g), steps=20, lr=1e-3, progress=False)
for pa, pb in zip(a.parameters(), b.parameters()):
    torch.testing.assert_close(pa, pb)
print("hand-written loop == genlib.train.train (same weights after 20 steps)")


# %% [markdown]
# Now a proper run with `genlib.train`, evaluating accuracy on the 1,000 validation digits as it goes. The learning rate warms up and then decays along a cosine; section 5 explains why.

# %%
def accuracy(model):
    with torch.no_grad():
        return (model(x_val).argmax(1) == y_val).float().mean().item()

def evaluate(model):
    return {"val_loss": F.cross_entropy(model(x_val), y_val).item(), "val_acc": accuracy(model)}

steps = pick(800, 3000)
torch.manual_seed(0)
mlp = MLP([784, 256, 10]).to(device)
g = torch.Generator().manual_seed(0)
schedule = lambda p: cosine_lr(p, warmup=50 / steps, min_ratio=0.05)   # p = share of the budget used (section 5)
history = train(mlp, loss_fn, lambda: get_batch(g), steps=steps, lr=3e-3, lr_schedule=schedule,
                eval_fn=evaluate, eval_every=100)
print(f"{sum(p.numel() for p in mlp.parameters()):,} parameters; validation accuracy {history.evals[-1]['val_acc']:.1%}")
assert history.evals[-1]["val_acc"] > 0.945

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
viz.loss_curves({"train (batch)": history.loss, "validation": (history.eval_steps, history.eval_series("val_loss"))},
                title="MLP on MNIST: cross-entropy", ylabel="loss (nats)", window=20, ax=axes[0])
viz.loss_curves({"validation accuracy": (history.eval_steps, history.eval_series("val_acc"))},
                title="Validation accuracy", ylabel="accuracy", ax=axes[1])
plt.show()

# %% [markdown]
# The training loss (smoothed over 20 steps) and the validation loss fall together, and accuracy on digits
# the network never saw reaches about 95%. Which digits fool it?

# %%
with torch.no_grad():
    pred = mlp(x_val).argmax(1)
wrong = (pred != y_val).nonzero().squeeze(1)[:16]
viz.show_images(x_val[wrong].cpu(), nrow=16, title="Misclassified: " + " ".join(f"{int(y)}→{int(p)}" for y, p in zip(y_val[wrong], pred[wrong])))
plt.show()

# %% [markdown]
# ## 5. The learning-rate story, on a real network
#
# Plain stochastic gradient descent (SGD, the update rule of section 1) on the same MLP, with four learning
# rates and everything else equal. A loss that becomes infinite or NaN is reported by `genlib.train` as an
# error that says what to do, which we catch here to record *when* it diverged.

# %%
lr_runs, lr_acc = {}, {}
for lr in (0.003, 0.1, 1.0, 5.0):
    torch.manual_seed(0)
    model = MLP([784, 256, 10]).to(device)
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    try:
        h = train(model, loss_fn, lambda: get_batch(g), steps=300, optimizer=opt, progress=False)
        lr_runs[f"lr {lr}"], lr_acc[lr] = h.loss, accuracy(model)
    except FloatingPointError as err:
        lr_acc[lr] = float("nan")
        print(f"lr {lr}: diverged — {str(err).split(':')[0]}")
for lr, acc in lr_acc.items():
    print(f"SGD lr {lr:<6}: validation accuracy {acc:.1%}")
viz.loss_curves(lr_runs, title="SGD on MNIST at four learning rates", ylabel="training loss (nats)", window=10, logy=True)
plt.show()
assert lr_acc[0.1] > lr_acc[0.003] and not lr_acc[5.0] > lr_acc[0.1]

# %% [markdown]
# The smallest rate is still at the top of its curve after 300 steps; 0.1 and 1.0 learn quickly (the larger
# one is noisier); 5.0 overshoots so far that the loss explodes. Same three regimes as the one-number example.
#
# **Schedules.** Large models usually *warm up* (start with a small rate while the weights are random) and
# then *decay* the rate so the last steps make fine adjustments. `genlib.train.cosine_lr` is the schedule
# used by GPT-style training in notebook 06; `train(..., lr_schedule=...)` applies it. A schedule is a function of
# *progress*, the share of the training budget used (0 at the start, 1 at the end), so the same schedule fits a run
# of 300 steps, of 30,000, or of ten minutes.

# %%
total = 1000
viz.loss_curves({"warm-up 10%, cosine decay to 10%": [cosine_lr(s / total, warmup=0.1) for s in range(total)]},
                title="A learning-rate schedule", ylabel="multiplier of the base learning rate")
plt.show()

# %% [markdown]
# ## Summary
#
# - Gradient descent moves each parameter against its gradient; the learning rate sets the step. Too small
#   crawls, too large diverges — on one number and on a 200,000-parameter network alike.
# - Backpropagation is the chain rule applied from the output back: our 30-line `Value` class gives exactly
#   `torch.autograd`'s gradients.
# - `genlib.train.train` is the loop we wrote (proved step for step) plus progress, evaluation and
#   checkpoints; an MLP trained with it classifies held-out MNIST digits with more than 95% accuracy.

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# 1. *(easy)* Add a `relu` method to `Value` (derivative 1 for positive inputs, 0 otherwise) and check its
#    gradient against `torch.relu`.

# %% tags=["exercise"]
# Exercise 1: write relu(self) for Value (data max(0, x); backward passes the gradient only where x > 0),
# attach it with Value.relu = relu, and compare its gradient with torch.relu's at a negative and a positive input.

# %% [markdown] tags=["exercise"]
# 2. *(change the code)* Train the MNIST MLP with a hidden layer of 32 instead of 256 units, and with two
#    hidden layers of 256. Compare validation accuracy and parameter counts.

# %% tags=["exercise"]
# Exercise 2: train MLP([784, 32, 10]) and MLP([784, 256, 256, 10]) as the 256-unit model was trained above,
# and print each one's parameter count and validation accuracy.

# %% [markdown] tags=["exercise"]
# 3. *(open question)* Mini-batch gradients are noisy. Why might some noise *help* a network generalize,
#    and what would you expect from using all 9,000 images in every step?

# %% [markdown] tags=["solution"]
# <details><summary>Solutions</summary>
#
# 1. ```python
#    def relu(self):
#        out = Value(max(0.0, self.data), (self,))
#        def backward():
#            self.grad += (self.data > 0) * out.grad
#        out._backward = backward
#        return out
#    Value.relu = relu
#    v = Value(-0.5); (v.relu() * 3).backward(); print(v.grad)   # 0.0, as torch.relu gives
#    ```
# 2. `MLP([784, 32, 10])` has about 25k parameters and reaches a little lower accuracy; `MLP([784, 256, 256, 10])`
#    has about 270k and gains little on 9,000 images — the data, not the network, is the limit here.
# 3. Noise keeps the weights from settling into a sharp minimum that fits the training set's quirks;
#    full-batch steps follow the exact training gradient, each step costs 70× more, and the result tends to
#    generalize no better. The trade-off between batch size, learning rate and noise returns in notebook 06.
# </details>
