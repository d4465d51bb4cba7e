"""Step 05: attention, the way tokens talk to each other.

Up to step 04 every position was processed alone. Attention lets position t gather
information from other positions: its output is a *weighted average* of vectors from the
sequence, with weights it computes itself.

Start from the simplest version, with no learning at all: let every position take the
plain average of itself and all earlier positions. That already mixes information along
the sequence, and it respects the rule of a language model: position t may look at
positions 0..t, never at the future it is trying to predict. We write it three ways
(a loop, a matrix product with a triangular matrix, a softmax over masked scores) because
the third way is attention with all scores equal to zero.

Attention replaces the zeros with learned scores. Each position emits a *query* (what am
I looking for?), a *key* (what do I contain?) and a *value* (what do I pass on?). The
score of position t for position s is the dot product query_t · key_s, divided by
sqrt(d_k) so that the scores do not grow with the vector size (large scores make the
softmax nearly one-hot, and its gradient nearly zero). A causal mask sets the scores of
future positions to -inf before the softmax, so they get weight exactly zero.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def check_attention_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> None:
    """Raise ValueError unless q, k, v (and the mask) have shapes that attention can combine."""
    if q.dim() < 2 or k.dim() < 2 or v.dim() < 2:
        raise ValueError(f"q, k, v need at least 2 dims (T, d), got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys must have the same size d_k, got {q.shape[-1]} and {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"every key needs a value: k has {k.shape[-2]} positions, v has {v.shape[-2]}")
    if mask is not None and mask.dtype != torch.bool:
        raise ValueError(f"the mask must be a bool tensor (True = may attend), got {mask.dtype}")


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d_k)) v, written out in at most 30 lines.

    Args:
        q: float tensor (..., T_q, d_k), the queries.
        k: float tensor (..., T_k, d_k), the keys.
        v: float tensor (..., T_k, d_v), the values.
        mask: optional bool tensor that broadcasts to (..., T_q, T_k): True where query t may
            attend to key s, False where it may not. Masked scores become -inf *before* the
            softmax. Every query may attend to at least one key.

    Returns:
        ``(out, weights)``: out (..., T_q, d_v), and the attention weights (..., T_q, T_k),
        each row a probability distribution over the keys; ``out = weights @ v``.

    Raises:
        ValueError: from ``check_attention_inputs``, for queries and keys of different sizes,
            keys and values of different numbers, or a mask that is not bool.
    """
    check_attention_inputs(q, k, v, mask)
    ### BEGIN SOLUTION
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., T_q, T_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # a future key gets weight exactly 0
    weights = F.softmax(scores, dim=-1)  # each query's row sums to 1 over the keys
    return weights @ v, weights  # (..., T_q, d_v), (..., T_q, T_k)
    ### END SOLUTION


def causal_mask(T: int) -> torch.Tensor:
    """The (T, T) bool mask of a language model, built with ``torch.tril``.

    Returns:
        bool tensor (T, T): ``mask[t, s]`` is True when s <= t (position t may see itself
        and everything before it), False above the diagonal.
    """
    if T < 1:
        raise ValueError(f"T must be positive, got {T}")
    ### BEGIN SOLUTION
    return torch.tril(torch.ones(T, T, dtype=torch.bool))
    ### END SOLUTION


# --- the averaging baseline, three ways ---------------------------------------------------

def average_previous_loop(x: torch.Tensor) -> torch.Tensor:
    """Average each position with all earlier ones, with Python loops (slow but plain).

    Args:
        x: float tensor (B, T, C).

    Returns:
        float tensor (B, T, C): ``out[b, t] = x[b, :t + 1].mean(dim=0)``.
    """
    ### BEGIN SOLUTION
    B, T, C = x.shape
    out = torch.zeros_like(x)
    for b in range(B):
        for t in range(T):
            out[b, t] = x[b, : t + 1].mean(dim=0)
    return out
    ### END SOLUTION


def average_previous_matmul(x: torch.Tensor) -> torch.Tensor:
    """The same averages as one matrix product: a lower-triangular (T, T) matrix whose
    rows are normalised to sum to 1, times x. No Python loop.

    Args:
        x: float tensor (B, T, C).

    Returns:
        float tensor (B, T, C), equal to ``average_previous_loop(x)``.
    """
    ### BEGIN SOLUTION
    T = x.shape[1]
    weights = torch.tril(torch.ones(T, T, dtype=x.dtype))
    weights = weights / weights.sum(dim=1, keepdim=True)  # row t holds 1/(t+1) in columns 0..t
    return weights @ x  # (T, T) @ (B, T, C) -> (B, T, C)
    ### END SOLUTION


def average_previous_softmax(x: torch.Tensor) -> torch.Tensor:
    """The same averages as attention with equal scores: start from a (T, T) matrix of
    zeros, set the future to -inf with ``causal_mask``, take the softmax over each row,
    and multiply with x.

    Args:
        x: float tensor (B, T, C).

    Returns:
        float tensor (B, T, C), equal to ``average_previous_loop(x)``.
    """
    ### BEGIN SOLUTION
    T = x.shape[1]
    scores = torch.zeros(T, T, dtype=x.dtype).masked_fill(~causal_mask(T), float("-inf"))
    return F.softmax(scores, dim=-1) @ x
    ### END SOLUTION


# --- one head of causal self-attention -------------------------------------------------------

class CausalSelfAttentionHead(nn.Module):
    """One head of causal self-attention: queries, keys and values are learned projections
    of the same sequence x."""

    def __init__(self, n_embd: int, head_size: int, block_size: int):
        """Three projections without bias, ``nn.Linear(n_embd, head_size, bias=False)``,
        named ``query``, ``key`` and ``value``; and ``causal_mask(block_size)`` registered
        as a buffer named ``mask`` (it is not learned, but it should follow the module to its
        device).
        """
        super().__init__()
        if n_embd < 1 or head_size < 1 or block_size < 1:
            raise ValueError(f"sizes must be positive, got n_embd={n_embd}, head_size={head_size}, "
                             f"block_size={block_size}")
        self.n_embd, self.head_size, self.block_size = n_embd, head_size, block_size
        self.last_attention: torch.Tensor | None = None
        ### BEGIN SOLUTION
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.register_buffer("mask", causal_mask(block_size))
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend from every position to itself and the positions before it.

        Use your ``scaled_dot_product_attention`` with the first T rows and columns of the
        mask, and keep the attention weights, detached, in ``self.last_attention`` so that
        they can be printed after a forward pass. That copy is only for looking at: the
        output is made from the weights themselves, so that the gradient reaches query, key
        and value.

        Args:
            x: float tensor (B, T, n_embd), T <= block_size.

        Returns:
            float tensor (B, T, head_size). ``self.last_attention`` is then (B, T, T).
        """
        if x.dim() != 3 or x.shape[-1] != self.n_embd:
            raise ValueError(f"x must have shape (B, T, {self.n_embd}), got {tuple(x.shape)}")
        if x.shape[1] > self.block_size:
            raise ValueError(f"sequence length {x.shape[1]} is longer than block_size {self.block_size}")
        ### BEGIN SOLUTION
        T = x.shape[1]
        q, k, v = self.query(x), self.key(x), self.value(x)  # (B, T, head_size) each
        out, weights = scaled_dot_product_attention(q, k, v, mask=self.mask[:T, :T])
        self.last_attention = weights.detach()  # (B, T, T)
        return out
        ### END SOLUTION
