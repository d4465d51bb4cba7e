"""Step 09, part 3: the training loop, evaluation and checkpoints.

One training step is four lines you have written since step 00: a batch, the loss, the
backward pass, the update. What turns those lines into a run you can trust is around
them:

* **an honest number.** The loss of one batch is noisy. ``evaluate`` reads the *whole*
  validation split once, in windows that do not overlap, so every token is predicted
  exactly once and two runs are compared on the same footing;
* **reproducibility.** Every random choice (initial weights, batches, dropout) comes from
  a seeded generator, so the same seed gives the same losses, bit for bit, on a CPU;
* **checkpoints.** A run may be stopped at any moment. A checkpoint holds everything the
  next step depends on: the weights, the optimiser's running averages, the step, and the
  state of every random generator. Resuming from it continues with exactly the losses
  the run would have had. It is written to a temporary file and then renamed over the
  old one, so a crash while writing never leaves a broken checkpoint behind;
* **divergence caught early.** When the loss becomes nan or inf the run is over: every
  later step only spreads the nan. Stop at once, keep the last good checkpoint, and say
  what to change.

The loop, for step s = start, ..., steps - 1:

    lr = lr_at(s)  -> every parameter group of the optimiser
    x, y = get_batch(train_ids, ...)                 (your step 02, the batch generator,
                                                     on the device of train_ids)
    _, loss = model(x, y)                            stop if not finite
    zero the gradients, loss.backward()
    clip the gradients (or only measure their norm) stop if not finite
    optimizer.step()
    every eval_interval steps and at the end: evaluate on the validation split
    every checkpoint_interval steps and at the end: save a checkpoint
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from pathlib import Path
from typing import Callable

import torch

from ..step02.dataset import get_batch
from .loss import bits_per_token, perplexity
from .optimization import clip_grad_norm, configure_optimizer, global_grad_norm, lr_at

CHECKPOINT_FORMAT = "gpt-course-checkpoint-2"  # 2: the GPU generators joined "rng"


class TrainingDiverged(RuntimeError):
    """The loss or the gradient norm became nan or inf; the message names the step (the one that
    diverged) and says what to change: a lower learning rate, or gradient clipping."""


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or not one of this course's."""


@dataclasses.dataclass
class TrainConfig:
    """How to train. Invalid settings raise ValueError as soon as the config is made."""

    steps: int = 1000  # optimiser steps in the whole run
    batch_size: int = 16
    block_size: int = 64  # the context length of the training windows
    max_lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # the largest global gradient norm; 0 turns clipping off
    eval_interval: int = 200  # evaluate every this many steps (and after the last one)
    checkpoint_interval: int = 200  # with a checkpoint path: save every this many steps (and at the end)
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "batch_size", "block_size", "eval_interval", "checkpoint_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.warmup_steps <= self.steps:
            raise ValueError(f"warmup_steps must be between 0 and steps={self.steps}, got {self.warmup_steps}")
        if not 0 <= self.min_lr <= self.max_lr:
            raise ValueError(f"need 0 <= min_lr <= max_lr, got min_lr={self.min_lr}, max_lr={self.max_lr}")
        if self.grad_clip < 0 or self.weight_decay < 0:
            raise ValueError("grad_clip and weight_decay must be >= 0")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"beta1 and beta2 must be in [0, 1), got {self.beta1}, {self.beta2}")


@torch.no_grad()
def evaluate(model: torch.nn.Module, ids: torch.Tensor, block_size: int, batch_size: int = 32) -> dict:
    """The mean loss of ``model`` over all of ``ids``, every target token counted once.

    Cut ``ids`` into windows that do not overlap: the window starting at s has inputs
    ``ids[s : s + block_size]`` and targets one token later; s = 0, block_size,
    2 * block_size, ... The last window is shorter when the tokens run out, so that every
    token but the first is a target exactly once. Run full windows ``batch_size`` at a
    time. The model's loss is a mean over its batch: weigh it by the number of targets in
    the batch, so that the result is the mean over *tokens*, not over batches.

    Evaluate in eval mode (no dropout) and without building a graph; afterwards leave the
    model in the mode it was in.

    Args:
        model: ``forward(x, y) -> (logits, loss)``, as every model of the course.
        ids: int64 tensor (N,), N >= 2.
        block_size: the longest window the model reads.
        batch_size: how many windows per forward pass.

    Returns:
        dict with ``"loss"`` (float, nats per token), ``"perplexity"`` (exp of it),
        ``"bits_per_token"`` (loss / ln 2) and ``"tokens"`` (int, the targets scored: N - 1).

    Raises:
        ValueError: when ``ids`` holds fewer than 2 tokens, or block_size or batch_size < 1.
    """
    if ids.dim() != 1 or ids.numel() < 2:
        raise ValueError(f"evaluate needs a 1-D tensor of at least 2 token ids, got shape {tuple(ids.shape)}")
    if block_size < 1 or batch_size < 1:
        raise ValueError(f"block_size and batch_size must be at least 1, got {block_size}, {batch_size}")
    ### BEGIN SOLUTION
    was_training = model.training
    model.eval()
    try:
        total, count = 0.0, 0
        full = (ids.numel() - 1) // block_size  # windows with block_size targets
        for first in range(0, full, batch_size):
            starts = torch.arange(first, min(first + batch_size, full)) * block_size  # (b,)
            offsets = torch.arange(block_size)
            x, y = ids[starts[:, None] + offsets], ids[starts[:, None] + offsets + 1]  # (b, T) each
            _, loss = model(x, y)
            total += loss.item() * y.numel()
            count += y.numel()
        start = full * block_size
        if start < ids.numel() - 1:  # the short last window
            x, y = ids[start:-1][None], ids[start + 1:][None]  # (1, T') each
            _, loss = model(x, y)
            total += loss.item() * y.numel()
            count += y.numel()
    finally:
        model.train(was_training)
    mean = total / count
    return {"loss": mean, "perplexity": perplexity(mean), "bits_per_token": bits_per_token(mean), "tokens": count}
    ### END SOLUTION


def save_checkpoint(path: str | Path, checkpoint: dict) -> None:
    """Write ``checkpoint`` (a dict of tensors and plain data) to ``path`` atomically.

    ``torch.save`` it to a temporary file in the same folder (create the folder if needed;
    the same folder, because a rename across file systems is not atomic, or fails), then
    ``os.replace`` the temporary file over ``path``: a reader sees the old checkpoint
    or the new one, never half a file, even when writing fails or the process is killed.
    When writing fails, remove the temporary file and raise the error.
    """
    path = Path(path)
    ### BEGIN SOLUTION
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(checkpoint, file)
        os.replace(temporary, path)  # atomic on POSIX and Windows
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    ### END SOLUTION


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by ``save_checkpoint``, as plain data (``weights_only``).

    Raises:
        CheckpointError: with a message that says what is wrong, for a missing file, a file
            that is not a checkpoint, or one without this course's ``"format"``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, not a torch file, or holding objects that are not plain data
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a checkpoint of this course (no format {CHECKPOINT_FORMAT!r})")
    return checkpoint


def train(model: torch.nn.Module, train_ids: torch.Tensor, val_ids: torch.Tensor, config: TrainConfig, *,
          checkpoint_path: str | Path | None = None, resume: bool = False, stop_after: int | None = None,
          extra: dict | None = None, on_record: Callable[[dict], None] | None = None) -> dict:
    """Train ``model`` with AdamW, following the loop in the module docstring.

    Setup (a fresh run): put the model in train mode, seed torch's global generator with
    ``config.seed`` (dropout draws from it) and make a separate ``torch.Generator`` seeded
    with ``config.seed`` for the batches; build the optimiser with ``configure_optimizer``
    (lr max_lr, ``config.weight_decay``, betas (beta1, beta2)). With ``resume=True``, instead load ``checkpoint_path`` and restore the model,
    the optimiser, both generators and the step from it, then go on from that step.

    Each step sets the learning rate ``lr_at(step, ...)`` on every parameter group, takes a
    batch with your step 02 ``get_batch(train_ids, batch_size, block_size, generator,
    device=train_ids.device)`` (the batch goes where the data is: on a GPU with
    ``course train --device cuda``, where the model is too),
    and clips the gradients to ``grad_clip`` when it is > 0 (when it is 0, only measure
    their global norm with ``global_grad_norm``). A nan or inf loss or gradient norm raises
    ``TrainingDiverged`` before ``optimizer.step()``, so the model's weights and the
    checkpoint on disk stay as they were after the last good step.

    A checkpoint (with ``checkpoint_path``) is a dict with exactly these keys:
    ``"format"`` (CHECKPOINT_FORMAT), ``"step"`` (the steps done), ``"model"`` and
    ``"optimizer"`` (their ``state_dict()``), ``"train_config"``
    (``dataclasses.asdict(config)``), ``"rng"`` (``{"torch": torch.get_rng_state(),
    "cuda": torch.cuda.get_rng_state_all(), "batches": the batch generator's get_state()}``;
    on a GPU dropout draws from the GPU's own generator, and without one that list is empty)
    and ``"extra"`` (the ``extra`` dict, for the caller's model config and tokenizer). It is
    saved every ``checkpoint_interval`` steps and after the last step.

    Args:
        model: ``forward(x, y) -> (logits, loss)``; trained in place, in train mode.
        train_ids, val_ids: int64 tensors (N,) of token ids.
        config: the settings; ``config.steps`` is the length of the whole run.
        checkpoint_path: where to save checkpoints (and resume from); None: no checkpoints.
        resume: continue the run saved at ``checkpoint_path``.
        stop_after: end after this many steps in all (< config.steps), saving a checkpoint,
            as if the run were interrupted there; the schedule still spans config.steps.
        extra: plain data stored in every checkpoint under ``"extra"``.
        on_record: called with every record as soon as it exists (for a progress bar): each
            step's ``{"step", "loss", "lr", "grad_norm"}`` right after that step, and each
            evaluation's dict (see Returns) right after the step it follows.

    Returns:
        dict of lists, one entry per step done in this call: ``"step"`` (int),
        ``"loss"`` (a Python float, not a tensor), ``"lr"`` (float), ``"grad_norm"`` (float,
        before clipping);
        and ``"evals"``: one dict ``{"step", "val_loss", "perplexity", "bits_per_token"}``
        per evaluation, where ``step`` counts the steps done.

    Raises:
        TrainingDiverged: the loss or the gradient norm stopped being finite.
        ValueError: resume without a checkpoint path, or data shorter than a window.
    """
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs the checkpoint_path to resume from")
    if train_ids.numel() <= config.block_size:
        raise ValueError(f"the training split has {train_ids.numel()} tokens, fewer than block_size + 1 = "
                         f"{config.block_size + 1}: use more text or a smaller block_size")
    end = config.steps if stop_after is None else min(stop_after, config.steps)
    ### BEGIN SOLUTION
    model.train()
    torch.manual_seed(config.seed)
    batches = torch.Generator().manual_seed(config.seed)
    optimizer = configure_optimizer(model, config.max_lr, config.weight_decay, (config.beta1, config.beta2))
    start = 0
    if resume:
        checkpoint = load_checkpoint(checkpoint_path)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
        torch.cuda.set_rng_state_all(checkpoint["rng"]["cuda"])  # no GPU: an empty list, nothing to set
        batches.set_state(checkpoint["rng"]["batches"])
        start = checkpoint["step"]

    def save(steps_done: int) -> None:
        save_checkpoint(checkpoint_path, {
            "format": CHECKPOINT_FORMAT, "step": steps_done, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "train_config": dataclasses.asdict(config),
            "rng": {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all(),
                    "batches": batches.get_state()}, "extra": extra or {}})

    def diverged(what: str, value: float, step: int, lr: float) -> TrainingDiverged:
        kept = f"the last good checkpoint is kept at {checkpoint_path}" if checkpoint_path else "no checkpoint was saved"
        return TrainingDiverged(
            f"training diverged at step {step}: the {what} became {value} (learning rate {lr:.3g}). "
            f"Lower the learning rate (try 10x smaller) or turn on gradient clipping (grad_clip 1.0); {kept}")

    history = {"step": [], "loss": [], "lr": [], "grad_norm": [], "evals": []}
    for step in range(start, end):
        lr = lr_at(step, max_lr=config.max_lr, min_lr=config.min_lr, warmup_steps=config.warmup_steps,
                   total_steps=config.steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(train_ids, config.batch_size, config.block_size, generator=batches,
                         device=train_ids.device)  # (B, T) each, where the data and the model are
        _, loss = model(x, y)
        if not torch.isfinite(loss):
            raise diverged("loss", loss.item(), step, lr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            norm = clip_grad_norm(model.parameters(), config.grad_clip)
        else:
            norm = global_grad_norm(model.parameters())
        if not math.isfinite(norm):
            raise diverged("gradient norm", norm, step, lr)
        optimizer.step()
        record = {"step": step, "loss": loss.item(), "lr": lr, "grad_norm": norm}
        for key, value in record.items():
            history[key].append(value)
        if on_record:
            on_record(record)
        done = step + 1
        if done % config.eval_interval == 0 or done == end:
            result = evaluate(model, val_ids, config.block_size, config.batch_size)
            evaluation = {"step": done, "val_loss": result["loss"], "perplexity": result["perplexity"],
                          "bits_per_token": result["bits_per_token"]}
            history["evals"].append(evaluation)
            if on_record:
                on_record(evaluation)
        if checkpoint_path is not None and (done % config.checkpoint_interval == 0 or done == end):
            save(done)
    return history
    ### END SOLUTION
