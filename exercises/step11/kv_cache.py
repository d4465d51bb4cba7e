"""Step 11b: the KV cache, generating without recomputing the past.

``generate`` of step 10 runs the whole context through the model for every new token.
Most of that work was done before: in a causal model, the keys and values of positions
0 .. t-1 do not depend on anything that comes later, so they are the same at every step.
A KV cache keeps them. Each attention layer stores the keys and values of the positions
it has processed; for a new token it computes one query, one key and one value, appends
the key and value to its store, and lets the query attend to everything stored.

The saving is large: the projections and MLPs run once per token instead of once per
token per step. The cost is memory, 2 x n_layer x n_kv_head x head_size numbers per
position of context: for a large model and a long context, gigabytes. That memory is what
grouped-query attention (gqa.py) shrinks.
"""

from __future__ import annotations

import torch


class KVCache:
    """The keys and values one attention layer has seen so far, for a batch of sequences."""

    def __init__(self, max_length: int):
        """An empty cache that will hold at most ``max_length`` positions (the layer's block_size).

        ``keys`` and ``values`` start as None; after the first ``append`` they are tensors of
        shape (B, n_kv_head, length, head_size).
        """
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {max_length}")
        self.max_length = max_length
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None

    @property
    def length(self) -> int:
        """How many positions the cache holds: 0 when empty."""
        raise NotImplementedError("not implemented yet")

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the keys and values of T new positions after those already held.

        Args:
            k, v: float tensors (B, n_kv_head, T, head_size), the new positions' keys and
                values (keys already turned by RoPE: a stored key never changes again).

        Returns:
            (keys, values): everything held now, old positions first, each
            (B, n_kv_head, length, head_size). These are what the new queries attend to.

        Raises:
            ValueError: when k and v differ in shape, when B, n_kv_head or head_size differ
                from what the cache holds, or when the cache would pass max_length.
        """
        if k.dim() != 4 or k.shape != v.shape:
            raise ValueError(f"k and v must both be (B, n_kv_head, T, head_size), got {tuple(k.shape)} and "
                             f"{tuple(v.shape)}")
        if self.keys is not None and (k.shape[:2] != self.keys.shape[:2] or k.shape[3] != self.keys.shape[3]):
            raise ValueError(f"the cache holds keys of shape {tuple(self.keys.shape)} (B, n_kv_head, length, "
                             f"head_size); new keys {tuple(k.shape)} do not fit: one cache per layer, one batch "
                             "per cache")
        held = 0 if self.keys is None else self.keys.shape[2]  # self.length, which is yours to write
        if held + k.shape[2] > self.max_length:
            raise ValueError(f"the cache holds at most {self.max_length} positions (the block size); appending "
                             f"{k.shape[2]} would pass it: start a new cache, or crop the context")
        raise NotImplementedError("not implemented yet")


def kv_cache_size(n_layer: int, n_kv_head: int, head_size: int, seq_len: int, batch_size: int = 1) -> int:
    """How many numbers the KV caches of a whole model hold after ``seq_len`` positions.

    Every layer has its own cache, and a cache holds keys and values: one vector of
    head_size numbers per key/value head, per position, per sequence of the batch.

    Returns:
        int: the count of numbers (multiply by 2 for bytes in bfloat16, by 4 in float32).
    """
    raise NotImplementedError("not implemented yet")
