"""Step 10: generation, choosing the next token.

A language model never writes a word. For the next position it gives one score per token
of the vocabulary (the logits), softmax turns the scores into a probability distribution,
and then *something else* must pick one token, append it, and ask the model again. That
something is the decoding rule. It is a choice made outside the model: the same weights
write repetitive text, varied text or nonsense, depending only on the rule.

The rules of this step, from the most cautious to the most adventurous:

* **Greedy**: always take the most probable token (argmax). One prompt, one continuation.
  It tends to loop: once a phrase repeats, repeating it again is often the likeliest move.
* **Sampling**: draw the token at random, each with its probability (``torch.multinomial``).
  The model gives the same distribution every time; the *draw* is what differs, so several
  draws from one prompt give several continuations.
* **Temperature** T reshapes the distribution before the draw: divide the logits by T.
  T < 1 stretches the gaps between logits, so the likely tokens get likelier (T -> 0 is
  greedy); T > 1 shrinks them, towards the uniform distribution; T = 1 changes nothing.
* **Top-k** keeps the k most probable tokens and removes the rest. Each token in the long
  tail is unlikely, but together they can hold a lot of mass, and one draw from the tail
  can derail a sentence.
* **Top-p** (the nucleus) keeps the smallest set of most probable tokens whose mass
  reaches p. Unlike top-k it adapts to the model's confidence: one or two tokens when the
  model is sure of itself, many when it is not.

A filter removes a token by setting its logit to -inf. Softmax then gives it probability
exactly 0 and spreads the whole mass over the tokens that are left, so the next filter and
the draw see a proper distribution. (A logit of 0 is not a removed token: e^0 = 1.)

The order is temperature -> top-k -> top-p -> softmax -> draw. Temperature comes first
because it changes the probabilities that top-p measures. Top-k only looks at the ranking,
which a positive temperature never changes; top-p then works on the distribution that
top-k left, renormalised.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide the logits by the temperature.

    softmax(logits / T) is sharper than softmax(logits) for T < 1 and flatter for T > 1.
    The caller's tensor is left as it was: return a new one.

    Args:
        logits: float tensor (..., V).
        temperature: a number > 0.

    Returns:
        float tensor (..., V): ``logits / temperature``.

    Raises:
        ValueError: for temperature <= 0. Temperature 0 stands for greedy decoding, which
            ``sample_next_token`` does with an argmax instead of dividing by zero.
    """
    raise NotImplementedError("not implemented yet")


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of every row; set the others to -inf.

    A logit is kept when it is at least as large as the k-th largest logit of its row, so
    tokens tied with the k-th largest are all kept (then more than k survive). k larger
    than the vocabulary keeps everything. Each row (the last dimension) is filtered on its
    own, and the caller's tensor is left as it was.

    Args:
        logits: float tensor (..., V).
        k: how many tokens to keep, >= 1; clamped to V.

    Returns:
        float tensor (..., V): the kept logits unchanged, every other entry ``float("-inf")``.

    Raises:
        ValueError: for k < 1.
    """
    raise NotImplementedError("not implemented yet")


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the nucleus: the smallest set of most probable tokens whose mass reaches p.

    Rank the tokens of a row by probability (softmax of the logits), most probable first.
    A token is kept when the total probability of the tokens ranked above it is < p. The
    most probable token has nothing above it, so at least one token is always kept, and
    the token whose probability carries the running total across p is kept too. (Tokens of
    equal probability may be ranked in either order.) Each row is filtered on its own, and
    the caller's tensor is left as it was.

    Args:
        logits: float tensor (..., V); entries already at -inf have probability 0.
        p: the mass to reach, 0 < p <= 1. p = 1 keeps every token, up to rounding: in float32
            the running mass can reach 1 before the last tokens of probability below about
            1e-7, and those may go.

    Returns:
        float tensor (..., V): the kept logits unchanged, every other entry ``float("-inf")``.

    Raises:
        ValueError: for p outside (0, 1].
    """
    raise NotImplementedError("not implemented yet")


def sample_next_token(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                      top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Choose one next token per row: greedy for temperature 0, otherwise a filtered draw.

    For temperature > 0, in this order: ``apply_temperature``, ``top_k_filter`` (when
    top_k is not None), ``top_p_filter`` (when top_p is not None), softmax, then one draw
    per row with ``torch.multinomial(probs, num_samples=1, generator=generator)``. For
    temperature 0: the argmax of each row, with no randomness (top_k and top_p change
    nothing then). The caller's logits are left as they were.

    Args:
        logits: float tensor (B, V), the logits of the next token for each sequence.
        temperature: >= 0.
        top_k: keep the top_k most probable tokens, or None for no top-k filter.
        top_p: keep the nucleus of mass top_p, or None for no top-p filter.
        generator: the random generator to draw with (the same seed gives the same tokens).

    Returns:
        int64 tensor (B, 1): the chosen token of each row.

    Raises:
        ValueError: for temperature < 0, and from the filters for top_k < 1 or top_p
            outside (0, 1].
    """
    raise NotImplementedError("not implemented yet")


def generate(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, *, block_size: int,
             temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Extend each sequence by one token at a time, with ``sample_next_token``.

    Works with any model whose ``forward(idx)`` returns ``(logits, loss)`` with logits
    (B, T, V): the bigram model of step 00, the MLP of step 04, the GPT of step 08. Each
    step: crop the sequence to its last block_size tokens (the model reads no more),
    run the model, choose the next token from the logits at the LAST position, append it.
    The appended token is part of the context of the next step.

    The loop runs under ``torch.no_grad()`` (nothing here is trained) and with the model
    in eval mode, so that dropout does not thin the network while it writes. Afterwards
    the model is back in the mode it was in, and gradients are on again: generating a
    sample in the middle of training must not switch dropout or autograd off for the rest
    of it.

    Args:
        model: the language model.
        idx: int64 tensor (B, T), the prompt; T may be larger than block_size.
        max_new_tokens: how many tokens to append (0 returns the prompt).
        block_size: the longest context the model accepts: crop to this argument (a model
            need not carry a block_size of its own).
        temperature, top_k, top_p, generator: passed on to ``sample_next_token``.

    Returns:
        int64 tensor (B, T + max_new_tokens): the prompt followed by the new tokens. The
        caller's idx is left as it was.
    """
    raise NotImplementedError("not implemented yet")
