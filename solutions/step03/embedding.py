"""Step 03a: an embedding is a row lookup.

A token id is a name, not a quantity: token 41 is no more "like" token 42 than it is like
token 7. Feeding the raw number into a network would claim exactly that, so every
language model first swaps each id for a vector of its own. The vectors are the rows of
one matrix, the *embedding table* ``weight`` of shape (vocab_size, n_embd), and they are
learned like any other weight: training moves tokens used alike close together.

Looking a row up is indexing, ``weight[idx]``, and it works for ids of any shape: a
(B, T) batch of ids becomes a (B, T, n_embd) batch of vectors. The same lookup can be
written as a matrix product with one-hot rows, ``one_hot(idx) @ weight``: row i of the
one-hot matrix picks row idx[i] of ``weight``. That view explains why the gradient of a
lookup reaches only the rows that were looked up, and why indexing, which skips all the
multiplications by zero, is what real models do.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def check_ids(idx: torch.Tensor, vocab_size: int) -> None:
    """Raise ValueError unless ``idx`` holds int64 ids in [0, vocab_size).

    int64 (``torch.long``) only, the type of every id in this course: a uint8 tensor used as
    an index is read as a mask (weight[mask] picks the rows where it is nonzero), int16 cannot
    index at all, and ``F.one_hot`` takes int64 alone.
    """
    if not isinstance(idx, torch.Tensor) or idx.dtype != torch.int64:
        got = getattr(idx, "dtype", type(idx).__name__)
        raise ValueError(f"token ids must be an int64 tensor (torch.long), got {got}")
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size}), got min {int(idx.min())}, max {int(idx.max())}")


class Embedding(nn.Module):
    """A table of learned vectors, one row per token id (what ``nn.Embedding`` does, by hand)."""

    def __init__(self, num_embeddings: int, embedding_dim: int):
        """Create the table as a parameter named ``weight`` of shape (num_embeddings, embedding_dim),
        with entries drawn from N(0, 1) (as ``nn.Embedding`` does)."""
        super().__init__()
        if num_embeddings < 1 or embedding_dim < 1:
            raise ValueError(f"an embedding needs positive sizes, got ({num_embeddings}, {embedding_dim})")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        ### BEGIN SOLUTION
        self.weight = nn.Parameter(torch.randn(num_embeddings, embedding_dim))
        ### END SOLUTION

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Look up the vector of every id by indexing the table (no ``nn.Embedding``, no matrix product).

        Args:
            idx: int64 tensor of any shape, e.g. (B, T), with ids in [0, num_embeddings).

        Returns:
            float tensor of shape ``idx.shape + (embedding_dim,)``: ``out[..., :] = weight[idx[...]]``.
            Gradients flow back into the rows that were looked up, and only into those.
        """
        check_ids(idx, self.num_embeddings)
        ### BEGIN SOLUTION
        return self.weight[idx]  # (..., C): one row per id
        ### END SOLUTION


def one_hot_lookup(idx: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The same lookup written as a matrix product: ``one_hot(idx) @ weight``.

    Args:
        idx: int64 tensor of any shape, ids in [0, V).
        weight: float tensor of shape (V, C).

    Returns:
        float tensor of shape ``idx.shape + (C,)``, equal to ``weight[idx]``.
    """
    check_ids(idx, weight.shape[0])
    ### BEGIN SOLUTION
    one_hot = F.one_hot(idx, num_classes=weight.shape[0]).to(weight.dtype)  # (..., V)
    return one_hot @ weight  # (..., V) @ (V, C) -> (..., C)
    ### END SOLUTION
