"""A GPT written to be read top to bottom, as nanoGPT's model.py: a config, then one module per idea.

Options the course adds on top of nanoGPT (each measured in benchmarks/gpt_vs_nanogpt.py):
RoPE instead of learned positions, RMSNorm instead of LayerNorm, and a key/value cache for fast decoding.
Notebook 09 adds a mixture of experts in place of the MLP (n_expert > 0, see genlib/text/moe.py) and RoPE
scaling for contexts longer than the one trained on (rope_scale, rope_ntk_alpha, GPT.extend_context).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class GPTConfig:
    vocab_size: int = 65
    block_size: int = 64          # the longest context the model sees
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = False            # biases in Linear layers and norms
    pos: str = "learned"          # 'learned' (GPT-2) or 'rope' (LLaMA)
    norm: str = "layer"           # 'layer' (GPT-2) or 'rms' (LLaMA)
    mlp_ratio: int = 4
    n_expert: int = 0             # 0: one dense MLP per block; > 0: a mixture of this many experts (moe.MoE)
    expert_top_k: int = 2         # experts each token uses (1: Switch Transformer, 2: Mixtral)
    capacity_factor: float | None = 1.25  # expert capacity while training, in multiples of an even share; None: no cap
    rope_scale: float = 1.0       # position interpolation: RoPE sees position p as p / rope_scale
    rope_ntk_alpha: float = 1.0   # NTK-aware scaling: RoPE's base grows so the slowest rotation is alpha times slower
    qk_norm: bool = False         # RMS-normalise each head's queries and keys before RoPE (OLMo 2, Gemma 3)
    activation: str = "gelu"      # the MLP's non-linearity: 'gelu' (GPT-2) or 'relu2', ReLU squared (Primer)
    zero_init_proj: bool = False  # start every residual output projection at zero (each block starts as the identity)
    tie_embeddings: bool = True   # the output head reuses the token embedding (GPT-2); False: a separate matrix

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if self.pos not in ("learned", "rope"):
            raise ValueError(f"pos must be 'learned' or 'rope', got {self.pos!r}")
        if self.norm not in ("layer", "rms"):
            raise ValueError(f"norm must be 'layer' or 'rms', got {self.norm!r}")
        if self.pos == "rope" and (self.n_embd // self.n_head) % 2:
            raise ValueError("RoPE needs an even head size (n_embd / n_head)")
        if not isinstance(self.n_expert, int) or self.n_expert < 0:
            raise ValueError(f"n_expert must be an int >= 0 (0 = a dense MLP), got {self.n_expert!r}")
        if self.expert_top_k not in (1, 2):
            raise ValueError(f"expert_top_k must be 1 (Switch) or 2 (Mixtral), got {self.expert_top_k!r}")
        if self.n_expert and self.expert_top_k > self.n_expert:
            raise ValueError(f"expert_top_k={self.expert_top_k} needs at least that many experts, got "
                             f"n_expert={self.n_expert}; use expert_top_k=1 or more experts")
        if self.capacity_factor is not None and not self.capacity_factor > 0:
            raise ValueError(f"capacity_factor must be > 0 (1.0 = exactly an even share per expert) or None "
                             f"(no cap), got {self.capacity_factor!r}")
        if self.activation not in ("gelu", "relu2"):
            raise ValueError(f"activation must be 'gelu' or 'relu2', got {self.activation!r}")
        if not self.rope_scale > 0 or not self.rope_ntk_alpha > 0:
            raise ValueError(f"rope_scale and rope_ntk_alpha must be > 0 (1.0 = no scaling), got "
                             f"{self.rope_scale!r} and {self.rope_ntk_alpha!r}")


def rope_tables(head_dim: int, length: int, base: float = 10000.0, scale: float = 1.0,
                ntk_alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables [length, head_dim/2] for rotary position embeddings (RoPE), optionally stretched.

    Two ways to run a model on `scale` (or `ntk_alpha`) times the context it was trained on:
    - position interpolation (Chen et al. 2023): position p becomes p / scale, so every angle stays in the
      range seen in training, at the cost of squeezing neighbouring positions closer together;
    - NTK-aware scaling (bloc97, 2023): base becomes base * alpha ** (head_dim / (head_dim - 2)), which leaves the
      fastest rotation (local order) as it is and makes the slowest exactly alpha times slower.
    The defaults give the plain RoPE tables.
    """
    if head_dim < 2 or head_dim % 2:
        raise ValueError(f"RoPE needs an even head_dim >= 2, got {head_dim}")
    if not scale > 0 or not ntk_alpha > 0:
        raise ValueError(f"scale and ntk_alpha must be > 0 (1.0 = no scaling), got {scale!r} and {ntk_alpha!r}")
    if ntk_alpha != 1.0 and head_dim > 2:  # with head_dim 2 the only rotation has frequency 1 whatever the base
        base = base * ntk_alpha ** (head_dim / (head_dim - 2))
    inv_freq = base ** (-torch.arange(0, head_dim, 2).float() / head_dim)
    angles = (torch.arange(length).float() / scale)[:, None] * inv_freq[None]
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair of channels (x1, x2) of x [B, H, T, D] by its position's angle."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.flatten(-2).type_as(x)


def make_norm(config: GPTConfig) -> nn.Module:
    if config.norm == "rms":
        return nn.RMSNorm(config.n_embd)
    return nn.LayerNorm(config.n_embd, bias=config.bias)


class CausalSelfAttention(nn.Module):
    """Multi-head attention where position t only sees positions <= t."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head, self.head_dim = config.n_head, config.n_embd // config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.rope = config.pos == "rope"
        self.q_norm = nn.RMSNorm(self.head_dim) if config.qk_norm else None
        self.k_norm = nn.RMSNorm(self.head_dim) if config.qk_norm else None

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                cache: dict | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, self.head_dim).transpose(1, 2) for t in (q, k, v))  # [B, H, T, D]
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if self.rope:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if cache is not None:  # decoding: keep every past key and value, attend to all of them
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        # With a cache and one new token, the new token may see every cached one, so no mask is needed;
        # with a cache and several new tokens (a prompt), the mask lines up with the end of the keys.
        causal = T > 1
        if causal and k.shape[2] != T:
            mask = torch.ones(T, k.shape[2], dtype=torch.bool, device=x.device).tril(k.shape[2] - T)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=causal,
                                               dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    """Position-wise feed-forward: widen, GELU, narrow."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        hidden = config.mlp_ratio * config.n_embd
        self.fc = nn.Linear(config.n_embd, hidden, bias=config.bias)
        self.proj = nn.Linear(hidden, config.n_embd, bias=config.bias)
        self.drop = nn.Dropout(config.dropout)
        self.relu2 = config.activation == "relu2"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        h = F.relu(h).square() if self.relu2 else F.gelu(h)
        return self.drop(self.proj(h))


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.norm1, self.attn = make_norm(config), CausalSelfAttention(config)
        if config.n_expert:
            from genlib.text.moe import MoE  # here, not at the top: moe.py imports MLP from this file
            self.norm2, self.mlp = make_norm(config), MoE(config)
        else:
            self.norm2, self.mlp = make_norm(config), MLP(config)

    def forward(self, x: torch.Tensor, rope=None, cache: dict | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), rope, cache)
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    """Token embedding (+ positions) -> blocks -> norm -> logits over the vocabulary."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd) if config.pos == "learned" else None
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.norm = make_norm(config)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.head.weight = self.tok_emb.weight  # weight tying, as GPT-2
        if config.pos == "rope":
            self._set_rope_tables()
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by depth
            if name.endswith("proj.weight"):
                if config.zero_init_proj:
                    nn.init.zeros_(p)
                else:
                    nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def _set_rope_tables(self, device: torch.device | None = None) -> None:
        c = self.config
        cos, sin = rope_tables(c.n_embd // c.n_head, c.block_size, scale=c.rope_scale, ntk_alpha=c.rope_ntk_alpha)
        self.register_buffer("rope_cos", cos.to(device), persistent=False)
        self.register_buffer("rope_sin", sin.to(device), persistent=False)

    def extend_context(self, block_size: int, rope_scale: float | None = None,
                       rope_ntk_alpha: float | None = None) -> GPT:
        """Let a RoPE model read `block_size` tokens (and optionally rescale RoPE); same weights, returns self.

        Only the (unsaved) RoPE tables are rebuilt, so the trained weights are untouched; learned positions
        cannot be extended, as the model has no trained vector for a position past its block_size.
        """
        if self.config.pos != "rope":
            raise ValueError(f"this GPT has learned positions (pos='learned'): it has one trained vector per position "
                             f"up to block_size={self.config.block_size}, and none beyond; only a pos='rope' model "
                             "can be extended")
        if not isinstance(block_size, int) or block_size < 1:
            raise ValueError(f"block_size must be an int >= 1, got {block_size!r}")
        changes = dict(block_size=block_size)
        if rope_scale is not None:
            changes["rope_scale"] = rope_scale
        if rope_ntk_alpha is not None:
            changes["rope_ntk_alpha"] = rope_ntk_alpha
        self.config = replace(self.config, **changes)  # a new config: others sharing the old one keep it
        self._set_rope_tables(self.rope_cos.device)
        return self

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        """Parameters, counting the tied embedding once and leaving out learned positions (as nanoGPT)."""
        n = sum(p.numel() for p in self.parameters())
        return n - (self.pos_emb.weight.numel() if self.pos_emb is not None else 0)

    def forward(self, idx: torch.Tensor, caches: list[dict] | None = None, start: int = 0,
                head: bool = True) -> torch.Tensor:
        """Logits [B, T, vocab] for token ids [B, T]. With `caches` (one dict per block), `idx` continues a
        sequence whose first `start` tokens were already fed, so only the new tokens are computed. With
        head=False, the final normalised hidden states [B, T, n_embd] instead (what a reward head reads)."""
        if idx.dtype.is_floating_point or idx.dtype in (torch.bool, torch.uint8) or idx.dim() != 2:
            raise ValueError(f"idx must be token ids [batch, time] of dtype long, got shape {tuple(idx.shape)} and "
                             f"dtype {idx.dtype}; make them with torch.tensor(tokenizer.encode(text)) or .long(), "
                             "and add the batch axis with idx[None]")
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.config.vocab_size):
            raise ValueError(f"token ids must lie in 0..{self.config.vocab_size - 1} (vocab_size), got "
                             f"{idx.min().item()}..{idx.max().item()}; encode text with the tokenizer the model was "
                             "trained with, or build the model with a larger vocab_size")
        B, T = idx.shape
        if start + T > self.config.block_size:
            hint = (", or call model.extend_context(n) to let this RoPE model read n tokens"
                    if self.config.pos == "rope" else
                    " (learned positions have no vector past block_size; a pos='rope' model can be extended)")
            raise ValueError(f"sequence of {start + T} tokens is longer than the model's context "
                             f"block_size={self.config.block_size}; crop the prompt to its last "
                             f"{self.config.block_size} tokens{hint}")
        cached = caches[0]["k"].shape[2] if caches and "k" in caches[0] else 0
        if caches is not None and start != cached:
            raise ValueError(f"start={start} but the caches already hold {cached} tokens: pass start={cached}")
        x = self.tok_emb(idx)
        rope = None
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(start, start + T, device=idx.device))
        else:
            rope = (self.rope_cos[start:start + T], self.rope_sin[start:start + T])
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, rope, None if caches is None else caches[i])
        x = self.norm(x)
        return self.head(x) if head else x

    def new_caches(self) -> list[dict]:
        """Empty key/value caches, one per block, for `forward(..., caches=...)`."""
        return [{} for _ in self.blocks]


def kv_cache_bytes(config: GPTConfig, context: int, batch: int = 1, dtype_bytes: int = 4) -> int:
    """Memory of the key/value cache for `context` tokens: a key and a value of n_embd numbers per token and layer."""
    if context < 0 or batch < 1 or dtype_bytes < 1:
        raise ValueError(f"need context >= 0, batch >= 1 and dtype_bytes >= 1 (4 for float32, 2 for bfloat16), "
                         f"got {context}, {batch} and {dtype_bytes}")
    return 2 * config.n_layer * batch * context * config.n_embd * dtype_bytes


def config_dict(config: GPTConfig) -> dict:
    """The config as a plain dict (for the checkpoint manifest)."""
    return asdict(config)
