"""A mixture of experts: several MLPs per block, a router sends each token to its top-k, so parameters grow but
the compute per token does not (Switch Transformer, Fedus et al. 2021; Mixtral, Jiang et al. 2024).

Conventions (each a choice the papers make differently):
- Gates: the router's softmax is taken over all experts, then each token keeps its top k. With k = 1 the gate is
  that probability itself (Switch: y = p_i * E_i(x), so the task loss still teaches the router); with k = 2 the
  two probabilities are renormalised to sum to 1 (Mixtral, equal to a softmax over the two chosen logits).
- Capacity: while training, each expert takes at most ceil(capacity_factor * tokens * k / n_expert) tokens, first
  come first served in token order (a token is never displaced by a later one); an assignment over capacity is
  dropped, and a token whose every assignment is dropped gets zero output, so only the residual carries it on.
  In eval mode nothing is dropped, so a token's output never depends on the rest of the batch and cached
  decoding equals a full forward pass.
- Load-balancing loss (Switch): n_expert * sum_i f_i * P_i, where f_i is the share of all k * tokens assignments
  that went to expert i (before dropping) and P_i the mean router probability of expert i. It is 1.0 when the
  routing is even (for any k) and up to n_expert when one expert takes everything; add about 0.01 times
  moe_aux_loss(model) to the training loss.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from genlib.text.gpt import MLP, GPTConfig


class MoE(nn.Module):
    """A drop-in replacement for gpt.MLP: a linear router picks top-k of n_expert MLPs for each token."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        if config.n_expert < 1:
            raise ValueError(f"MoE needs n_expert >= 1, got {config.n_expert}; set GPTConfig(n_expert=4, ...)")
        self.n_expert, self.top_k, self.capacity_factor = config.n_expert, config.expert_top_k, config.capacity_factor
        self.router = nn.Linear(config.n_embd, config.n_expert, bias=False)
        self.experts = nn.ModuleList([MLP(config) for _ in range(config.n_expert)])
        self.aux_loss: torch.Tensor | None = None        # set by each forward: the load-balancing loss
        self.last_counts: torch.Tensor | None = None     # [n_expert] assignments routed to each expert
        self.last_dropped: torch.Tensor | None = None    # [n_expert] of those, how many were over capacity

    def capacity(self, n_tokens: int) -> int | None:
        """The most assignments one expert takes in a batch of n_tokens (None: no limit, as in eval mode)."""
        if self.capacity_factor is None or not self.training:
            return None
        return math.ceil(self.capacity_factor * n_tokens * self.top_k / self.n_expert)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])                                       # [N, C]: every token of the batch
        probs = self.router(x).float().softmax(-1)                         # [N, E]
        gate, choice = probs.topk(self.top_k, dim=-1)                      # [N, k] each
        if self.top_k > 1:
            gate = gate / gate.sum(-1, keepdim=True)                       # Mixtral: the k gates sum to 1
        capacity = self.capacity(x.shape[0])
        out = torch.zeros_like(x)
        counts = torch.zeros(self.n_expert, dtype=torch.long, device=x.device)
        dropped = torch.zeros_like(counts)
        for e, expert in enumerate(self.experts):
            token, slot = (choice == e).nonzero(as_tuple=True)           # the tokens sent to expert e, in order
            counts[e] = len(token)
            if capacity is not None and len(token) > capacity:
                dropped[e] = len(token) - capacity
                token, slot = token[:capacity], slot[:capacity]          # the later ones get nothing from e
            if len(token):
                y = gate[token, slot, None] * expert(x[token])
                out = out.index_add(0, token, y.type_as(out))
        share = counts.float() / max(x.shape[0] * self.top_k, 1)           # f_i: share of the N * k assignments
        self.aux_loss = self.n_expert * (share * probs.mean(0)).sum()      # P_i = probs.mean(0)
        self.last_counts, self.last_dropped = counts, dropped
        return out.reshape(shape)


def moe_aux_loss(model: nn.Module) -> torch.Tensor:
    """The sum of the load-balancing losses of every MoE in `model` from its last forward (0 if it has none)."""
    losses = []
    for name, m in model.named_modules():
        if isinstance(m, MoE):
            if m.aux_loss is None:
                raise ValueError(f"MoE {name or 'model'!r} has no aux_loss yet: run a forward pass first, then add "
                                 "moe_aux_loss(model) to that pass's loss")
            losses.append(m.aux_loss)
    if not losses:
        first = next(model.parameters(), None)
        return torch.zeros((), device=None if first is None else first.device)
    return torch.stack(losses).sum()


def total_params(model: nn.Module) -> int:
    """Every parameter (a tied weight counted once): what the model has to store."""
    return sum(p.numel() for p in model.parameters())


def active_params(model: nn.Module) -> int:
    """Parameters one token uses: all but the n_expert - k experts each MoE leaves out (what a forward costs)."""
    idle = sum((m.n_expert - m.top_k) * total_params(m.experts[0]) for m in model.modules() if isinstance(m, MoE))
    return total_params(model) - idle


@torch.no_grad()
def expert_usage(model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
    """[n_moe_layers, n_expert]: the share of routing choices each expert gets on tokens `idx`, layer by layer
    (the histogram that shows whether the load-balancing loss kept every expert busy)."""
    was_training = model.training
    model.eval()
    try:
        model(idx)
    finally:
        model.train(was_training)
    counts = [m.last_counts.float() for m in model.modules() if isinstance(m, MoE)]
    if not counts:
        raise ValueError("the model has no mixture-of-experts layer: build it with GPTConfig(n_expert=4, ...)")
    counts = torch.stack(counts)
    return counts / counts.sum(1, keepdim=True)
