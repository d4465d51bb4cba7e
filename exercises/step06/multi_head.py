"""Step 06: multi-head attention, several viewpoints at once.

One head of step 05 computes one set of attention weights: every position decides, once,
how much of each earlier position it wants. But a token often needs several things at
the same time (the subject of its verb, the quote it is inside, the previous character).
Multi-head attention runs n_head small heads side by side. Each head works in its own
subspace of head_size = n_embd // n_head dimensions, has its own queries and keys, and so
its own attention pattern. Their outputs are put side by side again, back to n_embd
numbers, and one more linear layer, the output projection W_O, mixes what the heads found.

The heads are viewpoints, not extra layers: with the same n_embd, 4 heads of size 8 cost
exactly as many parameters as 1 head of size 32. What changes is that 4 heads can attend
to 4 different places.

You write it twice. ``forward_loop`` is the definition: slice each head out of the
projections and run your step 05 attention on it, one head after the other.
``forward`` is how every real implementation does it: reshape (B, T, C) into
(B, n_head, T, head_size), so that the head becomes one more batch dimension and one
matrix product serves all heads at once. Both use the same weights, so they must agree.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..step05.attention import causal_mask, scaled_dot_product_attention


def check_heads(n_embd: int, n_head: int) -> int:
    """The size of one head, ``n_embd // n_head``.

    Raises:
        ValueError: when n_embd cannot be split into n_head equal slices. The message must
            say so and give both numbers: a student who sets n_head=5 for n_embd=32 should
            learn what to change from it.
    """
    if n_embd < 1 or n_head < 1:
        raise ValueError(f"n_embd and n_head must be positive, got n_embd={n_embd}, n_head={n_head}")
    raise NotImplementedError("not implemented yet")


def attention_parameter_count(n_embd: int, bias: bool = True) -> int:
    """The number of learned numbers in ``MultiHeadAttention(n_embd, n_head, ..., bias=bias)``.

    Work it out by hand from the four projections below, then write it as a formula in
    n_embd (it does not depend on n_head: that is the point of the step). The suite
    compares it with the count of a real module for several sizes.

    Returns:
        int: the weights of query, key, value and out_proj, plus their biases when ``bias``.
    """
    raise NotImplementedError("not implemented yet")


class MultiHeadAttention(nn.Module):
    """n_head heads of (causal) self-attention in parallel, then the output projection W_O."""

    def __init__(self, n_embd: int, n_head: int, block_size: int, causal: bool = True, bias: bool = True):
        """Four projections, each ``nn.Linear(n_embd, n_embd, bias=bias)``: ``query``,
        ``key``, ``value`` and ``out_proj`` (W_O). Head h owns columns
        ``h * head_size : (h + 1) * head_size`` of what query, key and value produce.
        Register ``causal_mask(block_size)`` (your step 05 function) as a buffer named
        ``mask``.

        Raises:
            ValueError: when n_embd is not divisible by n_head (``check_heads`` does it).
        """
        super().__init__()
        self.head_size = check_heads(n_embd, n_head)
        if block_size < 1:
            raise ValueError(f"block_size must be positive, got {block_size}")
        self.n_embd, self.n_head, self.block_size, self.causal = n_embd, n_head, block_size, causal
        self.last_attention: torch.Tensor | None = None
        raise NotImplementedError("not implemented yet")

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless x is (B, T, n_embd) with T <= block_size."""
        if x.dim() != 3 or x.shape[-1] != self.n_embd:
            raise ValueError(f"x must have shape (B, T, {self.n_embd}), got {tuple(x.shape)}")
        if x.shape[1] > self.block_size:
            raise ValueError(f"sequence length {x.shape[1]} is longer than block_size {self.block_size}")

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, n_embd) -> (B, n_head, T, head_size): give every head its own batch slot.

        ``out[b, h, t]`` is ``x[b, t, h * head_size : (h + 1) * head_size]``: first view the
        last dim as (n_head, head_size), then swap the head and time dims. (A single reshape
        straight to (B, n_head, T, head_size) has the right shape and the wrong numbers.)
        """
        raise NotImplementedError("not implemented yet")

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_head, T, head_size) -> (B, T, n_embd): the inverse of ``split_heads``,
        which puts the heads' outputs side by side in head order."""
        raise NotImplementedError("not implemented yet")

    def forward_loop(self, x: torch.Tensor) -> torch.Tensor:
        """Multi-head attention by its definition: one head at a time.

        For each head h: take its slice of query(x), key(x) and value(x) (columns
        ``h * head_size : (h + 1) * head_size``), run your step 05
        ``scaled_dot_product_attention`` on it (with the mask ``self.mask[:T, :T]`` when
        ``self.causal``), then concatenate the n_head outputs in head order along the last
        dim and apply ``out_proj``.

        Args:
            x: float tensor (B, T, n_embd), T <= block_size.

        Returns:
            float tensor (B, T, n_embd).
        """
        self.check_input(x)
        raise NotImplementedError("not implemented yet")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Multi-head attention with every head at once: no Python loop over the heads.

        Split query(x), key(x), value(x) into heads, compute the scores of all heads with one
        matrix product, scale by sqrt(head_size), mask the future when ``self.causal``,
        softmax, weight the values, merge the heads and apply ``out_proj``. Calling your
        step 05 ``scaled_dot_product_attention`` once on the 4-D tensors is fine too (PyTorch's
        ``F.scaled_dot_product_attention`` is not: here you write attention yourself). Keep
        the attention weights, detached, in ``self.last_attention`` (for looking at only:
        the output is made from the weights themselves, so that the gradient reaches every
        projection).

        Args:
            x: float tensor (B, T, n_embd), T <= block_size.

        Returns:
            float tensor (B, T, n_embd), equal to ``forward_loop(x)``. ``self.last_attention``
            is then (B, n_head, T, T).
        """
        self.check_input(x)
        raise NotImplementedError("not implemented yet")
