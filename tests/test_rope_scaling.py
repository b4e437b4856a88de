"""RoPE for long contexts: the tables, position interpolation, NTK-aware scaling, extending a model, cache memory."""
import pytest
import torch

from genlib.text.decoding import generate
from genlib.text.gpt import GPT, GPTConfig, kv_cache_bytes, rope_tables


def _gpt(pos: str = "rope", **kw) -> GPT:
    torch.manual_seed(0)
    config = GPTConfig(**{**dict(vocab_size=13, block_size=16, n_layer=2, n_head=2, n_embd=16, pos=pos), **kw})
    return GPT(config).eval()


def test_default_tables_are_the_rope_formula_bit_for_bit():
    d, L = 32, 200
    cos, sin = rope_tables(d, L)
    inv_freq = 10000.0 ** (-torch.arange(0, d, 2).float() / d)    # theta_i = 10000^(-2i/d), as before scaling existed
    angles = torch.arange(L).float()[:, None] * inv_freq[None]
    assert torch.equal(cos, angles.cos()) and torch.equal(sin, angles.sin())
    exact = torch.arange(L, dtype=torch.float64)[:, None] * 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    torch.testing.assert_close(cos, exact.cos().float(), atol=1e-4, rtol=0)
    assert cos.shape == (L, d // 2)


def test_position_interpolation_reads_position_2p_as_p():
    cos1, sin1 = rope_tables(16, 50)
    cos2, sin2 = rope_tables(16, 100, scale=2.0)
    assert torch.equal(cos2[0::2], cos1) and torch.equal(sin2[0::2], sin1)
    assert not torch.allclose(cos2[1::2], cos1)                      # odd positions fall between trained ones


def test_ntk_scaling_keeps_the_fastest_rotation_and_slows_the_slowest_by_alpha():
    d, alpha = 16, 4.0
    plain, same = rope_tables(d, 64), rope_tables(d, 64, ntk_alpha=1.0)
    assert all(torch.equal(a, b) for a, b in zip(plain, same))       # alpha = 1 is the identity
    cos, sin = rope_tables(d, 64, ntk_alpha=alpha)
    assert torch.equal(cos[:, 0], plain[0][:, 0])                    # frequency 1: the base does not touch it
    # the slowest channel at position alpha * p turns as far as the plain one at p
    torch.testing.assert_close(cos[0::4, -1], plain[0][:16, -1], atol=1e-5, rtol=0)
    torch.testing.assert_close(sin[0::4, -1], plain[1][:16, -1], atol=1e-5, rtol=0)
    assert not torch.allclose(cos[:, 1], plain[0][:, 1])            # the channels in between are stretched too
    base = 10000.0 * alpha ** (d / (d - 2))
    torch.testing.assert_close(cos, rope_tables(d, 64, base=base)[0])


def test_config_passes_rope_scaling_to_the_model_tables():
    model = _gpt(rope_scale=2.0, rope_ntk_alpha=3.0)
    cos, sin = rope_tables(8, 16, scale=2.0, ntk_alpha=3.0)
    assert torch.equal(model.rope_cos, cos) and torch.equal(model.rope_sin, sin)
    assert "rope_cos" not in model.state_dict()                    # tables are rebuilt, never saved
    with pytest.raises(ValueError, match=r"rope_scale and rope_ntk_alpha must be > 0 \(1.0 = no scaling\)"):
        GPTConfig(pos="rope", rope_scale=0.0)


def test_a_rope_gpt_reads_past_its_block_size_after_extend_context():
    model = _gpt()
    x = torch.randint(13, (2, 40), generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"longer than the model's context block_size=16.*model.extend_context\(n\)"):
        model(x)
    with torch.no_grad():
        short = model(x[:, :16])
    config = model.config
    assert model.extend_context(40) is model and model.config.block_size == 40 and config.block_size == 16
    with torch.no_grad():
        long = model(x)
        caches = model.new_caches()
        pieces = [model(x[:, :30], caches=caches)]
        pieces += [model(x[:, t:t + 1], caches=caches, start=t) for t in range(30, 40)]
    assert long.shape == (2, 40, 13)
    torch.testing.assert_close(long[:, :16], short)                    # causal: the first 16 see the same thing
    torch.testing.assert_close(torch.cat(pieces, 1), long, atol=1e-5, rtol=1e-5)
    assert torch.equal(generate(model, x[0, :4], 30, temperature=0, use_cache=True),
                       generate(model, x[0, :4], 30, temperature=0, use_cache=False))
    model.extend_context(64, rope_scale=4.0)                          # interpolate: 64 positions in 16's angles
    assert model.config.rope_scale == 4.0 and model.rope_cos.shape == (64, 4)
    assert torch.equal(model.rope_cos, rope_tables(8, 64, scale=4.0)[0])


def test_a_learned_position_gpt_refuses_to_read_past_its_block_size():
    model = _gpt("learned")
    x = torch.zeros(1, 20, dtype=torch.long)
    with pytest.raises(ValueError, match=r"sequence of 20 tokens is longer than the model's context block_size=16; "
                                         r"crop the prompt to its last 16 tokens \(learned positions have no vector"):
        model(x)
    with pytest.raises(ValueError, match=r"learned positions \(pos='learned'\).*only a pos='rope' model"):
        model.extend_context(32)
    assert model.config.block_size == 16


@pytest.mark.parametrize("pos", ["learned", "rope"])
def test_kv_cache_bytes_is_what_the_caches_hold(pos):
    model = _gpt(pos)
    x = torch.randint(13, (3, 11), generator=torch.Generator().manual_seed(0))

    def held(caches):
        return sum(c["k"].nbytes + c["v"].nbytes for c in caches)

    with torch.no_grad():
        caches = model.new_caches()
        model(x[:, :10], caches=caches)
        assert held(caches) == kv_cache_bytes(model.config, context=10, batch=3)
        model(x[:, 10:], caches=caches, start=10)
        assert held(caches) == kv_cache_bytes(model.config, context=11, batch=3)
        half = model.to(torch.bfloat16).new_caches()
        model(x[:1], caches=half)
        assert held(half) == kv_cache_bytes(model.config, context=11, dtype_bytes=2)
    # LLaMA-2 7B-like shape: 32 layers, 4096 wide, 4k tokens in bfloat16 = 2 GiB per sequence
    assert kv_cache_bytes(GPTConfig(n_layer=32, n_head=32, n_embd=4096), 4096, dtype_bytes=2) == 2 * 2 ** 30
    with pytest.raises(ValueError, match="dtype_bytes >= 1"):
        kv_cache_bytes(model.config, 10, dtype_bytes=0)
    assert kv_cache_bytes(model.config, 0) == 0
