"""Step 09, part 2: the controls of an optimiser.

AdamW does the updating; three controls around it decide whether training is stable.

**Gradient clipping.** Now and then one batch produces a huge gradient (a rare sequence,
an unlucky spike), and one huge step can throw the weights somewhere the loss is far
worse, from where the next gradients are huge again: the run diverges. Clipping bounds
the step. Measure the *global* norm of the gradient, all parameters together, as if they
were one long vector,

    total = sqrt( sum over parameters p of sum(p.grad ** 2) )

and when it exceeds ``max_norm``, scale every gradient by the same factor
``max_norm / total``. One shared factor keeps the direction of the update and only
shortens it; clipping each tensor on its own would bend the direction too.

**The learning-rate schedule.** At the start Adam's running averages hold almost nothing
and the weights are random: full-size steps then are risky, so the rate climbs linearly
from nearly 0 over ``warmup_steps``. Later, large steps only bounce around a minimum, so
the rate decays along half a cosine to ``min_lr``:

    lr
    max_lr |      ___
           |    /     ``--.
           |  /             `.
           | /                `-.___
    min_lr |/                       `------
           +---------------------------------- step
           0   warmup               total

**Weight decay, only where it belongs.** AdamW pulls each weight a little towards 0 on
every step, which keeps matrices from growing without need. A LayerNorm's scale and the
biases are not such weights: pulling a norm's scale towards 0 fights its purpose. So the
optimiser gets two parameter groups: the matrices and embedding tables (2 or more dims)
with decay, the vectors (1 dim) without.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch


def global_grad_norm(parameters: Iterable[torch.Tensor]) -> float:
    """The L2 norm of all gradients together, as one long vector.

    Args:
        parameters: tensors, e.g. ``model.parameters()``. Those whose ``.grad`` is None (a
            frozen parameter, or one the loss did not use) are skipped.

    Returns:
        float: sqrt of the sum of every squared gradient entry; 0.0 when no gradient exists.
    """
    ### BEGIN SOLUTION
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    squares = torch.stack([g.detach().double().pow(2).sum() for g in grads])  # one sum per tensor
    return math.sqrt(squares.sum().item())
    ### END SOLUTION


def clip_grad_norm(parameters: Iterable[torch.Tensor], max_norm: float) -> float:
    """Scale every gradient in place by one shared factor so that their global norm is at
    most ``max_norm``; gradients already within it are left exactly as they are.

    The factor is ``max_norm / (total + 1e-6)`` when total > max_norm (the small constant
    is the one ``torch.nn.utils.clip_grad_norm_`` uses), and 1 otherwise.

    Args:
        parameters: tensors, e.g. ``model.parameters()``; as in ``global_grad_norm``,
            those without a gradient are skipped. ``model.parameters()`` is a generator,
            which can be read only once: make a list of it before measuring and scaling.
        max_norm: the largest norm allowed, > 0.

    Returns:
        float: the global norm *before* clipping, the number worth logging: it shows how
        large the gradients really were.

    Raises:
        ValueError: when ``max_norm`` is not > 0.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    ### BEGIN SOLUTION
    parameters = [p for p in parameters if p.grad is not None]  # the iterable may be a generator: read it once
    total = global_grad_norm(parameters)
    if total > max_norm:
        factor = max_norm / (total + 1e-6)
        for p in parameters:
            p.grad.mul_(factor)
    return total
    ### END SOLUTION


def lr_at(step: int, *, max_lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    """The learning rate for ``step`` (counted from 0): linear warmup, then cosine decay.

    * ``step < warmup_steps``: ``max_lr * (step + 1) / warmup_steps`` (step 0 already
      learns a little; step ``warmup_steps - 1`` is at max_lr);
    * ``warmup_steps <= step < total_steps``: with
      ``progress = (step - warmup_steps) / (total_steps - warmup_steps)``,
      ``min_lr + (max_lr - min_lr) * 0.5 * (1 + cos(pi * progress))``, so max_lr at the
      end of the warmup, falling to min_lr;
    * ``step >= total_steps``: ``min_lr``.

    Raises:
        ValueError: for a negative step, ``warmup_steps < 0``, ``total_steps <
            warmup_steps``, or ``min_lr > max_lr`` or a negative rate.
    """
    if step < 0 or warmup_steps < 0 or total_steps < warmup_steps:
        raise ValueError(f"need 0 <= step and 0 <= warmup_steps <= total_steps, got step={step}, "
                         f"warmup_steps={warmup_steps}, total_steps={total_steps}")
    if not 0 <= min_lr <= max_lr:
        raise ValueError(f"need 0 <= min_lr <= max_lr, got min_lr={min_lr}, max_lr={max_lr}")
    ### BEGIN SOLUTION
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)  # 0 -> 1
    return min_lr + (max_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
    ### END SOLUTION


def configure_optimizer(model: torch.nn.Module, lr: float, weight_decay: float,
                        betas: tuple[float, float] = (0.9, 0.99)) -> torch.optim.AdamW:
    """``torch.optim.AdamW`` over the trainable parameters of ``model``, in two groups.

    Group 0 holds every trainable parameter with 2 or more dims (Linear weights, embedding
    tables), with ``weight_decay``; group 1 every trainable 1-dim parameter (biases, norm
    scales and shifts), with weight decay 0. Each parameter appears once, even one shared
    by two modules (the tied head), and frozen ones (``requires_grad=False``) not at all.

    Returns:
        torch.optim.AdamW: with ``lr`` and ``betas``, the two groups in that order.
    """
    ### BEGIN SOLUTION
    trainable = [p for p in model.parameters() if p.requires_grad]  # parameters() lists a shared tensor once
    decayed = [p for p in trainable if p.dim() >= 2]
    not_decayed = [p for p in trainable if p.dim() < 2]
    groups = [{"params": decayed, "weight_decay": weight_decay}, {"params": not_decayed, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas)
    ### END SOLUTION
