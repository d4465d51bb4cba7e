"""Step 03b: where a token stands, as a vector added to what it is.

Attention (step 05) mixes the vectors of a sequence with weights computed from their
contents alone. Shuffle the tokens and each output is shuffled along with them: without
help, the model cannot tell "dog bites man" from "man bites dog". So we add to each token
vector a vector that depends only on the position t.

Two ways to get those position vectors:

* **Learned** (GPT-2): a second table, (block_size, n_embd), looked up with
  0, 1, ..., T - 1. Simple, but it knows nothing past block_size.
* **Sinusoidal** (the original transformer): a fixed table. Dimension pair (2i, 2i + 1)
  is a sine and a cosine of frequency 1 / base^(2i / n_embd) with base 10000,

      PE[t, 2i]     = sin(t / base^(2i / n_embd))
      PE[t, 2i + 1] = cos(t / base^(2i / n_embd)),

  so the first dimensions turn fast and the last ones slowly, like the hands of a clock,
  and every position gets a different pattern.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .embedding import Embedding, check_ids


def sinusoidal_encoding(num_positions: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """The sinusoidal position table of the original transformer.

    Args:
        num_positions: how many positions, T.
        dim: the vector size, n_embd (even).
        base: the base of the frequencies, 10000 in the paper.

    Returns:
        float32 tensor of shape (T, dim): sin on the even dims, cos on the odd dims,
        ``PE[t, 2i] = sin(t / base**(2i / dim))`` and ``PE[t, 2i + 1] = cos(t / base**(2i / dim))``.
    """
    if dim < 2 or dim % 2:
        raise ValueError(f"the sinusoidal encoding pairs a sine with a cosine: dim must be even, got {dim}")
    if num_positions < 1:
        raise ValueError(f"num_positions must be positive, got {num_positions}")
    ### BEGIN SOLUTION
    positions = torch.arange(num_positions, dtype=torch.float32)[:, None]  # (T, 1)
    frequencies = base ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim)  # (dim / 2,)
    angles = positions * frequencies  # (T, dim / 2)
    table = torch.empty(num_positions, dim)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table
    ### END SOLUTION


class LearnedPositionalEmbedding(nn.Module):
    """One learned vector per position 0 .. block_size - 1."""

    def __init__(self, block_size: int, dim: int):
        """A parameter named ``weight`` of shape (block_size, dim), drawn from N(0, 0.02^2).

        Small and random, as GPT-2 starts it: random, so that every position differs from the
        first step; small, so that the positions do not drown the token vectors.
        """
        super().__init__()
        self.block_size = block_size
        ### BEGIN SOLUTION
        self.weight = nn.Parameter(torch.randn(block_size, dim) * 0.02)
        ### END SOLUTION

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """The position vectors for a batch of token ids of shape (B, T).

        Returns:
            float tensor of shape (T, dim): row t is the vector of position t. It broadcasts
            when added to (B, T, dim) token vectors.

        Raises:
            ValueError: if T > block_size (the table has no row for those positions).
        """
        T = idx.shape[-1]
        if T > self.block_size:
            raise ValueError(f"sequence length {T} is longer than the position table (block_size {self.block_size})")
        ### BEGIN SOLUTION
        return self.weight[torch.arange(T, device=idx.device)]  # (T, dim)
        ### END SOLUTION


class TokenAndPositionEmbedding(nn.Module):
    """The input layer of a GPT: token vector + position vector."""

    def __init__(self, vocab_size: int, block_size: int, n_embd: int, positions: str | None = "learned"):
        """Build your ``Embedding`` for the tokens and the position vectors.

        Args:
            positions: "learned" (a ``LearnedPositionalEmbedding``), "sinusoidal" (a fixed
                ``sinusoidal_encoding(block_size, n_embd)`` table, registered as a buffer),
                or None (no positions at all: for the experiment below).
        """
        super().__init__()
        if positions not in ("learned", "sinusoidal", None):
            raise ValueError(f"positions must be 'learned', 'sinusoidal' or None, got {positions!r}")
        self.vocab_size, self.block_size, self.positions = vocab_size, block_size, positions
        ### BEGIN SOLUTION
        self.token = Embedding(vocab_size, n_embd)
        if positions == "learned":
            self.position = LearnedPositionalEmbedding(block_size, n_embd)
        elif positions == "sinusoidal":
            self.register_buffer("position_table", sinusoidal_encoding(block_size, n_embd))
        ### END SOLUTION

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Token vectors plus position vectors.

        Args:
            idx: int64 tensor of shape (B, T), T <= block_size.

        Returns:
            float tensor of shape (B, T, n_embd): ``out[b, t] = token(idx[b, t]) + position(t)``.
        """
        check_ids(idx, self.vocab_size)
        if idx.dim() != 2:
            raise ValueError(f"idx must have shape (B, T), got {tuple(idx.shape)}")
        if idx.shape[1] > self.block_size:
            raise ValueError(f"sequence length {idx.shape[1]} is longer than block_size {self.block_size}")
        ### BEGIN SOLUTION
        x = self.token(idx)  # (B, T, C)
        if self.positions == "learned":
            x = x + self.position(idx)  # (T, C) broadcasts over B
        elif self.positions == "sinusoidal":
            x = x + self.position_table[: idx.shape[1]]
        return x
        ### END SOLUTION
