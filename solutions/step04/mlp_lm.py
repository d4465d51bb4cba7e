"""Step 04: a feed-forward language model, deep but blind to context.

This model is the bigram model of step 00 with a real network in the middle:

    ids (B, T) -> your Embedding -> (B, T, C) -> MLP -> (B, T, C) -> head -> logits (B, T, V)

The MLP is applied to every position on its own. However deep it is, the vector at
position t is computed from the token at position t and nothing else, so the model can
only learn P(next | current): depth adds capacity, not context. Step 05 adds the missing
piece, a way for positions to exchange information.

Two details worth knowing, both from real GPTs:

* The MLP widens to 4 * C inside, then comes back to C, the shape of the feed-forward
  half of every transformer block.
* The head is *tied* to the embedding: it reuses the embedding table as its weight, so
  ``logits[..., v] = h · weight[v]``. A token's vector is used both to read it in and to
  score it as the next token. That halves the parameters of the two biggest matrices and
  usually helps small models.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..step03.embedding import Embedding, check_ids


def parameter_count(vocab_size: int, n_embd: int, n_hidden_layers: int) -> int:
    """The number of learned numbers in ``FeedForwardLM(vocab_size, n_embd, n_hidden_layers)``.

    Work it out by hand from the architecture below (weights and biases of every layer,
    the tied head counted once), then write it as a formula: the suite compares it with
    the count of a real model for several sizes. Do not build a model here.

    Returns:
        int: V*C for the embedding, plus the weights and biases of the n_hidden_layers + 1
        Linear layers of the MLP.
    """
    ### BEGIN SOLUTION
    V, C, hidden = vocab_size, n_embd, 4 * n_embd
    into_hidden = C * hidden + hidden  # the first layer: C -> 4C
    hidden_to_hidden = hidden * hidden + hidden  # each further hidden layer: 4C -> 4C
    out_of_hidden = hidden * C + C  # the last layer: 4C -> C
    return V * C + into_hidden + (n_hidden_layers - 1) * hidden_to_hidden + out_of_hidden
    ### END SOLUTION


class FeedForwardLM(nn.Module):
    """Embedding -> MLP -> tied head, applied to each position independently."""

    def __init__(self, vocab_size: int, n_embd: int, n_hidden_layers: int = 2):
        """Build the three parts.

        * ``token_embedding``: your step 03 ``Embedding(vocab_size, n_embd)``.
        * ``mlp``: ``n_hidden_layers`` hidden layers of width 4 * n_embd, each an
          ``nn.Linear`` (with bias) followed by a ReLU, then one ``nn.Linear`` (with
          bias) back to n_embd and no activation after it. For n_hidden_layers = 2:
          Linear(C, 4C), ReLU, Linear(4C, 4C), ReLU, Linear(4C, C).
        * the head: no parameters of its own. It is tied to the embedding: the logits are
          the dot products of the MLP's output with every row of ``token_embedding.weight``
          (no bias), so the model has exactly one (vocab_size, n_embd) matrix.
        """
        super().__init__()
        if vocab_size < 1 or n_embd < 1:
            raise ValueError(f"vocab_size and n_embd must be positive, got {vocab_size} and {n_embd}")
        if n_hidden_layers < 1:
            raise ValueError(f"the MLP needs at least one hidden layer, got n_hidden_layers={n_hidden_layers}")
        self.vocab_size, self.n_embd, self.n_hidden_layers = vocab_size, n_embd, n_hidden_layers
        ### BEGIN SOLUTION
        self.token_embedding = Embedding(vocab_size, n_embd)
        hidden = 4 * n_embd
        layers: list[nn.Module] = [nn.Linear(n_embd, hidden), nn.ReLU()]
        for _ in range(n_hidden_layers - 1):
            layers += [nn.Linear(hidden, hidden), nn.ReLU()]
        layers.append(nn.Linear(hidden, n_embd))
        self.mlp = nn.Sequential(*layers)
        ### END SOLUTION

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Predict the next token at every position, from the current token alone.

        Args:
            idx: int64 tensor of shape (B, T), the current tokens.
            targets: optional int64 tensor of shape (B, T), the true next tokens.

        Returns:
            ``(logits, loss)``: logits of shape (B, T, vocab_size), and the mean
            cross-entropy over all B * T positions as a scalar tensor, or ``None`` when
            targets is None (the same interface as step 00's ``BigramLM``).
        """
        check_ids(idx, self.vocab_size)
        if idx.dim() != 2:
            raise ValueError(f"idx must have shape (B, T), got {tuple(idx.shape)}")
        if targets is not None and targets.shape != idx.shape:
            raise ValueError(f"targets must have the shape of idx {tuple(idx.shape)}, got {tuple(targets.shape)}")
        ### BEGIN SOLUTION
        x = self.token_embedding(idx)  # (B, T, C)
        h = self.mlp(x)  # (B, T, C): each position on its own
        logits = h @ self.token_embedding.weight.T  # (B, T, V): the tied head
        if targets is None:
            return logits, None
        B, T, V = logits.shape
        loss = F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T))
        return logits, loss
        ### END SOLUTION

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, generator: torch.Generator | None = None):
        """Extend each sequence by sampling one token at a time (as in step 00).

        Args:
            idx: int64 tensor of shape (B, T), the prompt.
            max_new_tokens: how many tokens to append.
            generator: the random generator to sample with (for reproducible samples).

        Returns:
            int64 tensor of shape (B, T + max_new_tokens): the prompt followed by the new
            tokens, each drawn with ``torch.multinomial`` from the softmax of the logits at
            the last position.
        """
        ### BEGIN SOLUTION
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -1:])  # (B, 1, V): the last token is all this model can use
            probs = F.softmax(logits[:, -1, :], dim=-1)  # (B, V)
            next_token = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
            idx = torch.cat([idx, next_token], dim=1)
        return idx
        ### END SOLUTION
