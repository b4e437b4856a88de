"""Decoding: turning a language model's next-token logits into text, one small pure function per strategy.

`generate` composes them in the usual order (repetition penalty, temperature, top-k, top-p, your own
`logits_filter`, then sample); `beam_search` keeps the few most likely sequences instead of sampling.
Logits are [..., vocab].
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


def greedy(logits: torch.Tensor) -> torch.Tensor:
    """The single most likely token (ties go to the lowest id)."""
    return logits.argmax(-1)


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """logits / T: T < 1 sharpens the distribution, T > 1 flattens it. T = 0 is greedy (see `generate`)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 here, got {temperature}; temperature 0 means greedy "
                         "decoding: call greedy(logits), or generate(..., temperature=0)")
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits, set the rest to -inf; tokens tied with the k-th are kept; k >= vocab keeps all."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {k!r}; use top_k=None for no top-k filtering")
    if k >= logits.shape[-1]:
        return logits
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most likely tokens whose probability reaches p, -inf the rest.

    A token is kept when the tokens ranked above it hold less than p of the probability. Tokens tied with the
    last one kept are kept too, so the result never depends on the order of equal logits. p = 1 keeps all.
    """
    if not 0 < p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {p}; use top_p=None (or 1.0) for no nucleus filtering")
    if p == 1:
        return logits
    probs = logits.float().softmax(-1)
    sorted_probs = probs.sort(-1, descending=True).values
    mass_above = sorted_probs.cumsum(-1) - sorted_probs                   # probability ranked above each token
    mass_above[..., 0] = 0.0
    smallest_kept = sorted_probs.masked_fill(mass_above >= p, float("inf")).amin(-1, keepdim=True)
    return logits.masked_fill(probs < smallest_kept, float("-inf"))


def apply_repetition_penalty(logits: torch.Tensor, previous: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL's penalty for tokens already in `previous` [..., n]: positive logits / penalty, negative ones * penalty.

    penalty > 1 discourages repeats, 1 changes nothing, below 1 encourages them.
    """
    if not penalty > 0:
        raise ValueError(f"repetition_penalty must be > 0 (1.0 = no penalty, 1.1-1.5 is typical), got {penalty}")
    if penalty == 1 or previous.shape[-1] == 0:
        return logits
    seen = logits.gather(-1, previous)
    return logits.scatter(-1, previous, torch.where(seen > 0, seen / penalty, seen * penalty))


def sample(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token id per row of logits [B, vocab], drawn from softmax(logits)."""
    probs = logits.float().softmax(-1)
    if generator is not None and generator.device != probs.device:
        return torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1).to(probs.device)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _prompt(model: nn.Module, prompt_ids: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, bool]:
    """The prompt as ids [B, T] on the model's device, and whether it came in as one sequence [T]."""
    ids = torch.as_tensor(prompt_ids, dtype=torch.long)
    if ids.dim() not in (1, 2) or ids.shape[-1] == 0:
        raise ValueError(f"the prompt must be a non-empty sequence of token ids [T] or a batch [B, T], got shape "
                         f"{tuple(ids.shape)}; start from at least one token, such as the id of a newline")
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    if vocab is not None and (ids.min() < 0 or ids.max() >= vocab):
        raise ValueError(f"prompt ids must lie in 0..{vocab - 1} (the model's vocabulary), got {ids.min()}..{ids.max()}; "
                         "encode the prompt with the tokenizer the model was trained with")
    device = next(model.parameters(), torch.empty(0)).device
    return (ids[None] if ids.dim() == 1 else ids).to(device), ids.dim() == 1


def _block_size(model: nn.Module) -> int | None:
    return getattr(getattr(model, "config", None), "block_size", None)


def _crop(ids: torch.Tensor, block_size: int | None) -> torch.Tensor:
    return ids if block_size is None else ids[:, -block_size:]


def _custom_filter(logits_filter: Callable[[torch.Tensor], torch.Tensor] | None, logits: torch.Tensor) -> torch.Tensor:
    """Apply the caller's filter and check what it returns, so a mistake names the filter, not torch.multinomial."""
    if logits_filter is None:
        return logits
    out = logits_filter(logits)
    if not isinstance(out, torch.Tensor) or out.shape != logits.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"logits_filter must return logits of the shape it was given, {tuple(logits.shape)} "
                         f"(batch, vocab), got {got}; mask tokens with -inf instead of removing them")
    if not out.isfinite().any(-1).all():
        raise ValueError("logits_filter left a row with no finite logit, so no token can be drawn; "
                         "always keep at least the most likely token")
    return out


@torch.no_grad()
def generate(model: nn.Module, prompt_ids: Sequence[int] | torch.Tensor, max_new_tokens: int, *,
             temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
             repetition_penalty: float = 1.0, eos_id: int | None = None, use_cache: bool = True,
             generator: torch.Generator | None = None,
             logits_filter: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Continue `prompt_ids` ([T] or [B, T]) by up to `max_new_tokens` tokens; returns prompt + new tokens.

    Each step the next-token logits [B, vocab] go through, in this order:
    1. the repetition penalty (it needs the raw logits' signs, so it comes before any rescaling);
    2. the temperature: logits / T, applied FIRST among the filters, as Hugging Face transformers does, so
       top-p and your filter see the distribution that will actually be sampled (top-k is the same either way);
    3. top_k, then top_p (each sets the logits it drops to -inf);
    4. logits_filter(logits) -> logits of the same shape: your own rule, e.g. min-p; set a logit to -inf to
       forbid that token, and keep at least one finite logit per row;
    5. a draw from softmax(logits).

    - temperature 0 is greedy decoding (argmax, no randomness): steps 2, 3 and 5 are skipped, but the
      penalty and logits_filter still apply before the argmax, so a filter that forbids tokens forbids them
      in greedy decoding too.
    - repetition_penalty applies to the tokens generated so far (not the prompt), as in CTRL.
    - eos_id: a row stops when it produces this token; generation ends when every row has, and rows that
      finished earlier are padded with eos_id.
    - The model sees at most its block_size last tokens: a longer prompt is cropped to them, and once the
      sequence fills the context each further step recomputes the last block_size tokens without the cache,
      so use_cache changes only the speed, never the tokens.
    """
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 or None, got {top_k!r}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p}")
    if not repetition_penalty > 0:
        raise ValueError(f"repetition_penalty must be > 0 (1.0 = no penalty), got {repetition_penalty}")
    if logits_filter is not None and not callable(logits_filter):
        raise TypeError(f"logits_filter must be a function logits [B, vocab] -> logits [B, vocab], or None; got "
                        f"{type(logits_filter).__name__}. Pass the function itself: logits_filter=my_filter")
    if use_cache and not hasattr(model, "new_caches"):
        raise ValueError(f"{type(model).__name__} has no key/value cache (no new_caches()); pass use_cache=False")
    ids, single = _prompt(model, prompt_ids)
    block_size, n_prompt = _block_size(model), ids.shape[1]
    was_training = model.training
    model.eval()
    try:
        caches, pos = None, 0
        if use_cache:
            ctx = _crop(ids, block_size)
            caches, pos = model.new_caches(), ctx.shape[1]
            logits = model(ctx, caches=caches, start=0)[:, -1]
        else:
            logits = model(_crop(ids, block_size))[:, -1]
        done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
        for step in range(max_new_tokens):
            logits = apply_repetition_penalty(logits, ids[:, n_prompt:], repetition_penalty)
            if temperature == 0:
                nxt = greedy(_custom_filter(logits_filter, logits))
            else:
                logits = apply_temperature(logits, temperature)
                if top_k is not None:
                    logits = top_k_filter(logits, top_k)
                if top_p is not None:
                    logits = top_p_filter(logits, top_p)
                nxt = sample(_custom_filter(logits_filter, logits), generator)
            if eos_id is not None:
                nxt = nxt.masked_fill(done, eos_id)
                done |= nxt == eos_id
            ids = torch.cat([ids, nxt[:, None]], dim=1)
            if bool(done.all()) or step == max_new_tokens - 1:
                break
            if caches is not None and (block_size is None or pos < block_size):
                logits = model(nxt[:, None], caches=caches, start=pos)[:, -1]
                pos += 1
            else:  # the context is full: slide the window and recompute it (a cache cannot shift positions)
                caches = None
                logits = model(_crop(ids, block_size))[:, -1]
    finally:
        model.train(was_training)
    return ids[0] if single else ids


@torch.no_grad()
def sequence_log_prob(model: nn.Module, ids: Sequence[int] | torch.Tensor, start: int = 1) -> torch.Tensor:
    """Sum of log p(token t | tokens before t) for t >= start, per row of ids ([T] or [B, T]); within one context."""
    x, single = _prompt(model, ids)
    if not 1 <= start < x.shape[1]:
        raise ValueError(f"start must be in 1..{x.shape[1] - 1} (the first token scored needs one before it), got {start}")
    block_size = _block_size(model)
    if block_size is not None and x.shape[1] - 1 > block_size:
        raise ValueError(f"{x.shape[1]} tokens do not fit the model's context of {block_size} (+1); score shorter pieces")
    logp = F.log_softmax(model(x[:, :-1]).float(), dim=-1).gather(-1, x[:, 1:, None]).squeeze(-1)
    out = logp[:, start - 1:].sum(-1)
    return out[0] if single else out


@torch.no_grad()
def beam_search(model: nn.Module, prompt_ids: Sequence[int] | torch.Tensor, beam_width: int, max_new_tokens: int,
                *, length_penalty: float = 1.0, eos_id: int | None = None) -> tuple[torch.Tensor, float]:
    """The most likely continuation found by keeping the `beam_width` best partial sequences at each step.

    Returns (prompt + continuation [T + n], its total log-probability). Finished hypotheses (those that end in
    eos_id) are ranked by log-prob / length ** length_penalty, so length_penalty > 0 favours longer ones.
    Width 1 is greedy decoding. The model is re-run on the last block_size tokens at each step (no cache).
    """
    if not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(f"beam_width must be an integer >= 1, got {beam_width!r}")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
    ids, single = _prompt(model, prompt_ids)
    if not single and ids.shape[0] != 1:
        raise ValueError(f"beam_search takes one prompt, got a batch of {ids.shape[0]}")
    block_size, n_prompt = _block_size(model), ids.shape[1]
    was_training = model.training
    model.eval()
    beams, scores = ids, torch.zeros(1, device=ids.device)          # live hypotheses and their log-probs
    finished: list[tuple[float, float, torch.Tensor]] = []            # (ranking score, log-prob, ids)

    def rank(logp: float, n_new: int) -> float:
        return logp / n_new ** length_penalty

    try:
        for step in range(max_new_tokens):
            logp = F.log_softmax(model(_crop(beams, block_size))[:, -1].float(), dim=-1)   # [beams, vocab]
            vocab = logp.shape[-1]
            cand = (scores[:, None] + logp).flatten()
            top = cand.topk(min(2 * beam_width, cand.numel()))
            keep_beams, keep_scores = [], []
            for rank_i, (score, flat) in enumerate(zip(top.values.tolist(), top.indices.tolist())):
                seq = torch.cat([beams[flat // vocab], beams.new_tensor([flat % vocab])])
                if eos_id is not None and flat % vocab == eos_id:
                    if rank_i < beam_width:
                        finished.append((rank(score, step + 1), score, seq))
                else:
                    keep_beams.append(seq)
                    keep_scores.append(score)
                if len(keep_beams) == beam_width:
                    break
            beams, scores = torch.stack(keep_beams), torch.tensor(keep_scores, device=ids.device)
            if len(finished) >= beam_width and rank(scores.max().item(), step + 1) <= min(f[0] for f in finished):
                break
        finished += [(rank(s, beams.shape[1] - n_prompt), s, b) for s, b in zip(scores.tolist(), beams)]
    finally:
        model.train(was_training)
    _, logp, best = max(finished, key=lambda f: f[0])
    return best, logp
