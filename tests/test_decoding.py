import math

import pytest
import torch
from torch import nn

from genlib.text.decoding import (apply_repetition_penalty, apply_temperature, beam_search, generate, greedy,
                                  sample, sequence_log_prob, top_k_filter, top_p_filter)
from genlib.text.gpt import GPT, GPTConfig

INF = float("inf")


def _tiny_gpt(pos: str = "learned", block_size: int = 16, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=13, block_size=block_size, n_layer=2, n_head=2, n_embd=16, pos=pos)).eval()
    with torch.no_grad():  # sharper than the 0.02-std initialization, so the next token really depends on context
        model.tok_emb.weight.normal_(0, 1.0)
    return model


class Bigram(nn.Module):
    """A fixed next-token table: logits[next] = log P(next | last token); enough to check search algorithms."""

    def __init__(self, probs: torch.Tensor, block_size: int = 32):
        super().__init__()
        self.logp = nn.Parameter(probs.log(), requires_grad=False)
        self.config = type("Config", (), {"block_size": block_size, "vocab_size": probs.shape[0]})()

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.logp[idx]


# -- the pure functions ------------------------------------------------------------------------------------------

def test_temperature_scales_and_low_temperature_tends_to_greedy():
    logits = torch.randn(50, 20, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(apply_temperature(logits, 0.5), 2 * logits)
    cold = apply_temperature(logits, 1e-3).softmax(-1)
    assert torch.equal(cold.argmax(-1), greedy(logits)) and cold.max(-1).values.min() > 0.999
    samples = sample(apply_temperature(logits, 1e-4), torch.Generator().manual_seed(0))
    assert torch.equal(samples, greedy(logits))


def test_top_k_one_is_greedy_and_top_k_keeps_exactly_the_k_largest():
    logits = torch.randn(100, 30, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(0)
    assert torch.equal(sample(top_k_filter(logits, 1), g), greedy(logits))
    kept = top_k_filter(logits, 5).isfinite()
    assert torch.all(kept.sum(-1) == 5)
    assert torch.equal(kept, torch.zeros_like(kept).scatter(-1, logits.topk(5).indices, True))
    assert torch.equal(top_k_filter(logits, 30), logits) and torch.equal(top_k_filter(logits, 99), logits)
    assert top_k_filter(torch.tensor([3.0, 1.0, 3.0, 0.0]), 1).isfinite().tolist() == [True, False, True, False]


def _log(probs):
    return torch.tensor(probs).log()


def test_top_p_keeps_the_smallest_set_that_reaches_p():
    logits = _log([0.1, 0.5, 0.15, 0.25])
    kept = lambda p: top_p_filter(logits, p).isfinite().tolist()
    assert kept(0.3) == [False, True, False, False]          # the top token alone reaches 0.3
    assert kept(0.6) == [False, True, False, True]           # 0.5 + 0.25
    assert kept(0.8) == [False, True, True, True]            # 0.5 + 0.25 + 0.15 = 0.9 >= 0.8
    assert kept(0.95) == [True, True, True, True]
    assert kept(1e-9) == [False, True, False, False]         # the top token is always kept
    torch.testing.assert_close(top_p_filter(logits, 0.6)[[1, 3]], logits[[1, 3]])  # kept logits are untouched


def test_top_p_ties_and_p_equal_one():
    ties = _log([0.3, 0.2, 0.3, 0.2])
    assert top_p_filter(ties, 0.1).isfinite().tolist() == [True, False, True, False]   # both tied top tokens
    assert top_p_filter(ties, 0.7).isfinite().tolist() == [True, True, True, True]     # the tied 0.2s go together
    flat = torch.zeros(6)
    assert top_p_filter(flat, 0.2).isfinite().all()                                    # all tied: all kept
    with_impossible = torch.tensor([1.0, 0.0, -INF])
    assert torch.equal(top_p_filter(with_impossible, 1.0), with_impossible)            # p = 1 changes nothing
    batch = torch.stack([_log([0.7, 0.2, 0.1]), _log([0.1, 0.2, 0.7])])
    assert top_p_filter(batch, 0.6).isfinite().tolist() == [[True, False, False], [False, False, True]]


def test_repetition_penalty_known_values():
    logits = torch.tensor([[2.0, -1.0, 0.5, -3.0, 4.0]])
    out = apply_repetition_penalty(logits, torch.tensor([[0, 1, 1, 3]]), 2.0)   # a repeated id is penalized once
    assert out.tolist() == [[1.0, -2.0, 0.5, -6.0, 4.0]]
    assert torch.equal(apply_repetition_penalty(logits, torch.tensor([[0, 1]]), 1.0), logits)
    assert torch.equal(apply_repetition_penalty(logits, torch.zeros(1, 0, dtype=torch.long), 3.0), logits)


@pytest.mark.parametrize("call, message", [
    (lambda l: apply_temperature(l, 0), "greedy"),
    (lambda l: apply_temperature(l, -1), "temperature"),
    (lambda l: top_k_filter(l, 0), "top_k"),
    (lambda l: top_p_filter(l, 0), "top_p"),
    (lambda l: top_p_filter(l, 1.5), "top_p"),
    (lambda l: apply_repetition_penalty(l, torch.tensor([0]), 0), "repetition_penalty"),
])
def test_pure_functions_reject_bad_settings(call, message):
    with pytest.raises(ValueError, match=message):
        call(torch.randn(5))


# -- generate ----------------------------------------------------------------------------------------------------

def test_generate_temperature_zero_top_k_one_and_manual_greedy_agree():
    model = _tiny_gpt()
    prompt = [1, 2, 3]
    out = generate(model, prompt, 10, temperature=0)
    assert out.shape == (13,) and out[:3].tolist() == prompt
    ids = torch.tensor([prompt])
    for _ in range(10):  # greedy written out
        ids = torch.cat([ids, model(ids)[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(out, ids[0])
    assert torch.equal(generate(model, prompt, 10, top_k=1, generator=torch.Generator().manual_seed(0)), out)
    assert torch.equal(generate(model, prompt, 10, temperature=1e-4, generator=torch.Generator().manual_seed(0)), out)


@pytest.mark.parametrize("pos", ["learned", "rope"])
def test_kv_cache_logits_equal_full_recomputation(pos):
    model = _tiny_gpt(pos)
    x = torch.randint(13, (3, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(x)
        caches = model.new_caches()
        pieces = [model(x[:, :5], caches=caches, start=0)]            # the prompt in one go
        pieces += [model(x[:, t:t + 1], caches=caches, start=t) for t in range(5, 16)]  # then one token a step
    torch.testing.assert_close(torch.cat(pieces, 1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pos", ["learned", "rope"])
def test_generate_with_and_without_cache_gives_identical_tokens_even_past_the_context(pos):
    model = _tiny_gpt(pos, block_size=8)
    prompt = torch.randint(13, (2, 3), generator=torch.Generator().manual_seed(0))
    kw = dict(max_new_tokens=20)                 # 3 + 20 tokens > block_size 8: the window slides
    assert torch.equal(generate(model, prompt, temperature=0, use_cache=True, **kw),
                       generate(model, prompt, temperature=0, use_cache=False, **kw))
    sampled = [generate(model, prompt, use_cache=c, top_p=0.9, generator=torch.Generator().manual_seed(3), **kw)
               for c in (True, False)]
    assert torch.equal(*sampled) and sampled[0].shape == (2, 23)
    long_prompt = torch.randint(13, (12,), generator=torch.Generator().manual_seed(1))   # longer than the context
    out = generate(model, long_prompt, 4, temperature=0)
    assert torch.equal(out[:12], long_prompt)
    assert torch.equal(out[12:], generate(model, long_prompt[-8:], 4, temperature=0)[8:])  # only the last 8 matter


def test_generate_is_reproducible_with_a_generator_and_restores_training_mode():
    model = _tiny_gpt().train()
    a = generate(model, [0], 12, generator=torch.Generator().manual_seed(5))
    b = generate(model, [0], 12, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and model.training


def test_generate_stops_at_eos_and_pads_finished_rows():
    # From token 0 go to 1, from 1 go to 2 (the eos), from 2 stay at 2; token 3 loops on itself.
    table = torch.full((4, 4), 1e-6)
    table[0, 1] = table[1, 2] = table[2, 2] = table[3, 3] = 1.0
    model = Bigram(table / table.sum(1, keepdim=True))
    out = generate(model, [0], 10, temperature=0, eos_id=2, use_cache=False)
    assert out.tolist() == [0, 1, 2]
    batch = generate(model, torch.tensor([[0], [1]]), 10, temperature=0, eos_id=2, use_cache=False)
    assert batch.tolist() == [[0, 1, 2], [1, 2, 2]]            # the second row finished first, then padded
    assert generate(model, [3], 5, temperature=0, eos_id=2, use_cache=False).tolist() == [3] * 6  # max length
    assert generate(model, [3], 0, use_cache=False).tolist() == [3]


def test_eos_on_a_cached_gpt_cuts_the_greedy_output_after_the_first_eos():
    model = _tiny_gpt("rope")
    full = generate(model, [1], 12, temperature=0)
    eos = full[4].item()
    first = 1 + (full[1:] == eos).nonzero()[0].item()          # the first generated eos (maybe before index 4)
    assert torch.equal(generate(model, [1], 12, temperature=0, eos_id=eos), full[:first + 1])


def test_repetition_penalty_in_generate_breaks_a_greedy_loop():
    table = torch.tensor([[0.1, 0.6, 0.3], [0.6, 0.1, 0.3], [0.4, 0.4, 0.2]])
    model = Bigram(table)
    assert generate(model, [0], 4, temperature=0, use_cache=False).tolist() == [0, 1, 0, 1, 0]
    # Only generated tokens are penalized (the prompt's 0 is not): step 2 still picks 0; at step 3 both 0 and 1
    # were generated, log 0.6 * 3 < log 0.3, so token 2 wins.
    assert generate(model, [0], 3, temperature=0, repetition_penalty=3.0, use_cache=False).tolist() == [0, 1, 0, 2]


@pytest.mark.parametrize("kwargs, message", [
    (dict(temperature=-0.1), "temperature"),
    (dict(top_k=0), "top_k"),
    (dict(top_p=0.0), "top_p"),
    (dict(top_p=1.01), "top_p"),
    (dict(repetition_penalty=0.0), "repetition_penalty"),
    (dict(max_new_tokens=-1), "max_new_tokens"),
])
def test_generate_rejects_bad_settings(kwargs, message):
    model = _tiny_gpt()
    with pytest.raises(ValueError, match=message):
        generate(model, [1], **{"max_new_tokens": 3, **kwargs})


def test_generate_rejects_bad_prompts_and_a_missing_cache():
    model = _tiny_gpt()
    with pytest.raises(ValueError, match="non-empty"):
        generate(model, [], 3)
    with pytest.raises(ValueError, match="vocabulary"):
        generate(model, [1, 13], 3)
    with pytest.raises(ValueError, match="use_cache=False"):
        generate(Bigram(torch.full((3, 3), 1 / 3)), [0], 3)


# -- beam search -------------------------------------------------------------------------------------------------

def test_beam_width_one_is_greedy():
    model = _tiny_gpt("rope")
    best, logp = beam_search(model, [4, 5], beam_width=1, max_new_tokens=9)
    assert torch.equal(best, generate(model, [4, 5], 9, temperature=0))
    assert logp == pytest.approx(sequence_log_prob(model, best, start=2).item(), abs=1e-4)


def test_beam_search_finds_a_likelier_sequence_than_greedy():
    # From 0: token 1 (0.6) beats token 2 (0.4), but after 1 everything is a coin toss (1/3 each) while after
    # 2 token 2 follows with 0.9. Greedy takes 0,1,x (p = 0.2); the beam keeps 0,2,2 (p = 0.36).
    table = torch.tensor([[1e-4, 0.6, 0.4], [1 / 3, 1 / 3, 1 / 3], [0.05, 0.05, 0.9]])
    model = Bigram(table / table.sum(1, keepdim=True))
    greedy_ids = generate(model, [0], 2, temperature=0, use_cache=False)
    best, logp = beam_search(model, [0], beam_width=2, max_new_tokens=2)
    assert greedy_ids[:2].tolist() == [0, 1] and best.tolist() == [0, 2, 2]
    assert logp == pytest.approx(math.log(0.4 * 0.9), abs=1e-3)
    assert logp > sequence_log_prob(model, greedy_ids).item() + 0.5


def test_beam_search_ranks_finished_hypotheses_with_the_length_penalty():
    # From 0: eos (token 3) at once with p = 0.5, or token 1 (0.5) then eos with p = 0.9: log 0.45 in 2 tokens.
    table = torch.tensor([[1e-4, 0.5, 1e-4, 0.5], [1e-4, 1e-4, 0.1, 0.9],
                          [1 / 4] * 4, [1e-4, 1e-4, 1e-4, 1.0]])
    model = Bigram(table / table.sum(1, keepdim=True))
    short, _ = beam_search(model, [0], 3, 5, eos_id=3, length_penalty=0.0)     # raw log-prob: log 0.5 wins
    longer, _ = beam_search(model, [0], 3, 5, eos_id=3, length_penalty=1.0)    # per token: log(0.45) / 2 wins
    assert short.tolist() == [0, 3] and longer.tolist() == [0, 1, 3]


def test_sequence_log_prob_is_the_sum_of_next_token_log_probs():
    table = torch.tensor([[0.5, 0.5], [0.25, 0.75]])
    model = Bigram(table)
    assert sequence_log_prob(model, [0, 1, 1, 0]).item() == pytest.approx(math.log(0.5 * 0.75 * 0.25))
    assert sequence_log_prob(model, [0, 1, 1, 0], start=2).item() == pytest.approx(math.log(0.75 * 0.25))
    with pytest.raises(ValueError, match="start"):
        sequence_log_prob(model, [0, 1], start=2)


# -- a custom logits filter --------------------------------------------------------------------------------------

def _keep_only(token):
    return lambda logits: torch.full_like(logits, float("-inf")).index_fill(-1, torch.tensor([token]), 0.0)


@pytest.mark.parametrize("temperature", [0, 1.0, 2.0])
def test_logits_filter_is_applied_at_every_step(temperature):
    model = _tiny_gpt()
    out = generate(model, torch.tensor([[1, 2], [3, 4]]), 9, temperature=temperature, top_k=5, top_p=0.9,
                   logits_filter=_keep_only(7), generator=torch.Generator().manual_seed(0))
    assert out[:, 2:].eq(7).all()        # a filter that keeps one token makes sampling (and greedy) pick it


def test_logits_filter_sees_logits_after_penalty_temperature_top_k_and_top_p():
    table = torch.tensor([[0.1, 0.6, 0.3], [0.6, 0.1, 0.3], [0.4, 0.4, 0.2]])
    model, seen = Bigram(table), []
    def record(logits):
        seen.append(logits.clone())
        return logits
    out = generate(model, [0], 2, temperature=0.5, top_k=2, top_p=0.99, repetition_penalty=2.0,
                   logits_filter=record, use_cache=False, generator=torch.Generator().manual_seed(0))
    first = out[1].item()
    expected = [top_p_filter(top_k_filter(table[[0]].log() / 0.5, 2), 0.99),   # step 1: nothing to penalize yet
                top_p_filter(top_k_filter(apply_repetition_penalty(table[[first]].log(), out[None, 1:2], 2.0) / 0.5,
                                          2), 0.99)]
    assert len(seen) == 2
    for got, want in zip(seen, expected):
        torch.testing.assert_close(got, want)
    assert not torch.equal(seen[1], table[[first]].log())       # it did not see the raw logits


def test_a_min_p_filter_through_the_hook_keeps_tokens_near_the_top():
    model = _tiny_gpt()
    def min_p(logits, m=0.5):
        probs = logits.softmax(-1)
        return logits.masked_fill(probs < m * probs.max(-1, keepdim=True).values, float("-inf"))
    gen = torch.Generator().manual_seed(0)
    ids = generate(model, torch.zeros(64, 1, dtype=torch.long), 1, logits_filter=min_p, generator=gen)
    probs = model(torch.zeros(1, 1, dtype=torch.long))[0, -1].softmax(-1)
    allowed = (probs >= 0.5 * probs.max()).nonzero().flatten().tolist()
    assert set(ids[:, 1].tolist()) <= set(allowed) and len(allowed) < 13


@pytest.mark.parametrize("bad, error, message", [
    ("min_p", TypeError, "must be a function"),
    (lambda logits: logits[:, :5], ValueError, r"shape it was given, \(1, 13\).*got \(1, 5\)"),
    (lambda logits: logits.tolist(), ValueError, "got list"),
    (lambda logits: torch.full_like(logits, float("-inf")), ValueError, "no finite logit"),
])
def test_logits_filter_mistakes_are_clear_errors(bad, error, message):
    with pytest.raises(error, match=message):
        generate(_tiny_gpt(), [1], 3, logits_filter=bad)
