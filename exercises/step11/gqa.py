"""Step 11c: grouped-query attention (GQA), with RoPE and the KV cache.

In multi-head attention (step 06) every head has its own queries, keys and values. When
a model generates, the keys and values are what the KV cache stores, and for a long
context that store, not the weights, fills the memory and limits the speed: each new
token reads all of it. GQA (Ainslie et al., 2023; Llama 2 70B, Llama 3, Mistral) keeps
n_head query heads but only n_kv_head key/value heads, and lets each key/value head serve
a group of n_head // n_kv_head query heads. The cache shrinks by that factor. With
n_kv_head = n_head it is step 06's multi-head attention; with n_kv_head = 1 it is
multi-query attention (MQA), one key and one value for every head.

This layer puts the step together, the way a modern decoder's attention looks:

    x (B, T, C) -> query: (B, n_head, T, hs)     key, value: (B, n_kv_head, T, hs)
                -> RoPE turns queries and keys by their positions
                -> the cache, if any, appends the new keys and values and returns all of them
                -> each key/value head is repeated for its group: (B, n_head, L, hs)
                -> causal attention of the T new queries over the L = start + T keys
                -> merge the heads, out_proj: (B, T, C)

There is no position embedding anywhere else: RoPE is the model's only sense of order.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..step05.attention import causal_mask
from .rope import apply_rope, rope_angles


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Repeat every key/value head n_rep times, so that each query head finds its own.

    Query head h belongs to group h // n_rep, so the output's head h is the input's head
    h // n_rep: heads 0, 0, 1, 1, 2, 2 for n_rep = 2 (each head repeated in place, not
    the whole stack tiled as 0, 1, 2, 0, 1, 2).

    Args:
        x: tensor (B, n_kv_head, T, head_size).
        n_rep: n_head // n_kv_head, at least 1.

    Returns:
        tensor (B, n_kv_head * n_rep, T, head_size).
    """
    if x.dim() != 4 or n_rep < 1:
        raise ValueError(f"repeat_kv needs x of shape (B, n_kv_head, T, head_size) and n_rep >= 1, got "
                         f"{tuple(x.shape)} and {n_rep}")
    raise NotImplementedError("not implemented yet")


def gqa_parameter_count(n_embd: int, n_head: int, n_kv_head: int, bias: bool = False) -> int:
    """The number of learned numbers in ``GroupedQueryAttention(n_embd, n_head, n_kv_head, ..., bias)``.

    Work it out from the four projections of ``GroupedQueryAttention.__init__``; RoPE has no
    parameters. Compared with multi-head attention's 4 * n_embd**2 (+ biases), the key and
    value projections shrink by n_head // n_kv_head.
    """
    raise NotImplementedError("not implemented yet")


class GroupedQueryAttention(nn.Module):
    """Causal self-attention with n_kv_head key/value heads shared by n_head query heads, RoPE
    on queries and keys, and an optional KV cache."""

    def __init__(self, n_embd: int, n_head: int, n_kv_head: int, block_size: int, bias: bool = False,
                 rope_base: float = 10000.0):
        """Four projections, with head_size = n_embd // n_head:

        * ``query``: ``nn.Linear(n_embd, n_embd, bias=bias)``, n_head heads;
        * ``key`` and ``value``: ``nn.Linear(n_embd, n_kv_head * head_size, bias=bias)``,
          n_kv_head heads each; head j owns columns ``j * head_size : (j + 1) * head_size``;
        * ``out_proj``: ``nn.Linear(n_embd, n_embd, bias=bias)``.

        Buffers: ``mask``, your step 05 ``causal_mask(block_size)``, and ``cos`` and ``sin``,
        ``rope_angles(block_size, head_size, rope_base)``.

        Raises:
            ValueError: when n_embd is not divisible by n_head, when n_head is not a multiple
                of n_kv_head (every group must be the same size), or when head_size is odd.
        """
        super().__init__()
        if min(n_embd, n_head, n_kv_head, block_size) < 1:
            raise ValueError(f"n_embd, n_head, n_kv_head and block_size must be positive, got {n_embd}, {n_head}, "
                             f"{n_kv_head}, {block_size}")
        if n_embd % n_head:
            raise ValueError(f"n_embd={n_embd} is not divisible by n_head={n_head}")
        if n_head % n_kv_head:
            raise ValueError(f"n_head={n_head} is not a multiple of n_kv_head={n_kv_head}: each key/value head "
                             f"serves a group of n_head // n_kv_head query heads, and the groups must be equal")
        self.n_embd, self.n_head, self.n_kv_head, self.block_size = n_embd, n_head, n_kv_head, block_size
        self.head_size = n_embd // n_head
        if self.head_size % 2:
            raise ValueError(f"RoPE turns pairs: head_size = n_embd // n_head = {self.head_size} must be even")
        raise NotImplementedError("not implemented yet")

    def forward(self, x: torch.Tensor, cache=None) -> torch.Tensor:
        """Attention of the T positions of x, which come after the ``cache.length`` positions
        the cache holds (after none without a cache).

        1. Project and split: queries (B, n_head, T, hs), keys and values (B, n_kv_head, T, hs).
        2. RoPE: the positions of x are start, ..., start + T - 1 with start = cache.length
           (0 without a cache); turn queries and keys with those rows of ``cos`` and ``sin``.
        3. With a cache: ``keys, values = cache.append(k, v)``, L = start + T of each.
        4. ``repeat_kv`` keys and values to n_head heads, scores = q @ k^T / sqrt(head_size):
           (B, n_head, T, L).
        5. Causal mask: the query at position start + i sees the keys at 0 .. start + i.
           Rows start .. start + T - 1 of ``self.mask``, first L columns, are exactly that.
        6. Softmax, weight the values, merge the heads to (B, T, n_embd), ``out_proj``.

        Run a sequence through in pieces, with one cache, and the outputs are those of the
        whole sequence at once: that is what makes the cache correct.

        Args:
            x: float tensor (B, T, n_embd).
            cache: a ``KVCache`` for this layer, or None.

        Returns:
            float tensor (B, T, n_embd), in x's dtype.

        Raises:
            ValueError: when x is not (B, T, n_embd), or start + T passes block_size.
        """
        if x.dim() != 3 or x.shape[-1] != self.n_embd:
            raise ValueError(f"x must have shape (B, T, {self.n_embd}), got {tuple(x.shape)}")
        start = 0 if cache is None else cache.length
        if start + x.shape[1] > self.block_size:
            raise ValueError(f"positions {start} .. {start + x.shape[1] - 1} pass block_size {self.block_size}: "
                             "RoPE's angles and the mask stop there")
        raise NotImplementedError("not implemented yet")
