"""Attention written out plainly (scores, scale, mask, softmax, weighted sum), the position signals a
transformer needs, and a way to read a trained GPT's attention maps.

Masks follow `F.scaled_dot_product_attention`'s boolean convention: True means "may attend".
"""
from __future__ import annotations

import math

import torch
from torch import nn

from genlib.text.gpt import GPT, apply_rope


def causal_mask(T: int, T_k: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """[T, T_k] boolean mask, True where a query may see a key: itself and the past, never the future.

    With T_k > T (new queries after T_k - T cached keys) the queries are the *last* T positions, so
    query i sees keys 0 .. T_k - T + i, which is what a key/value cache needs.
    """
    T_k = T if T_k is None else T_k
    if T < 1 or T_k < T:
        raise ValueError(f"need 1 <= T <= T_k for a causal mask, got T={T}, T_k={T_k}")
    return torch.ones(T, T_k, dtype=torch.bool, device=device).tril(T_k - T)


def attention_weights(q: torch.Tensor, k: torch.Tensor, causal: bool = True,
                      mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q kᵀ / √d) over the keys, [..., T_q, T_k]: how much each query reads from each key (rows sum to 1)."""
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys need the same size, got q [..., {q.shape[-1]}] and k [..., {k.shape[-1]}]")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])          # [..., T_q, T_k]
    allowed = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device)
    if causal:
        allowed = causal_mask(q.shape[-2], k.shape[-2], device=q.device)
    if mask is not None:
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be boolean (True = may attend), got dtype {mask.dtype}")
        allowed = allowed & mask
    if not allowed.any(-1).all():
        raise ValueError("the mask leaves some query with no key to attend to; every row needs at least one True")
    return scores.masked_fill(~allowed, float("-inf")).softmax(-1)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True,
              mask: torch.Tensor | None = None) -> torch.Tensor:
    """Each query's output is the weighted mean of the values, weighted by `attention_weights` (q [..., T, d])."""
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"keys and values must come in pairs, got {k.shape[-2]} keys and {v.shape[-2]} values")
    return attention_weights(q, k, causal, mask) @ v


def sinusoidal_positions(T: int, d: int, base: float = 10000.0) -> torch.Tensor:
    """[T, d] position codes of 'Attention Is All You Need': sin(t / base^(2i/d)) at 2i, cos at 2i + 1."""
    if T < 1 or d < 2 or d % 2:
        raise ValueError(f"need T >= 1 and an even d >= 2, got T={T}, d={d}")
    angles = torch.arange(T).float()[:, None] * base ** (-torch.arange(0, d, 2).float() / d)[None]  # [T, d/2]
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)


class MultiHeadAttention(nn.Module):
    """Self-attention in `n_head` heads: project to q, k, v, split into heads, attend, merge, project.

    Its parameters (`qkv`, `proj`) are laid out as genlib.text.gpt.CausalSelfAttention's, so one loads the other.
    """

    def __init__(self, n_embd: int, n_head: int, causal: bool = True, bias: bool = False):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be divisible by n_head ({n_head})")
        self.n_head, self.causal = n_head, causal
        self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.proj = nn.Linear(n_embd, n_embd, bias=bias)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, C] -> [B, H, T, C/H]: each head works on its own slice of the channels."""
        B, T, C = x.shape
        return x.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        """Outputs [B, T, C]; with `return_weights` also each head's attention map [B, H, T, T]."""
        B, T, C = x.shape
        q, k, v = (self.split_heads(t) for t in self.qkv(x).split(C, dim=2))
        w = attention_weights(q, k, self.causal)
        y = self.proj((w @ v).transpose(1, 2).reshape(B, T, C))     # merge the heads back into C channels
        return (y, w) if return_weights else y


@torch.no_grad()
def attention_maps(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    """Every layer's and head's attention weights for token ids idx [B, T]: [n_layer, B, n_head, T, T].

    The GPT attends with fused kernels that never show their weights, so this records each block's attention
    input during one forward pass and recomputes the weights from its queries and keys.
    """
    if idx.dim() != 2:
        raise ValueError(f"idx must be token ids [B, T], got shape {tuple(idx.shape)}")
    inputs = []
    hooks = [b.attn.register_forward_pre_hook(lambda m, args: inputs.append((m, args))) for b in model.blocks]
    try:
        model(idx)
    finally:
        for h in hooks:
            h.remove()
    maps = []
    for attn, (x, rope, *_) in inputs:
        B, T, C = x.shape
        q, k, _ = (t.view(B, T, attn.n_head, attn.head_dim).transpose(1, 2) for t in attn.qkv(x).split(C, dim=2))
        if attn.rope:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        maps.append(attention_weights(q, k, causal=True))
    return torch.stack(maps)
