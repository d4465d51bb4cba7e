"""Step 07: the transformer block, attention and an MLP on a residual pathway.

A GPT is one block repeated n_layer times. Each block does two things: attention lets
the positions exchange information (step 06), then an MLP thinks about what each position
now holds (step 04's feed-forward network, 4x wider inside). Two more ingredients make a
stack of such blocks trainable at all:

* **Residual connections.** A block does not replace x, it *adds* to it:
  ``x = x + attn(...)``, ``x = x + mlp(...)``. The running vector x is a pathway that
  goes from the embedding straight to the head; each block reads from it and writes a
  correction back. At initialisation the corrections are small, so a deep stack starts
  close to the identity, and the gradient reaches the first layer through the ``x +``
  untouched. Remove the residuals and every layer must pass the whole signal through
  its own weights: in a deep stack at initialisation the signal is mixed beyond
  recognition and the first layers' gradients shrink by orders of magnitude.
* **Normalisation.** LayerNorm rescales each position's vector to mean 0 and variance 1
  (then applies a learned scale and shift), so no layer sees inputs whose size drifts as
  training goes on. GPT-2 and later put it *before* each sub-layer (pre-norm):
  ``x + attn(ln_1(x))``. The residual pathway itself is never normalised, which keeps the
  clean path from the embedding to the head. The original Transformer normalised after
  the addition (post-norm, ``ln(x + attn(x))``), which is harder to train when deep.
  RMSNorm, used by Llama, skips the mean: it only divides by the root mean square.

Everything here is trained, so every weight is an ``nn.Parameter`` and every forward is
plain differentiable torch code: nothing detached, no ``torch.no_grad()``. And no forward
writes into the tensor it is given (no ``x += ...``): the caller still holds x.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..step06.multi_head import MultiHeadAttention


class LayerNorm(nn.Module):
    """LayerNorm over the last dimension, written by hand."""

    def __init__(self, ndim: int, eps: float = 1e-5, bias: bool = True):
        """A learned scale ``weight`` (ones) and, when ``bias``, a learned shift ``bias``
        (zeros), both of shape (ndim,). With ``bias=False`` set ``self.bias = None``."""
        super().__init__()
        if ndim < 1 or eps < 0:
            raise ValueError(f"ndim must be positive and eps non-negative, got ndim={ndim}, eps={eps}")
        self.ndim, self.eps = ndim, eps
        ### BEGIN SOLUTION
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise every vector along the last dim, then scale and shift.

        ``(x - mean) / sqrt(var + eps) * weight + bias``, where mean and var are taken over
        the last dim and var is the *biased* variance (divide by ndim, not ndim - 1), as
        ``nn.LayerNorm`` does. Do not call ``F.layer_norm`` or ``nn.LayerNorm`` (nor another
        normalisation layer, such as ``F.group_norm``).

        Args:
            x: float tensor (..., ndim).

        Returns:
            float tensor of the same shape and dtype.

        Raises:
            ValueError: when the last dim of x is not ndim.
        """
        if x.shape[-1] != self.ndim:
            raise ValueError(f"the last dim of x must be {self.ndim}, got shape {tuple(x.shape)}")
        ### BEGIN SOLUTION
        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
        var = x.var(dim=-1, keepdim=True, unbiased=False)  # (..., 1)
        out = (x - mean) / torch.sqrt(var + self.eps)
        out = out * self.weight
        return out + self.bias if self.bias is not None else out
        ### END SOLUTION


class RMSNorm(nn.Module):
    """RMSNorm over the last dimension: LayerNorm without the mean and the shift."""

    def __init__(self, ndim: int, eps: float = 1e-6):
        """A learned scale ``weight`` of shape (ndim,), starting at ones. No bias."""
        super().__init__()
        if ndim < 1 or eps < 0:
            raise ValueError(f"ndim must be positive and eps non-negative, got ndim={ndim}, eps={eps}")
        self.ndim, self.eps = ndim, eps
        ### BEGIN SOLUTION
        self.weight = nn.Parameter(torch.ones(ndim))
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x / sqrt(mean(x ** 2) + eps) * weight``, the mean taken over the last dim.

        No mean is subtracted and there is no shift. Do not call ``nn.RMSNorm`` or
        ``F.rms_norm``.

        Args:
            x: float tensor (..., ndim).

        Returns:
            float tensor of the same shape and dtype.

        Raises:
            ValueError: when the last dim of x is not ndim.
        """
        if x.shape[-1] != self.ndim:
            raise ValueError(f"the last dim of x must be {self.ndim}, got shape {tuple(x.shape)}")
        ### BEGIN SOLUTION
        mean_square = (x * x).mean(dim=-1, keepdim=True)  # (..., 1)
        return x * torch.rsqrt(mean_square + self.eps) * self.weight
        ### END SOLUTION


ACTIVATIONS = ("gelu", "relu")


class MLP(nn.Module):
    """The feed-forward half of a block: widen to 4 * n_embd, activation, back to n_embd."""

    def __init__(self, n_embd: int, activation: str = "gelu", bias: bool = True, dropout: float = 0.0):
        """``fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)``, the activation (``"gelu"``:
        ``F.gelu``, whose tanh approximation is accepted too; ``"relu"``: ``F.relu``),
        ``proj = nn.Linear(4 * n_embd, n_embd, bias=bias)``, then ``nn.Dropout(dropout)``.

        Raises:
            ValueError: for an activation other than "gelu" or "relu".
        """
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        ### BEGIN SOLUTION
        self.fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., n_embd) -> (..., n_embd): proj(activation(fc(x))), then dropout."""
        ### BEGIN SOLUTION
        h = self.fc(x)  # (..., 4C)
        h = F.gelu(h) if self.activation == "gelu" else F.relu(h)
        return self.dropout(self.proj(h))  # (..., C)
        ### END SOLUTION


NORMS = ("layernorm", "rmsnorm")


class Block(nn.Module):
    """One pre-norm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float = 0.0, bias: bool = True,
                 norm: str = "layernorm", activation: str = "gelu", residual: bool = True):
        """Four parts with weights, under these names (step 08 loads weights by them), and a
        dropout:

        * ``ln_1``, ``ln_2``: two norms, your ``LayerNorm(n_embd, bias=bias)``, or your
          ``RMSNorm(n_embd)`` when ``norm == "rmsnorm"`` (with their default eps);
        * ``attn``: your step 06 ``MultiHeadAttention(n_embd, n_head, block_size, bias=bias)``
          (causal);
        * ``mlp``: ``MLP(n_embd, activation, bias, dropout)``: its own dropout is the only
          one on the MLP's branch;
        * ``dropout``: ``nn.Dropout(dropout)``, applied to the attention's output before it
          is added to x.

        ``residual=False`` is the experiment switch: the block then computes
        ``x = attn(ln_1(x))`` and ``x = mlp(ln_2(x))``, with no ``x +``.

        Raises:
            ValueError: for a norm other than "layernorm" or "rmsnorm".
        """
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        self.n_embd, self.residual = n_embd, residual
        ### BEGIN SOLUTION
        make_norm = (lambda: LayerNorm(n_embd, bias=bias)) if norm == "layernorm" else (lambda: RMSNorm(n_embd))
        self.ln_1 = make_norm()
        self.attn = MultiHeadAttention(n_embd, n_head, block_size, bias=bias)
        self.ln_2 = make_norm()
        self.mlp = MLP(n_embd, activation, bias, dropout)
        self.dropout = nn.Dropout(dropout)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-norm: normalise the input of each sub-layer, never the residual pathway.

        Args:
            x: float tensor (B, T, n_embd), T <= block_size.

        Returns:
            float tensor (B, T, n_embd).

        Raises:
            ValueError: when x is not (B, T, n_embd), or T > block_size (the attention refuses it).
        """
        if x.dim() != 3 or x.shape[-1] != self.n_embd:
            raise ValueError(f"x must have shape (B, T, {self.n_embd}), got {tuple(x.shape)}")
        ### BEGIN SOLUTION
        attended = self.dropout(self.attn(self.ln_1(x)))  # (B, T, C)
        x = x + attended if self.residual else attended
        thought = self.mlp(self.ln_2(x))  # (B, T, C)
        return x + thought if self.residual else thought
        ### END SOLUTION
