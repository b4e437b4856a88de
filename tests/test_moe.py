"""Mixture of experts: routing, gates, capacity, the load-balancing loss, and an MoE GPT that trains and decodes."""
import pytest
import torch
import torch.nn.functional as F

from genlib.text.decoding import generate
from genlib.text.gpt import GPT, MLP, GPTConfig
from genlib.text.moe import MoE, active_params, moe_aux_loss, total_params


def _config(**kw) -> GPTConfig:
    return GPTConfig(**{**dict(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=16, n_expert=4), **kw})


def _moe(seed: int = 0, **kw) -> MoE:
    torch.manual_seed(seed)
    return MoE(_config(**kw))


def _route_all_to(moe: MoE, experts: list[int]) -> None:
    """Make the router prefer `experts` (in that order) for any input with positive entries."""
    with torch.no_grad():
        moe.router.weight.zero_()
        for rank, e in enumerate(experts):
            moe.router.weight[e] = 1.0 - 0.1 * rank


def test_one_expert_with_top1_and_no_capacity_is_exactly_the_dense_mlp():
    config = _config(n_expert=1, expert_top_k=1, capacity_factor=None)
    torch.manual_seed(0)
    dense, moe = MLP(config), MoE(config)
    moe.experts[0].load_state_dict(dense.state_dict())
    x = torch.randn(3, 7, 16)
    for mode in (False, True):  # eval and train (no dropout here)
        dense.train(mode), moe.train(mode)
        assert torch.equal(moe(x), dense(x))
    assert moe.last_counts.tolist() == [21] and moe.aux_loss.item() == 1.0


def test_tokens_over_capacity_get_exactly_zero_output_first_come_first_served():
    moe = _moe(n_expert=2, expert_top_k=1, capacity_factor=0.25).train()
    _route_all_to(moe, [0])
    x = torch.rand(2, 8, 16) + 0.1                            # 16 tokens, all routed to expert 0
    assert moe.capacity(16) == 2                              # ceil(0.25 * 16 tokens * k=1 / 2 experts)
    out = moe(x).reshape(16, 16)
    assert moe.last_counts.tolist() == [16, 0] and moe.last_dropped.tolist() == [14, 0]
    assert torch.equal(out[2:], torch.zeros(14, 16))           # dropped: zero, so the residual carries them
    p0 = torch.softmax(moe.router(x.reshape(16, 16)[:2]), -1)[:, :1]
    torch.testing.assert_close(out[:2], p0 * moe.experts[0](x.reshape(16, 16)[:2]))
    assert (out[:2].abs().sum(-1) > 0).all()
    moe.eval()                                                # eval mode drops nothing
    assert (moe(x).reshape(16, 16).abs().sum(-1) > 0).all() and moe.last_dropped.sum() == 0


def test_top2_gates_sum_to_one_and_top1_gate_is_the_router_probability():
    x = torch.randn(4, 5, 16)
    for k in (1, 2):
        moe = _moe(expert_top_k=k, capacity_factor=None).eval()
        with torch.no_grad():
            moe.router.weight.normal_()                            # a confident, uneven router
        for expert in moe.experts[1:]:                             # identical experts: output = sum(gates) * E(x)
            expert.load_state_dict(moe.experts[0].state_dict())
        with torch.no_grad():
            out, single = moe(x), moe.experts[0](x)
            probs = moe.router(x).softmax(-1)
        if k == 2:
            torch.testing.assert_close(out, single)                # Mixtral: the two gates sum to 1
        else:
            torch.testing.assert_close(out, probs.max(-1).values[..., None] * single)  # Switch: gate = p
            assert probs.max() < 1


def test_top2_output_is_the_gate_weighted_sum_of_the_two_chosen_experts():
    moe = _moe(capacity_factor=None).eval()
    x = torch.randn(6, 16)
    with torch.no_grad():
        out = moe(x)
        probs = moe.router(x).softmax(-1)
        expected = torch.zeros_like(x)
        for t in range(6):
            p, e = probs[t].topk(2)
            for j in range(2):
                expected[t] += p[j] / p.sum() * moe.experts[e[j]](x[t])
    torch.testing.assert_close(out, expected)
    assert moe.last_counts.sum() == 12


def test_aux_loss_is_one_for_even_routing_and_larger_when_one_expert_takes_everything():
    x = torch.rand(8, 16) + 0.1
    for k in (1, 2):
        uniform = _moe(expert_top_k=k)
        with torch.no_grad():
            uniform.router.weight.zero_()                           # every probability exactly 1/4
        uniform(x)
        assert abs(uniform.aux_loss.item() - 1.0) < 1e-6

        balanced = _moe(expert_top_k=k)                  # token j: expert j % 4 first, then (j + 1) % 4, all alike
        with torch.no_grad():
            balanced.router.weight.zero_()
            balanced.router.weight[:, :4] = 3 * torch.eye(4) + torch.eye(4).roll(1, 0)
        balanced(torch.eye(16)[torch.arange(8) % 4])
        assert balanced.last_counts.tolist() == [2 * k] * 4
        assert abs(balanced.aux_loss.item() - 1.0) < 1e-6

        skewed = _moe(expert_top_k=k)
        _route_all_to(skewed, [0, 1])
        with torch.no_grad():
            skewed.router.weight *= 20
        skewed(x)
        probs = skewed.router(x).softmax(-1).mean(0)
        assert skewed.aux_loss.item() > 1.5
        expected = 4 * probs[0] if k == 1 else 4 * 0.5 * (probs[0] + probs[1])
        torch.testing.assert_close(skewed.aux_loss, expected)


@pytest.mark.parametrize("k", [1, 2])
def test_the_task_loss_alone_trains_the_router_and_only_the_chosen_experts(k):
    moe = _moe(expert_top_k=k, capacity_factor=None)
    _route_all_to(moe, [2, 0])                                      # experts 2 (and 0 if k=2) are chosen
    x = torch.rand(10, 16) + 0.1
    (moe(x) ** 2).sum().backward()
    assert moe.router.weight.grad.abs().sum() > 0
    chosen = {2} if k == 1 else {2, 0}
    for e, expert in enumerate(moe.experts):
        grads = [p.grad for p in expert.parameters()]
        if e in chosen:
            assert all(g is not None and g.abs().sum() > 0 for g in grads), e
        else:
            assert all(g is None for g in grads), e


def test_moe_gpt_trains_decodes_with_a_cache_and_keeps_dense_keys_apart():
    torch.manual_seed(0)
    model = GPT(_config(n_embd=32, pos="rope", norm="rms"))
    keys = set(model.state_dict())
    assert {"blocks.0.mlp.router.weight", "blocks.1.mlp.experts.3.fc.weight"} <= keys
    assert not any(k.startswith("blocks.0.mlp.fc") for k in keys)
    with pytest.raises(ValueError, match="run a forward pass first"):
        moe_aux_loss(model)
    seq = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9] * 4)
    x = torch.stack([seq[i:i + 16] for i in range(4)])
    y = torch.stack([seq[i + 1:i + 17] for i in range(4)])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        aux = moe_aux_loss(model)
        torch.testing.assert_close(aux, sum(b.mlp.aux_loss for b in model.blocks))
        opt.zero_grad()
        (loss + 0.01 * aux).backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses
    model.eval()
    with torch.no_grad():
        full = model(x)
        caches = model.new_caches()
        pieces = [model(x[:, :5], caches=caches)] + [model(x[:, t:t + 1], caches=caches, start=t) for t in range(5, 16)]
    torch.testing.assert_close(torch.cat(pieces, 1), full, atol=1e-5, rtol=1e-5)
    prompt = x[:2, :3]
    assert torch.equal(generate(model, prompt, 20, temperature=0, use_cache=True),
                       generate(model, prompt, 20, temperature=0, use_cache=False))


def test_active_and_total_parameters_and_the_dense_models_that_match_them():
    c = _config(n_embd=32, n_expert=4, expert_top_k=2, mlp_ratio=4)
    moe_gpt, dense = GPT(c), GPT(_config(n_embd=32, n_expert=0))
    expert, router = 2 * 32 * (4 * 32), 32 * 4                     # fc + proj (no bias), and the router
    assert total_params(moe_gpt) - total_params(dense) == 2 * (3 * expert + router)  # 2 layers, 3 extra experts
    assert total_params(moe_gpt) - active_params(moe_gpt) == 2 * 2 * expert        # 2 idle experts per layer
    assert active_params(dense) == total_params(dense) == sum(p.numel() for p in dense.parameters())
    same_active = GPT(_config(n_embd=32, n_expert=0, mlp_ratio=8))                # 2 experts' worth of MLP
    same_total = GPT(_config(n_embd=32, n_expert=0, mlp_ratio=16))                # 4 experts' worth
    assert active_params(moe_gpt) - total_params(same_active) == 2 * router
    assert total_params(moe_gpt) - total_params(same_total) == 2 * router
    assert moe_aux_loss(dense).item() == 0.0


def test_moe_runs_under_bfloat16_autocast():
    torch.manual_seed(0)
    model = GPT(_config(pos="rope")).train()
    x = torch.randint(11, (2, 16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = F.cross_entropy(model(x).flatten(0, 1).float(), x.flatten()) + 0.01 * moe_aux_loss(model)
    loss.backward()
    assert loss.isfinite() and model.blocks[0].mlp.router.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("kw, message", [
    (dict(n_expert=1), r"expert_top_k=2 needs at least that many experts, got n_expert=1"),
    (dict(expert_top_k=3), r"expert_top_k must be 1 \(Switch\) or 2 \(Mixtral\), got 3"),
    (dict(capacity_factor=0), r"capacity_factor must be > 0 .* or None"),
    (dict(n_expert=-1), r"n_expert must be an int >= 0 \(0 = a dense MLP\)"),
])
def test_bad_moe_settings_are_refused_with_the_fix(kw, message):
    with pytest.raises(ValueError, match=message):
        _config(**kw)
    with pytest.raises(ValueError, match="MoE needs n_expert >= 1"):
        MoE(_config(n_expert=0))


def test_expert_usage_and_the_balancing_loss_in_pretraining():
    from genlib.text.moe import expert_usage
    from genlib.text.pretrain import Recipe, make_optimizers, pretrain
    data = torch.randint(11, (2000,), generator=torch.Generator().manual_seed(0))
    x = data[:64].view(4, 16)
    aux = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        model = GPT(_config(expert_top_k=1))
        recipe = Recipe(batch_size=8, block_size=16, lr=1e-2, muon_lr=1e-2, optimizer="muon")
        pretrain(model, data, recipe, steps=40, progress=False, aux_loss_weight=weight)
        usage = expert_usage(model, x)
        assert usage.shape == (2, 4) and torch.allclose(usage.sum(1), torch.ones(2))
        model.eval()
        model(x)
        aux[weight] = moe_aux_loss(model).item()
        if weight:
            assert usage.max() < 0.35    # balanced: every expert near 1/4 of the choices
    # two layers, each 1.0 when even: without the loss one expert took most tokens (2.60 when measured)
    assert aux[1.0] < 2.1 < 2.4 < aux[0.0]
    adam, muon = make_optimizers(model, Recipe(optimizer="muon"))
    assert id(model.blocks[0].mlp.router.weight) not in {id(p) for g in muon.param_groups for p in g["params"]}
    with pytest.raises(ValueError, match="no mixture-of-experts layer"):
        expert_usage(GPT(_config(n_expert=0)), x)
