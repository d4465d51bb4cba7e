"""Step 09, part 1: the loss, written out.

Every model so far ended in ``F.cross_entropy``. Here you write it yourself, because the
way it is computed decides whether training survives large logits.

For one position with logits z (a vector of V scores) and true next token y, the loss is
the negative log-probability that softmax gives y:

    loss = -log( exp(z[y]) / sum_j exp(z[j]) ) = log(sum_j exp(z[j])) - z[y]

Written as it reads, ``exp(z)`` overflows to inf as soon as a logit passes ~88 in float32,
and inf / inf is nan: one large logit and the whole run is lost. The fix costs one line.
Softmax does not change when the same number is subtracted from every logit, so subtract
the largest one first:

    m = max_j z[j]
    log(sum_j exp(z[j])) = m + log(sum_j exp(z[j] - m))

Now every exponent is <= 0, the largest term is exp(0) = 1, and nothing overflows. This
is the "log-sum-exp trick"; ``F.cross_entropy`` does the same inside.

The mean loss over a data set has two friendlier faces, both used to report training:

* **perplexity** = exp(loss): the model is as unsure as if it chose uniformly among that
  many tokens. A model that knows nothing has perplexity vocab_size.
* **bits per token** = loss / ln 2: the average number of bits an ideal coder driven by the
  model needs per token. With the course's character tokenizer, bits per character.
"""

from __future__ import annotations

import math

import torch


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy of ``targets`` under ``softmax(logits)``, by hand.

    Use the log-sum-exp trick above so that logits in the thousands give the right, finite
    loss. Build it from tensor operations (max, exp, sum, log, gather or indexing): not
    ``F.cross_entropy``, ``F.log_softmax``, ``F.nll_loss`` or ``torch.logsumexp``, which
    would do the step's work for you. Autograd must flow through it: training uses it.

    Args:
        logits: float tensor (..., V), e.g. (N, V) or (B, T, V).
        targets: int64 tensor of the leading shape of ``logits``, e.g. (N,) or (B, T), with
            values in [0, V).

    Returns:
        A float scalar tensor: the loss averaged over every position.

    Raises:
        ValueError: when ``targets.shape`` is not ``logits.shape[:-1]``.
    """
    if logits.dim() < 1 or tuple(targets.shape) != tuple(logits.shape[:-1]):
        raise ValueError(f"targets must have the shape of logits without its last dim, "
                         f"{tuple(logits.shape[:-1])}; got {tuple(targets.shape)}")
    ### BEGIN SOLUTION
    V = logits.shape[-1]
    logits = logits.reshape(-1, V)  # (N, V)
    targets = targets.reshape(-1)  # (N,)
    largest = logits.max(dim=-1, keepdim=True).values.detach()  # (N, 1); a constant shift: no gradient needed
    shifted = logits - largest  # every entry <= 0
    log_normaliser = shifted.exp().sum(dim=-1).log()  # (N,): log sum_j exp(z_j - m)
    picked = shifted[torch.arange(targets.numel()), targets]  # (N,): z_y - m
    return (log_normaliser - picked).mean()
    ### END SOLUTION


def perplexity(loss: float) -> float:
    """exp(loss): the number of equally likely tokens the model is as unsure as."""
    return math.exp(loss)


def bits_per_token(loss: float) -> float:
    """The loss in bits rather than nats: loss / ln 2."""
    return loss / math.log(2)
