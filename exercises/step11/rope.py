"""Step 11a: rotary position embeddings (RoPE), position as a rotation.

Step 03 gave every position a vector of its own, added to the token's embedding once, at
the bottom of the model. Two things about that are awkward. The model can only learn
positions it has seen (a table of block_size rows), and attention, which is what cares
about order, only sees position mixed into everything else. What attention usually needs
is not "I am at 517" but "that token is 3 before me".

RoPE (Su et al., 2021; used by Llama, Mistral, Qwen and most models since) puts position
into the attention scores directly. Cut a query (or key) of head_size numbers into
head_size / 2 pairs and read each pair as a point in the plane. At position m, turn pair i
by the angle m * theta_i, where theta_i = base ** (-2i / head_size): pair 0 turns by one
radian per position, the last pairs by tiny angles, like the hands of a clock from the
second hand to the hour hand. A rotation keeps lengths, and turning q by angle a and k by
angle b changes their dot product exactly as turning q by a - b would. So the score of a
query at m for a key at n depends on the two vectors and on m - n only: relative position,
with no table to learn and no limit but the angles the model was trained on.

Only queries and keys turn. Values carry content, not position: they are left alone.
"""

from __future__ import annotations

import torch


def rope_angles(seq_len: int, head_size: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The cosines and sines of every rotation RoPE makes, for positions 0 .. seq_len - 1.

    Pair i of a vector at position m turns by the angle ``m * theta_i`` with
    ``theta_i = base ** (-2 * i / head_size)``, i = 0 .. head_size / 2 - 1 (so pair 0, with
    theta_0 = 1, turns fastest). Compute the angles in float64 and return float32: a
    position of a few thousand times a frequency loses digits in float32.

    Args:
        seq_len: how many positions, at least 1.
        head_size: the size of one head's query and key, even, at least 2.
        base: sets the slowest frequency (10000 in the paper and in Llama).

    Returns:
        (cos, sin), float32 tensors of shape (seq_len, head_size // 2):
        ``cos[m, i] = cos(m * theta_i)`` and ``sin[m, i] = sin(m * theta_i)``.

    Raises:
        ValueError: when head_size is odd or below 2 (the numbers go in pairs), or seq_len < 1.
    """
    if head_size < 2 or head_size % 2:
        raise ValueError(f"RoPE turns pairs of numbers: head_size must be even and at least 2, got {head_size}")
    if seq_len < 1:
        raise ValueError(f"seq_len must be at least 1, got {seq_len}")
    raise NotImplementedError("not implemented yet")


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Turn every pair of numbers of x by its position's angle.

    The pairs are neighbours: pair i is ``(x[..., 2i], x[..., 2i + 1])``, the layout of the
    RoPE paper (read as a complex number, the pair is multiplied by e^(i * angle)). A pair
    (a, b) turned by the angle with cosine c and sine s becomes ``(a*c - b*s, a*s + b*c)``.
    Row t of cos and sin belongs to row t of x: to place x at positions start, start + 1,
    ..., pass ``cos[start : start + T]`` (and the same rows of sin).

    Args:
        x: float tensor (..., T, head_size), e.g. the queries (B, n_head, T, head_size).
        cos, sin: float tensors (T, head_size // 2), rows of ``rope_angles``.

    Returns:
        A new tensor of x's shape and dtype; x itself is not changed.

    Raises:
        ValueError: when cos and sin do not have the shape (T, head_size // 2) for this x.
    """
    if x.dim() < 2 or cos.shape != sin.shape or tuple(cos.shape) != (x.shape[-2], x.shape[-1] // 2) \
            or x.shape[-1] % 2:
        raise ValueError(f"x (..., T, head_size) needs cos and sin of shape (T, head_size // 2): got x "
                         f"{tuple(x.shape)}, cos {tuple(cos.shape)}, sin {tuple(sin.shape)}")
    raise NotImplementedError("not implemented yet")
