"""Step 00: the bigram language model, next-token prediction with no context.

A language model gives a probability to every possible next token. The bigram model is
the smallest one worth the name: it looks at the *current token only*. All it can know
fits in one table with a row per current token and a column per next token.

We build that table twice:

1. By counting. How often does token j follow token i? Divide each row by its total and
   you have P(next = j | current = i), the maximum-likelihood estimate. Add-k smoothing
   adds k to every cell first, so pairs never seen still get a little probability.
2. As a neural network whose only parameter is the same table, stored as logits and
   learned by gradient descent on cross-entropy. Nothing here needs a network, and that
   is the point: the interface, ``forward(idx, targets) -> (logits, loss)`` and
   ``generate(idx, max_new_tokens)``, is the one every later model of the course keeps.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def bigram_counts(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Count how often each token is followed by each other token.

    Args:
        ids: int64 tensor of shape (N,), token ids in [0, vocab_size).
        vocab_size: the number of distinct tokens, V.

    Returns:
        int64 tensor of shape (V, V): ``counts[i, j]`` is the number of positions t with
        ``ids[t] == i`` and ``ids[t + 1] == j``. N tokens hold N - 1 such pairs.
    """
    if ids.dim() != 1:
        raise ValueError(f"ids must be 1-D (N,), got shape {tuple(ids.shape)}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"ids must lie in [0, {vocab_size}), got min {int(ids.min())}, max {int(ids.max())}")
    raise NotImplementedError("not implemented yet")


def bigram_probs(counts: torch.Tensor, k: float = 1.0) -> torch.Tensor:
    """Turn a count table into next-token probabilities, with add-k smoothing.

    Args:
        counts: int64 tensor of shape (V, V) from ``bigram_counts``.
        k: pseudo-count added to every cell before normalising (k = 0: no smoothing).

    Returns:
        float32 tensor of shape (V, V): ``probs[i, j] = (counts[i, j] + k) / (row total + k * V)``,
        so every row sums to 1.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if k == 0 and bool((counts.sum(dim=1) == 0).any()):
        raise ValueError("with k = 0 a token that never occurs has no distribution; use k > 0")
    raise NotImplementedError("not implemented yet")


class BigramLM(nn.Module):
    """A bigram language model whose only parameter is a (V, V) table of logits.

    Row i of the table holds the logits of the token that follows token i. Feeding a
    batch of token ids through the model is therefore just a row lookup per position.
    """

    def __init__(self, vocab_size: int):
        """Create the (vocab_size, vocab_size) table of logits as the model's only parameter.

        Start it at zeros: every row is then a uniform distribution over the next token.
        """
        super().__init__()
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be positive, got {vocab_size}")
        self.vocab_size = vocab_size
        raise NotImplementedError("not implemented yet")

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Predict the next token at every position.

        Args:
            idx: int64 tensor of shape (B, T), the current tokens.
            targets: optional int64 tensor of shape (B, T), the true next tokens.

        Returns:
            ``(logits, loss)``: logits of shape (B, T, V), and the mean cross-entropy over
            all B * T positions as a scalar tensor, or ``None`` when targets is None.
        """
        raise NotImplementedError("not implemented yet")

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, generator: torch.Generator | None = None):
        """Extend each sequence by sampling one token at a time.

        Args:
            idx: int64 tensor of shape (B, T), the prompt.
            max_new_tokens: how many tokens to append.
            generator: the random generator to sample with (for reproducible samples).

        Returns:
            int64 tensor of shape (B, T + max_new_tokens): the prompt followed by the new
            tokens. Each new token is drawn with ``torch.multinomial`` from the softmax of
            the logits at the last position.
        """
        raise NotImplementedError("not implemented yet")


def train(model: nn.Module, ids: torch.Tensor, steps: int = 200, batch_size: int = 32, block_size: int = 8,
          lr: float = 0.1, seed: int = 0) -> list[float]:
    """Train ``model`` on random windows of ``ids`` with AdamW; return the loss of every step.

    This loop is given, not graded: read it, then use it for the step's experiments. Step 02
    builds the batches properly and step 09 takes training apart.
    """
    if ids.numel() <= block_size:
        raise ValueError(f"need more than block_size={block_size} tokens to train, got {ids.numel()}")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        starts = torch.randint(0, ids.numel() - block_size, (batch_size,), generator=generator)
        x = torch.stack([ids[s:s + block_size] for s in starts.tolist()])
        y = torch.stack([ids[s + 1:s + 1 + block_size] for s in starts.tolist()])
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
