"""Token data with known statistics, for suites that train a model and judge where it ends up."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def markov_chain(generator: torch.Generator, vocab_size: int, length: int) -> torch.Tensor:
    """``length`` token ids from a random, strongly skewed table of transition probabilities.

    Skewed on purpose: its conditional entropy lies far below ln V, where a model whose
    loss is not the cross-entropy of its logits stops.
    """
    transitions = F.softmax(3 * torch.randn(vocab_size, vocab_size, generator=generator), dim=1)
    ids = [0]
    for _ in range(length - 1):
        ids.append(int(torch.multinomial(transitions[ids[-1]], 1, generator=generator)))
    return torch.tensor(ids)


def conditional_entropy(ids: torch.Tensor, vocab_size: int) -> float:
    """H(next | current) of the pairs in ``ids``, in nats: the lowest cross-entropy any model
    that sees only the current token can reach on this data."""
    counts = torch.zeros(vocab_size, vocab_size, dtype=torch.float64)
    counts.index_put_((ids[:-1], ids[1:]), torch.ones(ids.numel() - 1, dtype=torch.float64), accumulate=True)
    p_pair = counts / counts.sum()
    p_next = counts / counts.sum(dim=1, keepdim=True).clamp(min=1)
    return float(-(p_pair[p_pair > 0] * p_next[p_pair > 0].log()).sum())
