"""From a text predictor to an assistant: the chat format, SFT's masked loss, a reward model, DPO and GRPO.

Each loss is a few lines, written to match the papers: supervised fine-tuning counts only the assistant's
tokens; the reward model is trained Bradley-Terry (P(chosen beats rejected) = sigmoid(r_c - r_r)); DPO
(Rafailov et al. 2023) needs no reward model, only log-probabilities under the policy and a frozen reference;
GRPO (Shao et al. 2024) samples a group of answers per prompt and pushes up those better than the group's mean.
"""
from __future__ import annotations

import hashlib
import json
import random
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genlib.text.bpe import ENDOFTEXT, BPETokenizer
from genlib.text.decoding import generate
from genlib.text.gpt import GPT, GPTConfig

USER, ASSISTANT, END = "<|user|>", "<|assistant|>", "<|end|>"
SPECIALS = (ENDOFTEXT, USER, ASSISTANT, END)
# GPT-2's split, except that every digit is a chunk of its own (as LLaMA does): numbers are read digit by digit
DIGIT_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+|\d| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""


def chat_tokenizer(corpus: str, vocab_size: int = 384) -> BPETokenizer:
    """A byte-level BPE trained on `corpus`, digits split one by one, with the chat's special tokens."""
    return BPETokenizer(DIGIT_SPLIT_PATTERN, special_tokens=SPECIALS).train(corpus, vocab_size)


def encode_chat(tok: BPETokenizer, prompt: str, response: str | None = None) -> tuple[list[int], list[int]]:
    """Token ids of one exchange, and a mask that is 1 on the assistant's tokens (its response and <|end|>).

    The user's text is encoded with allow_special=False, so typing "<|end|>" cannot forge a turn boundary.
    Without `response` the ids end with <|assistant|>: the prompt for generation.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("the prompt is empty: give the user's message as a non-empty string")
    s = tok.special_ids
    missing = [t for t in (USER, ASSISTANT, END) if t not in s]
    if missing:
        raise ValueError(f"the tokenizer has no chat tokens {missing}: build it with genlib.text.align.chat_tokenizer")
    ids = [s[USER], *tok.encode(prompt, allow_special=False), s[END], s[ASSISTANT]]
    mask = [0] * len(ids)
    if response is not None:
        reply = tok.encode(response, allow_special=False) + [s[END]]
        ids, mask = ids + reply, mask + [1] * len(reply)
    return ids, mask


def pad(rows: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """Right-pad lists of ids to one [B, T] tensor."""
    width = max(len(r) for r in rows)
    return torch.tensor([list(r) + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def chat_batch(tok: BPETokenizer, pairs: Sequence[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids [B, T], assistant mask [B, T]) for (prompt, response) pairs, padded with <|end|> under mask 0."""
    enc = [encode_chat(tok, p, r) for p, r in pairs]
    return pad([e[0] for e in enc], tok.special_ids[END]), pad([e[1] for e in enc], 0)


def token_log_probs(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """log p(ids[:, t] | ids[:, :t]) for t = 1..T-1: [B, T-1]."""
    logits = model(ids[:, :-1])
    return -F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")


def sft_loss(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean next-token loss over the assistant's tokens only (mask 1): the user's words are given, not learned."""
    weights = mask[:, 1:].float()
    if weights.sum() == 0:
        raise ValueError("the mask selects no tokens: every example needs a response (mask 1 on its tokens)")
    return -(token_log_probs(model, ids) * weights).sum() / weights.sum()


def response_log_prob(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of log-probabilities of the response tokens, per row [B]: log pi(response | prompt)."""
    return (token_log_probs(model, ids) * mask[:, 1:].float()).sum(1)


class RewardModel(nn.Module):
    """A GPT with a scalar head on the last response token: r(prompt, response)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.gpt = GPT(config)
        self.score = nn.Linear(config.n_embd, 1)
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Rewards [B]: the head reads the hidden state at each row's last masked token (its <|end|>)."""
        last = mask.shape[1] - 1 - mask.flip(1).argmax(1)
        h = self.gpt(ids, head=False)
        return self.score(h[torch.arange(ids.shape[0]), last]).squeeze(-1)


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(r_c - r_r): the negative log-likelihood that the labeller prefers the chosen response."""
    return -F.logsigmoid(r_chosen - r_rejected).mean()


def dpo_loss(pi_chosen: torch.Tensor, pi_rejected: torch.Tensor, ref_chosen: torch.Tensor, ref_rejected: torch.Tensor,
             beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """DPO: -log sigmoid(beta * [(log pi_c - log ref_c) - (log pi_r - log ref_r)]); also the implicit reward margin.

    The implicit reward of a response is beta * log(pi / ref): how much more likely the policy makes it than
    the reference. The loss is Bradley-Terry on those rewards, so no reward model is needed.
    """
    if not beta > 0:
        raise ValueError(f"beta must be > 0 (it scales the implicit reward; 0.1 is common), got {beta}")
    margin = beta * ((pi_chosen - ref_chosen) - (pi_rejected - ref_rejected))
    return -F.logsigmoid(margin).mean(), margin.detach()


def check_pair(chosen: str, rejected: str) -> None:
    """A preference pair must prefer one response to a different one."""
    if chosen == rejected:
        raise ValueError(f"the chosen and rejected responses are identical ({chosen!r}): a pair must differ, or it "
                         "teaches nothing (its DPO margin is 0 whatever the model does); drop it")


def group_advantages(rewards: torch.Tensor, scale: bool = True) -> torch.Tensor:
    """GRPO's advantage: each sample's reward minus its group's mean, over the group's std when `scale` (rows are
    groups of samples of one prompt). Scaling gives a hard prompt's rare success the same weight as an easy one's."""
    adv = rewards - rewards.mean(dim=1, keepdim=True)
    return adv / (rewards.std(dim=1, keepdim=True) + 1e-4) if scale else adv


def grpo_loss(logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor, advantages: torch.Tensor,
              kl_coef: float) -> torch.Tensor:
    """Policy gradient on sampled responses: -advantage * log pi, plus a per-token KL guard to the reference.

    logp and ref_logp are per-token log-probabilities [B, T-1] of the sampled tokens; mask[:, 1:] marks the
    response. The KL estimate exp(ref - pi) - (ref - pi) - 1 is >= 0 and keeps the policy near where it started.
    """
    m = mask[:, 1:].float()
    n = m.sum(1).clamp(min=1)
    pg = -(advantages * (logp * m).sum(1) / n)
    d = ref_logp - logp
    kl = ((d.exp() - d - 1) * m).sum(1) / n
    return (pg + kl_coef * kl).mean()


def prompt_ids(model: nn.Module, tok: BPETokenizer, prompt: str, max_new_tokens: int) -> list[int]:
    """The chat ids that ask the model for a reply, checked to leave room for `max_new_tokens` in its context."""
    ids, _ = encode_chat(tok, prompt)
    block = model.config.block_size
    if len(ids) + max_new_tokens > block:
        raise ValueError(f"the prompt is {len(ids)} tokens; with {max_new_tokens} new tokens it exceeds the "
                         f"model's context of {block}: shorten it (this one starts {prompt[:40]!r})")
    return ids


@torch.no_grad()
def respond(model: nn.Module, tok: BPETokenizer, prompts: Sequence[str], *, max_new_tokens: int = 24,
            temperature: float = 0.0, generator: torch.Generator | None = None) -> list[str]:
    """The model's response to each prompt (until <|end|>); prompts of equal token length are batched."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    end = tok.special_ids[END]
    device = next(model.parameters()).device
    encoded = [prompt_ids(model, tok, p, max_new_tokens) for p in prompts]
    by_length: dict[int, list[int]] = {}
    for i, e in enumerate(encoded):
        by_length.setdefault(len(e), []).append(i)
    out = [""] * len(prompts)
    for n, rows in by_length.items():
        ids = torch.tensor([encoded[i] for i in rows], device=device)
        full = generate(model, ids, max_new_tokens, temperature=temperature, eos_id=end, generator=generator)
        for i, row in zip(rows, full[:, n:].tolist()):
            row = row[: row.index(end)] if end in row else row
            out[i] = tok.decode(row)
    return out


def assistant_tokenizer(vocab_size: int = 768) -> BPETokenizer:
    """The tokenizer of notebook 08's models: BPE on the task world's prose and chat text, the same every time."""
    from genlib.data.tasks import chat_corpus_sample, pretraining_text
    corpus = pretraining_text(random.Random(0), 3000) + chat_corpus_sample(random.Random(1), 1000)
    return chat_tokenizer(corpus, vocab_size)


def merges_digest(tok: BPETokenizer) -> str:
    """A short hash of the merges: the manifest records it, so a model is never paired with another tokenizer."""
    return hashlib.sha256(json.dumps(sorted(tok.merges.items())).encode()).hexdigest()[:16]


def task_accuracy(model: nn.Module, tok: BPETokenizer, tasks: Sequence, **kwargs) -> float:
    """Share of tasks whose greedy (or sampled, with temperature=) response holds the correct answer."""
    from genlib.data.tasks import is_correct
    replies = respond(model, tok, [t.prompt for t in tasks], **kwargs)
    return sum(is_correct(t, r) for t, r in zip(tasks, replies)) / len(tasks)


@torch.no_grad()
def stream(model: nn.Module, tok: BPETokenizer, prompt: str, *, temperature: float = 0.0, max_new_tokens: int = 40,
           generator: torch.Generator | None = None):
    """Yield the response one token's text at a time (what a chat window shows as it types)."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    ids = prompt_ids(model, tok, prompt, max_new_tokens)
    device = next(model.parameters()).device
    x = torch.tensor([ids], device=device)
    end, new = tok.special_ids[END], []
    for _ in range(max_new_tokens):
        out = generate(model, x, 1, temperature=temperature, generator=generator, use_cache=False)
        nxt = int(out[0, -1])
        if nxt == end:
            return
        before = tok.decode(new)
        new.append(nxt)
        yield tok.decode(new)[len(before):]
        x = out
