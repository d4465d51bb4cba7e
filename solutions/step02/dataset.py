"""Step 02: a dataset for next-token prediction, made by shifting.

Nobody labels text for a language model: the text labels itself. Take a window of T
tokens as the input x; the target y is the same window moved one token to the right.
At every position t the model sees x[0..t] and must predict y[t], the token that really
came next. One window therefore holds T training examples, and a text of N tokens holds
N - T windows (every start from 0 to N - T - 1 has a full target).

    ids:  10 11 12 13 14
    x:    10 11 12          y: 11 12 13      (start 0, T = 3)
    x:       11 12 13       y:    12 13 14   (start 1)

Training draws random windows and stacks them into a batch of shape (B, T). The
validation text is the *end* of the corpus, cut off in one piece: windows overlap, so a
random split would put almost every validation window's tokens in the training set too.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


def _check_ids(ids: torch.Tensor, block_size: int) -> None:
    if not isinstance(ids, torch.Tensor) or ids.dim() != 1:
        raise ValueError(f"ids must be a 1-D tensor of token ids (N,), got {getattr(ids, 'shape', type(ids))}")
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    if ids.numel() <= block_size:
        raise ValueError(f"need more than block_size={block_size} tokens for one (x, y) window, got {ids.numel()}")


def shift_pair(ids: torch.Tensor, start: int, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The training window that begins at ``start``.

    Args:
        ids: int64 tensor of shape (N,).
        start: first position of the window, in [0, N - block_size).
        block_size: the window length T.

    Returns:
        ``(x, y)``, two int64 tensors of shape (T,): x = ids[start : start + T] and y the
        same window shifted one token to the right.
    """
    _check_ids(ids, block_size)
    if not 0 <= start < ids.numel() - block_size:
        raise ValueError(f"start must lie in [0, {ids.numel() - block_size}), got {start}")
    ### BEGIN SOLUTION
    x = ids[start:start + block_size]
    y = ids[start + 1:start + block_size + 1]
    return x, y
    ### END SOLUTION


def num_examples(num_tokens: int, block_size: int) -> int:
    """How many (x, y) windows of length ``block_size`` a text of ``num_tokens`` tokens holds (0 if none)."""
    if num_tokens < 0 or block_size < 1:
        raise ValueError(f"need num_tokens >= 0 and block_size >= 1, got {num_tokens} and {block_size}")
    ### BEGIN SOLUTION
    return max(num_tokens - block_size, 0)
    ### END SOLUTION


def get_batch(ids: torch.Tensor, batch_size: int, block_size: int, generator: torch.Generator | None = None,
              device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch of windows.

    Draw the B start positions with one call,
    ``torch.randint(0, N - block_size, (batch_size,), generator=generator)``, so the same
    generator state always gives the same batch, and the generator's state moves on: the
    next call gets the next batch. With ``generator=None`` the draw comes from torch's
    global generator (``torch.manual_seed`` decides it).

    Returns:
        ``(x, y)``, int64 tensors of shape (B, T) on ``device``; row b is the window at
        the b-th start, as in ``shift_pair``.
    """
    _check_ids(ids, block_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    ### BEGIN SOLUTION
    starts = torch.randint(0, ids.numel() - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size)
    x = ids[starts[:, None] + offsets]  # (B, T): row b is ids[starts[b] : starts[b] + T]
    y = ids[starts[:, None] + offsets + 1]  # (B, T): the same rows, one token later
    return x.to(device), y.to(device)
    ### END SOLUTION


def train_val_split(ids: torch.Tensor, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``ids`` in one cut: training gets the first ``int(N * (1 - val_fraction))`` tokens,
    validation the rest. Returns ``(train_ids, val_ids)``."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
    if ids.dim() != 1:
        raise ValueError(f"ids must be 1-D (N,), got shape {tuple(ids.shape)}")
    ### BEGIN SOLUTION
    cut = int(ids.numel() * (1 - val_fraction))
    return ids[:cut], ids[cut:]
    ### END SOLUTION


class NextTokenDataset(Dataset):
    """Every (x, y) window of a token sequence, for use with ``torch.utils.data.DataLoader``."""

    def __init__(self, ids: torch.Tensor, block_size: int):
        _check_ids(ids, block_size)
        self.ids = ids
        self.block_size = block_size

    def __len__(self) -> int:
        """The number of windows."""
        ### BEGIN SOLUTION
        return num_examples(self.ids.numel(), self.block_size)
        ### END SOLUTION

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The window starting at ``index``, as ``(x, y)`` of shape (T,) each, int64.

        Raises:
            IndexError: for an index outside [0, len(self)) (a for loop over the dataset
                stops there; a negative index is not a window).
        """
        ### BEGIN SOLUTION
        if not 0 <= index < len(self):
            raise IndexError(f"window {index} out of range [0, {len(self)})")
        return shift_pair(self.ids, index, self.block_size)
        ### END SOLUTION


def format_pair(x, y) -> str:
    """Show a pair as two lines of arrows, e.g. ``"x: 10 → 11 → 12\\ny: 11 → 12 → 13"``.

    ``x`` and ``y`` are 1-D tensors or lists of ints.
    """
    ### BEGIN SOLUTION
    def arrows(ids) -> str:
        return " → ".join(str(int(i)) for i in ids)

    return f"x: {arrows(x)}\ny: {arrows(y)}"
    ### END SOLUTION
