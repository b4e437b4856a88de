import math
from collections import Counter
from itertools import product

import pytest
import torch

from genlib.text.lm import evaluate_loss, fixed_batches, random_batch
from genlib.text.ngram import NeuralBigram, NGramLM, next_token_loss
from genlib.text.shakespeare import char_tokenizer, encoded_splits
from genlib.text.tokenizers import CharTokenizer
from genlib.train import cosine_lr, train

TEXT = "abracadabra cabbage bread; a cab, a crab. " * 3


@pytest.fixture(scope="module")
def shakespeare():
    tok = char_tokenizer()
    train_ids, val_ids = encoded_splits(tok)
    return tok, train_ids, val_ids


def brute_force_log_prob(text: str, context: str, nxt: str, alpha: float, vocab: list[str]) -> float:
    """log p(nxt | context) by counting substrings of text with plain Python: (c(ctx nxt) + a) / (c(ctx .) + a V)."""
    k = len(context)
    follows = Counter(text[i + k] for i in range(len(text) - k) if text[i:i + k] == context)
    return math.log((follows[nxt] + alpha) / (sum(follows.values()) + alpha * len(vocab)))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_counting_model_equals_brute_force_counts_for_every_context(n):
    tok = CharTokenizer(TEXT + "xz")  # 'x' and 'z' never occur in training: unseen contexts and unseen next tokens
    alpha = 0.5
    model = NGramLM(tok.vocab_size, n=n, alpha=alpha).fit(torch.tensor(tok.encode(TEXT)))
    for k in range(n):  # every context length the model uses, every possible context (seen or not)
        for context in map("".join, product(tok.chars, repeat=k)):
            got = model.log_probs(torch.tensor(tok.encode(context)).reshape(1, k))[0]
            want = torch.tensor([brute_force_log_prob(TEXT, context, c, alpha, tok.chars) for c in tok.chars])
            torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_forward_uses_the_longest_visible_context_at_each_position():
    tok = CharTokenizer(TEXT)
    ids = torch.tensor(tok.encode(TEXT))
    model = NGramLM(tok.vocab_size, n=3, alpha=0.1).fit(ids)
    window = "cabbage"
    logits = model(torch.tensor([tok.encode(window)]))[0]
    assert logits.shape == (len(window), tok.vocab_size)
    for t in range(len(window)):
        context = window[max(0, t - 1): t + 1]  # position 0 sees one token (bigram), later ones two (trigram)
        want = torch.tensor([brute_force_log_prob(TEXT, context, c, 0.1, tok.chars) for c in tok.chars])
        torch.testing.assert_close(logits[t], want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_next_token_probabilities_sum_to_one(n):
    tok = CharTokenizer(TEXT)
    model = NGramLM(tok.vocab_size, n=n, alpha=0.01).fit(torch.tensor(tok.encode(TEXT)))
    idx = torch.randint(tok.vocab_size, (3, 9), generator=torch.Generator().manual_seed(0))  # mostly unseen contexts
    probs = model(idx).exp()
    assert probs.shape == (3, 9, tok.vocab_size)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3, 9))


def test_set_alpha_resmooths_without_refitting():
    tok = CharTokenizer(TEXT)
    ids = torch.tensor(tok.encode(TEXT))
    idx = ids[:20].reshape(2, 10)
    torch.testing.assert_close(NGramLM(tok.vocab_size, 3, alpha=1.0).fit(ids).set_alpha(0.05)(idx),
                               NGramLM(tok.vocab_size, 3, alpha=0.05).fit(ids)(idx))


def test_higher_orders_beat_lower_orders_on_shakespeare_validation(shakespeare):
    tok, train_ids, val_ids = shakespeare
    batches = fixed_batches(val_ids, block_size=64, batch_size=16, n_batches=4)
    loss = {n: evaluate_loss(NGramLM(tok.vocab_size, n, alpha=0.1).fit(train_ids), batches) for n in (1, 2, 3)}
    assert loss[1] > loss[2] + 0.5 > loss[3] + 0.5 + 0.2  # unigram ~3.3, bigram ~2.5, trigram ~2.1 nats
    assert loss[1] < math.log(tok.vocab_size)  # even the unigram beats guessing uniformly


def test_neural_bigram_converges_to_the_counting_bigram(shakespeare):
    tok, train_ids, val_ids = shakespeare
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    batches = fixed_batches(val_ids, block_size=64, batch_size=16, n_batches=4)
    counting = evaluate_loss(NGramLM(tok.vocab_size, 2, alpha=1.0).fit(train_ids), batches)
    model = NeuralBigram(tok.vocab_size)
    assert evaluate_loss(model, batches) == pytest.approx(math.log(tok.vocab_size))  # starts uniform
    train(model, next_token_loss, lambda: random_batch(train_ids, 64, 256, g), steps=100, lr=0.5, progress=False,
          lr_schedule=lambda p: cosine_lr(p, min_ratio=0.01))
    assert abs(evaluate_loss(model, batches) - counting) < 0.01


def test_generate_samples_only_continuations_seen_in_training():
    tok = CharTokenizer("ab")
    model = NGramLM(tok.vocab_size, 2, alpha=1e-9).fit(torch.tensor(tok.encode("ab" * 20)))  # a->b, b->a always
    out = model.generate(torch.tensor([tok.encode("a")]), 11, generator=torch.Generator().manual_seed(0))
    assert tok.decode(out[0]) == "ab" * 6
    empty = model.generate(torch.zeros(2, 0, dtype=torch.long), 5, generator=torch.Generator().manual_seed(0))
    assert empty.shape == (2, 5)


def test_unknown_characters_and_bad_ids_raise_clear_errors(shakespeare):
    tok, train_ids, _ = shakespeare
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.encode("café")  # the tokenizer refuses characters the model never saw
    model = NGramLM(tok.vocab_size, 2).fit(train_ids[:1000])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(torch.tensor([[0, tok.vocab_size]]))
    with pytest.raises(ValueError, match=r"\[batch, time\]"):
        model(torch.tensor([1, 2, 3]))
    with pytest.raises(RuntimeError, match="fit"):
        NGramLM(tok.vocab_size, 2)(torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match="alpha"):
        NGramLM(tok.vocab_size, 2, alpha=0)
    with pytest.raises(ValueError, match="n must be"):
        NGramLM(tok.vocab_size, 0)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(torch.tensor([[1]]), 3, temperature=0)
