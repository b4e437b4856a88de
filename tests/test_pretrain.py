"""The GPT training pieces: the schedule, Muon, the loss estimator, the budgeted loop."""
import math
from dataclasses import replace

import pytest
import torch

from genlib.text.gpt import GPT, GPTConfig
from genlib.text.lm import evaluate_loss, fixed_batches, random_batch, sequential_batches
from genlib.text.muon import Muon, orthogonalize
from genlib.text.pretrain import Recipe, lr_multiplier, make_optimizers, pretrain


def test_random_batch_targets_are_inputs_shifted_by_one():
    data = torch.arange(100)
    x, y = random_batch(data, 8, 4, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 8)
    assert torch.equal(y, x + 1)


def test_fixed_batches_are_the_same_every_call():
    data = torch.arange(1000)
    a, b = fixed_batches(data, 16, 4, 3), fixed_batches(data, 16, 4, 3)
    assert all(torch.equal(p[0], q[0]) for p, q in zip(a, b))


def test_sequential_batches_cover_every_token_once():
    data = torch.arange(1001)
    batches = sequential_batches(data, 10, 7)
    xs = torch.cat([x.flatten() for x, _ in batches])
    assert torch.equal(xs, torch.arange(1000))
    with pytest.raises(ValueError, match="block_size"):
        sequential_batches(torch.arange(5), 10)


def test_evaluate_loss_of_uniform_model_is_log_vocab():
    V = 13
    uniform = lambda x: torch.zeros(*x.shape, V)  # noqa: E731
    batches = fixed_batches(torch.randint(V, (500,), generator=torch.Generator().manual_seed(0)), 8, 4, 2)
    assert evaluate_loss(uniform, batches) == pytest.approx(math.log(V), rel=1e-6)


def test_schedules_warm_up_and_end_where_told():
    cos = Recipe(warmup=0.1, min_lr_ratio=0.1)
    wsd = Recipe(warmup=0.1, schedule="wsd", cooldown=0.4, min_lr_ratio=0.0)
    assert lr_multiplier(0.05, cos) == pytest.approx(0.5)
    assert lr_multiplier(0.1, cos) == pytest.approx(1.0)
    assert lr_multiplier(1.0, cos) == pytest.approx(0.1)
    assert lr_multiplier(0.5, wsd) == 1.0 and lr_multiplier(0.8, wsd) == pytest.approx(0.5)
    assert lr_multiplier(1.0, wsd) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="schedule"):
        Recipe(schedule="linear")


def test_orthogonalize_pushes_singular_values_towards_one():
    gen = torch.Generator().manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(64, 64, generator=gen))
    v, _ = torch.linalg.qr(torch.randn(192, 64, generator=gen))
    g = u @ torch.diag(torch.logspace(-1.5, 1, 64)) @ v.T         # singular values from 0.03 to 10
    s = torch.linalg.svdvals(orthogonalize(g))
    assert s.min() > 0.5 and s.max() < 1.3
    tall = orthogonalize(g.T)
    torch.testing.assert_close(tall, orthogonalize(g).T)


@pytest.mark.skipif(not hasattr(torch.optim, "Muon"), reason="torch.optim.Muon needs torch >= 2.9")
def test_muon_matches_torch_muon():
    torch.manual_seed(0)
    w1 = torch.nn.Parameter(torch.randn(32, 48))
    w2 = torch.nn.Parameter(w1.detach().clone())
    w0 = w1.detach().clone()
    ours = Muon([w1], lr=0.01, weight_decay=0.1)
    ref = torch.optim.Muon([w2], lr=0.01, weight_decay=0.1, adjust_lr_fn="match_rms_adamw")
    for step in range(3):
        grad = torch.randn(32, 48, generator=torch.Generator().manual_seed(step))
        w1.grad, w2.grad = grad.clone(), grad.clone()
        ours.step(), ref.step()
    ours_step, ref_step = (w1 - w0).detach(), (w2 - w0).detach()
    # torch orthogonalizes in bfloat16, we in float32: the updates agree up to bfloat16 rounding
    assert (ours_step - ref_step).norm() / ref_step.norm() < 0.03


def test_muon_refuses_vectors():
    with pytest.raises(ValueError, match="2-D"):
        Muon([torch.nn.Parameter(torch.zeros(5))])


def test_muon_recipe_puts_block_matrices_on_muon_and_the_rest_on_adamw():
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16))
    adam, muon = make_optimizers(model, Recipe(optimizer="muon"))
    on_muon = {id(p) for g in muon.param_groups for p in g["params"]}
    on_adam = {id(p) for g in adam.param_groups for p in g["params"]}
    assert id(model.tok_emb.weight) in on_adam and id(model.blocks[0].attn.qkv.weight) in on_muon
    assert on_muon.isdisjoint(on_adam) and len(on_muon | on_adam) == len(list(model.parameters()))


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_pretrain_lowers_the_loss_on_a_repeating_text(optimizer):
    torch.manual_seed(0)
    data = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7] * 200)
    model = GPT(GPTConfig(vocab_size=8, block_size=16, n_layer=1, n_head=2, n_embd=32))
    batches = fixed_batches(data, 16, 8, 2)
    before = evaluate_loss(model, batches)
    recipe = Recipe(batch_size=8, block_size=16, lr=1e-2, muon_lr=1e-2, optimizer=optimizer)
    hist = pretrain(model, data, recipe, steps=60, progress=False)
    assert len(hist.steps) == 60 and hist.lr[-1] == pytest.approx(1e-2 * lr_multiplier(59 / 60, recipe))
    assert evaluate_loss(model, batches) < 0.2 < before


def test_pretrain_stops_on_a_time_budget():
    data = torch.randint(5, (500,))
    model = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=1, n_embd=8))
    hist = pretrain(model, data, Recipe(batch_size=2, block_size=8), seconds=0.5, progress=False)
    assert 0.5 <= hist.seconds < 5 and len(hist.steps) > 1
    with pytest.raises(ValueError, match="budget"):
        pretrain(model, data, Recipe(), progress=False)


def test_loss_by_position_of_a_uniform_model_is_log_vocab_everywhere():
    from genlib.text.lm import loss_by_position
    data = torch.randint(7, (300,))
    curve = loss_by_position(lambda x: torch.zeros(*x.shape, 7), data, 50, n_windows=4)
    assert curve.shape == (50,) and torch.allclose(curve, torch.full((50,), math.log(7)))
    with pytest.raises(ValueError, match="need at least 301"):
        loss_by_position(lambda x: torch.zeros(*x.shape, 7), data, 300)


def test_recipe_options_change_what_they_say():
    """The race's candidate changes: QK-norm, ReLU², zero-initialised projections, an untied head, bf16 autocast."""
    base = GPTConfig(vocab_size=11, block_size=12, n_layer=2, n_head=2, n_embd=16, pos="rope", norm="rms")
    x = torch.randint(11, (2, 12), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    zero = GPT(replace(base, zero_init_proj=True))
    with torch.no_grad():  # every block starts as the identity: logits = head(norm(embedding))
        torch.testing.assert_close(zero(x), zero.head(zero.norm(zero.tok_emb(x))))
    untied, tied = GPT(replace(base, tie_embeddings=False)), GPT(base)
    assert untied.head.weight is not untied.tok_emb.weight and tied.head.weight is tied.tok_emb.weight
    assert untied.num_params() == tied.num_params() + 11 * 16
    qk = GPT(replace(base, qk_norm=True))
    assert qk.num_params() == tied.num_params() + 2 * 2 * 8  # a gain per channel of q and k in each layer
    with torch.no_grad():  # the cached path normalises keys the same way
        caches = qk.new_caches()
        pieces = [qk(x[:, :4], caches=caches, start=0)] + [qk(x[:, t:t + 1], caches=caches, start=t)
                                                          for t in range(4, 12)]
        torch.testing.assert_close(torch.cat(pieces, 1), qk(x), atol=1e-5, rtol=1e-5)
    relu2 = GPT(replace(base, activation="relu2"))
    h = torch.randn(3, 16)
    mlp = relu2.blocks[0].mlp
    torch.testing.assert_close(mlp(h), mlp.proj(torch.relu(mlp.fc(h)) ** 2))
    with pytest.raises(ValueError, match="activation"):
        GPTConfig(activation="swish")


def test_bf16_autocast_trains_and_keeps_fp32_weights():
    torch.manual_seed(0)
    data = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7] * 200)
    model = GPT(GPTConfig(vocab_size=8, block_size=16, n_layer=1, n_head=2, n_embd=32))
    batches = fixed_batches(data, 16, 8, 2)
    before = evaluate_loss(model, batches)
    pretrain(model, data, Recipe(batch_size=8, block_size=16, lr=1e-2, bf16=True), steps=60, progress=False)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert evaluate_loss(model, batches) < 0.2 < before
