"""Character n-gram language models: next-token probabilities by counting, and a bigram learned by gradient descent.

An n-gram model predicts token t+1 from the n-1 tokens before it: p(b | a) = (count(a b) + alpha) /
(count(a) + alpha V), with add-alpha smoothing so no token is ever impossible. Both models here are
`nn.Module`s whose `forward(idx [B, T])` returns logits [B, T, V] for the next token at every position,
so `genlib.text.lm.evaluate_loss` scores them exactly as it scores the GPT (nats per token).

Short contexts: at position t only t+1 tokens are visible, so the first n-2 positions of a window use the
(t+2)-gram, the longest model their context allows (position 0 of a trigram uses the bigram). This is the
same information a GPT gets at the start of a window, so the two are scored on equal terms.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from genlib.text.lm import next_token_loss  # noqa: F401  (the loss_fn notebook 03 trains with)

MAX_CODE = 2 ** 62  # n-grams are stored as base-V numbers in int64, so V ** n must stay below this


def _check_ids(ids: torch.Tensor, vocab_size: int, what: str = "ids") -> None:
    """Token ids must be integers in [0, vocab_size): say which are not, and what to do."""
    if ids.dtype.is_floating_point or ids.dtype == torch.bool:
        raise TypeError(f"{what} must be an integer tensor of token ids, got dtype {ids.dtype}; encode text with the "
                        "tokenizer (torch.tensor(tok.encode(text))) or convert whole-number floats with .long()")
    if ids.numel() and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"{what} contain ids outside the vocabulary 0..{vocab_size - 1} "
                         f"(min {ids.min().item()}, max {ids.max().item()}); encode text with the tokenizer "
                         "the model was fitted with")


def ngram_codes(ids: torch.Tensor, n: int, vocab_size: int) -> torch.Tensor:
    """Each run of n consecutive tokens along the last dim as one base-V integer: [..., T] -> [..., T-n+1]."""
    windows = ids.long().unfold(-1, n, 1)  # [..., T-n+1, n]
    powers = vocab_size ** torch.arange(n - 1, -1, -1, device=ids.device)
    return (windows * powers).sum(-1)


class NGramLM(nn.Module):
    """Counting n-gram model with add-alpha smoothing, stored as a table: one row of next-token counts per context.

    Only contexts seen in training get a row (a 65^4 table of 5-grams would be mostly zeros); an unseen context
    has all-zero counts, so smoothing makes its next token uniform. Tables of every order 1..n are kept, for
    the short contexts at the start of a window.
    """

    def __init__(self, vocab_size: int, n: int = 2, alpha: float = 1.0):
        super().__init__()
        if n < 1:
            raise ValueError(f"n must be >= 1 (1 = unigram, 2 = bigram, ...), got {n}")
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
        if vocab_size ** n >= MAX_CODE:
            raise ValueError(f"vocab_size ** n = {vocab_size}^{n} is too large to index n-grams in int64; "
                             "use a smaller n")
        self.vocab_size, self.n = vocab_size, n
        self.alpha = self._check_alpha(alpha)
        for k in range(n):  # per context length k: the sorted codes of the contexts seen, their counts [U, V]
            self.register_buffer(f"contexts{k}", torch.zeros(0, dtype=torch.long))
            self.register_buffer(f"counts{k}", torch.zeros(0, vocab_size))
        # log-probabilities of all orders stacked in one table (each order's rows, then a uniform row for its
        # unseen contexts), so a forward pass is a single row lookup; offsets[k] is where order k starts
        self.register_buffer("table", torch.zeros(0, vocab_size))
        self.offsets: list[int] = []

    @staticmethod
    def _check_alpha(alpha: float) -> float:
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0 (add-alpha smoothing keeps unseen tokens possible), got {alpha}")
        return float(alpha)

    def fit(self, ids: torch.Tensor) -> "NGramLM":
        """Count, for every context of k = 0..n-1 tokens in a 1-D tensor of training ids, what comes next."""
        ids = torch.as_tensor(ids)
        if ids.dim() != 1 or len(ids) < self.n:
            raise ValueError(f"fit needs a 1-D tensor of at least n = {self.n} ids, got shape {tuple(ids.shape)}")
        _check_ids(ids, self.vocab_size, "training ids")
        ids, V = ids.to(self.table.device), self.vocab_size
        for k in range(self.n):
            # every (k+1)-gram is k context tokens then the next token; count each distinct one
            grams, n_seen = torch.unique(ngram_codes(ids, k + 1, V), return_counts=True)
            contexts, row = torch.unique(grams // V, return_inverse=True)  # sorted context codes
            counts = torch.zeros(len(contexts), V, device=ids.device)
            counts[row, grams % V] = n_seen.float()
            setattr(self, f"contexts{k}", contexts)
            setattr(self, f"counts{k}", counts)
        return self.set_alpha(self.alpha)

    def set_alpha(self, alpha: float) -> "NGramLM":
        """Re-smooth the same counts: log p(next | ctx) = log(count + alpha) - log(total + alpha V); returns self."""
        self.alpha = self._check_alpha(alpha)
        V, parts, self.offsets = self.vocab_size, [], []
        for k in range(self.n):
            counts = getattr(self, f"counts{k}")
            self.offsets.append(sum(len(p) for p in parts))
            parts.append((counts + alpha).log() - (counts.sum(1, keepdim=True) + alpha * V).log())
            parts.append(torch.full((1, V), -math.log(V), device=counts.device))  # a context never seen: uniform
        self.table = torch.cat(parts)
        return self

    def _rows(self, context: torch.Tensor) -> torch.Tensor:
        """Table row of each context [..., k] (k <= n-1 tokens); an unseen context gets its order's uniform row."""
        k = context.shape[-1]
        if k > self.n - 1:
            raise ValueError(f"a {self.n}-gram model uses at most {self.n - 1} context tokens, got {k}")
        contexts = getattr(self, f"contexts{k}")
        if len(contexts) == 0:
            raise RuntimeError("the model has no counts yet: call fit(train_ids) first")
        if k == 0:
            return torch.full(context.shape[:-1], self.offsets[0], dtype=torch.long, device=context.device)
        code = ngram_codes(context, k, self.vocab_size)[..., 0]
        pos = torch.searchsorted(contexts, code).clamp(max=len(contexts) - 1)
        return self.offsets[k] + torch.where(contexts[pos] == code, pos, len(contexts))

    def seen(self, context: torch.Tensor) -> torch.Tensor:
        """Whether each context [..., k] (k <= n-1 tokens) occurred in the training text: a bool tensor [...]."""
        k = context.shape[-1]
        return self._rows(context) < self.offsets[k] + len(getattr(self, f"contexts{k}"))

    def _lookup(self, rows: torch.Tensor) -> torch.Tensor:
        return self.table.index_select(0, rows.flatten()).view(*rows.shape, self.vocab_size)

    def log_probs(self, context: torch.Tensor) -> torch.Tensor:
        """log p(next | context) [..., V] for contexts [..., k] of k <= n-1 tokens: a lookup of the context's row."""
        return self._lookup(self._rows(context))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits [B, T, V] (normalized log-probabilities) of the next token after each position of idx [B, T]."""
        if idx.dim() != 2:
            raise ValueError(f"idx must be [batch, time], got shape {tuple(idx.shape)}")
        _check_ids(idx, self.vocab_size, "idx")
        k, T = self.n - 1, idx.shape[1]
        rows = [self._rows(idx[:, None, : t + 1]) for t in range(min(k - 1, T))]  # short contexts first
        if T >= k:  # then every window of the last n-1 tokens
            rows.append(self._rows(idx.unfold(1, k, 1) if k else idx[:, :, None][..., :0]))
        return self._lookup(torch.cat(rows, 1))

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Extend idx [B, T] (T may be 0) by sampling one token at a time from p(next | last n-1 tokens)."""
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}; use 1.0 for the model's own probabilities, "
                             "or a small value such as 0.01 for near-greedy sampling")
        if idx.dim() != 2:
            raise ValueError(f"idx must be [batch, time], got shape {tuple(idx.shape)}")
        _check_ids(idx, self.vocab_size, "idx")
        for _ in range(max_new_tokens):
            context = idx[:, max(0, idx.shape[1] - (self.n - 1)):] if self.n > 1 else idx[:, :0]
            probs = (self.log_probs(context) / temperature).softmax(-1)
            nxt = torch.multinomial(probs.cpu(), 1, generator=generator).to(idx.device)
            idx = torch.cat([idx, nxt], 1)
        return idx


class NeuralBigram(nn.Module):
    """A bigram learned by gradient descent: logits for the next token are a row of a V x V table (an nn.Embedding)."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.table = nn.Embedding(vocab_size, vocab_size)
        nn.init.zeros_(self.table.weight)  # start from the uniform distribution: loss = ln V

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits [B, T, V] for idx [B, T]: look up the row of each current token."""
        return self.table(idx)

    def probs(self) -> torch.Tensor:
        """The learned table as probabilities p(next | current) [V, V], comparable to the counting bigram's."""
        return self.table.weight.softmax(-1)
