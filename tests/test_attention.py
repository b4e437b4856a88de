import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genlib.text.attention import (MultiHeadAttention, attention, attention_maps, attention_weights, causal_mask,
                                   sinusoidal_positions)
from genlib.text.gpt import GPT, CausalSelfAttention, GPTConfig, apply_rope, rope_tables


def _tiny_gpt(pos: str, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=16, pos=pos)).eval()


@pytest.mark.parametrize("seed", range(6))
def test_attention_equals_torch_sdpa_with_and_without_causal_mask(seed):
    g = torch.Generator().manual_seed(seed)
    B, H, T, D, Dv = (int(n) for n in torch.randint(1, 9, (5,), generator=g))
    q, k = torch.randn(2, B, H, T, D, generator=g).unbind(0)
    v = torch.randn(B, H, T, Dv, generator=g)
    for causal in (True, False):
        torch.testing.assert_close(attention(q, k, v, causal=causal),
                                   F.scaled_dot_product_attention(q, k, v, is_causal=causal))


def test_attention_with_a_boolean_mask_and_more_keys_than_queries_matches_sdpa():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 4, 8, generator=g)
    k, v = torch.randn(2, 2, 3, 7, 8, generator=g).unbind(0)
    mask = torch.rand(4, 7, generator=g) > 0.3
    mask[:, 0] = True  # every query keeps a key
    torch.testing.assert_close(attention(q, k, v, causal=False, mask=mask),
                               F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    # causal with 3 cached keys: the 4 queries are positions 3..6 and see keys up to themselves
    torch.testing.assert_close(attention(q, k, v), F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(4, 7)))
    assert causal_mask(2, 4).tolist() == [[True, True, True, False], [True, True, True, True]]


def test_causal_weights_are_a_lower_triangular_distribution():
    q, k = torch.randn(2, 5, 4).unbind(0)
    w = attention_weights(q, k)
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert torch.all(w.triu(1) == 0) and w[0, 0] == 1
    torch.testing.assert_close(w.sum(-1), torch.ones(5))


def test_attention_rejects_bad_input_clearly():
    q = torch.randn(3, 4)
    with pytest.raises(ValueError, match="no key to attend"):
        attention(q, q, q, causal=False, mask=torch.tensor([[True] * 3, [False] * 3, [True] * 3]))
    with pytest.raises(ValueError, match="boolean"):
        attention(q, q, q, mask=torch.ones(3, 3))
    with pytest.raises(ValueError, match="same size"):
        attention(q, torch.randn(3, 5), q)
    with pytest.raises(ValueError, match="even d"):
        sinusoidal_positions(4, 5)


def test_sinusoidal_positions_known_values():
    pe = sinusoidal_positions(50, 8)
    assert pe.shape == (50, 8)
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1, 0, 1, 0, 1, 0, 1]))
    assert pe[1, 0].item() == pytest.approx(math.sin(1)) and pe[1, 1].item() == pytest.approx(math.cos(1))
    assert pe[7, 2].item() == pytest.approx(math.sin(7 / 10000 ** (2 / 8)), abs=1e-6)
    assert pe[49, 7].item() == pytest.approx(math.cos(49 / 10000 ** (6 / 8)), abs=1e-6)
    torch.testing.assert_close(pe[:, 0::2] ** 2 + pe[:, 1::2] ** 2, torch.ones(50, 4))  # each pair on the unit circle


def test_rope_scores_depend_only_on_the_relative_offset():
    torch.manual_seed(0)
    L, D = 40, 16
    cos, sin = rope_tables(D, L)
    q, k = torch.randn(2, D)
    qs = apply_rope(q.expand(1, 1, L, D), cos, sin)[0, 0]    # the same query vector placed at every position
    ks = apply_rope(k.expand(1, 1, L, D), cos, sin)[0, 0]
    scores = qs @ ks.T                                      # scores[m, n] = <rot_m q, rot_n k>
    for offset in (-7, 0, 3, 20):
        diag = scores.diagonal(offset)                      # all pairs with n - m = offset
        torch.testing.assert_close(diag, diag[0].expand_as(diag), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(qs.norm(dim=-1), q.norm().expand(L))  # rotations keep lengths
    assert not torch.allclose(scores.diagonal(0)[0], scores.diagonal(3)[0])  # but the offset itself matters


@pytest.mark.parametrize("causal", [True, False])
def test_multi_head_attention_matches_torch_nn_multihead_attention(causal):
    torch.manual_seed(0)
    mine = MultiHeadAttention(12, 3, causal=causal, bias=True)
    ref = nn.MultiheadAttention(12, 3, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(mine.qkv.weight)
        ref.in_proj_bias.copy_(mine.qkv.bias)
        ref.out_proj.weight.copy_(mine.proj.weight)
        ref.out_proj.bias.copy_(mine.proj.bias)
    x = torch.randn(2, 5, 12)
    mask = ~causal_mask(5) if causal else None  # nn.MultiheadAttention: True means "may NOT attend"
    expected, expected_w = ref(x, x, x, attn_mask=mask, average_attn_weights=False)
    y, w = mine(x, return_weights=True)
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(w, expected_w)


def test_multi_head_attention_loads_the_gpt_attention_weights():
    config = GPTConfig(n_embd=16, n_head=4)
    gpt_attn = CausalSelfAttention(config)
    mine = MultiHeadAttention(16, 4)
    mine.load_state_dict(gpt_attn.state_dict())
    x = torch.randn(3, 7, 16)
    torch.testing.assert_close(mine(x), gpt_attn(x))


@pytest.mark.parametrize("pos", ["learned", "rope"])
def test_causal_gpt_output_at_t_ignores_tokens_after_t(pos):
    model = _tiny_gpt(pos)
    g = torch.Generator().manual_seed(1)
    x = torch.randint(11, (2, 16), generator=g)
    t = 6
    y = x.clone()
    y[:, t + 1:] = torch.randint(11, (2, 16 - t - 1), generator=g)
    assert not torch.equal(x[:, t + 1], y[:, t + 1])
    with torch.no_grad():
        a, b = model(x), model(y)
    torch.testing.assert_close(a[:, :t + 1], b[:, :t + 1], atol=1e-6, rtol=1e-6)
    assert (a[:, t + 1:] - b[:, t + 1:]).abs().max() > 1e-3  # the later positions do see the change


@pytest.mark.parametrize("pos", ["learned", "rope"])
def test_attention_maps_reproduce_the_gpt_attention_output(pos):
    model = _tiny_gpt(pos)
    x = torch.randint(11, (2, 9), generator=torch.Generator().manual_seed(0))
    maps = attention_maps(model, x)
    assert maps.shape == (2, 2, 2, 9, 9)
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 2, 2, 9))
    assert torch.all(maps.triu(1) == 0)
    seen = {}
    attn = model.blocks[1].attn
    hook = attn.register_forward_hook(lambda m, args, out: seen.update(x=args[0], out=out))
    with torch.no_grad():
        model(x)
    hook.remove()
    v = attn.qkv(seen["x"]).split(16, dim=2)[2].view(2, 9, 2, 8).transpose(1, 2)
    with torch.no_grad():
        rebuilt = attn.proj((maps[1] @ v).transpose(1, 2).reshape(2, 9, 16))
    torch.testing.assert_close(rebuilt, seen["out"])
