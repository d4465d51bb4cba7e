"""Look inside a trained model: attention heatmaps and a stage-by-stage trace of one input.

Both work from the outside, with forward hooks on the parts whose names step 08 fixes
(``token_embedding``, ``position_embedding``, ``blocks[i].attn``, ``blocks[i].mlp``,
``ln_f``) and step 04 fixes for the MLP language model, so they work on the student's own
model as well as on the reference.
"""

from __future__ import annotations

from pathlib import Path

import torch

from grader.status import CommandError


def show(ch: str) -> str:
    """A character as it can be printed on one line."""
    return repr(ch)[1:-1] if ch in "\n\t\r" else ch


def _capture(model: torch.nn.Module, names: list[str]):
    """Register hooks that keep the output of each named submodule; return (outputs, remove)."""
    outputs: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    handles = []
    for name in names:
        if name not in modules:
            raise CommandError(f"the model has no part named {name!r}: is it the model of step 04 or step 08?")

        def keep(module, inputs, output, name=name):
            outputs[name] = output[0] if isinstance(output, tuple) else output

        handles.append(modules[name].register_forward_hook(keep))
    return outputs, lambda: [handle.remove() for handle in handles]


def attention_maps(model: torch.nn.Module, idx: torch.Tensor) -> torch.Tensor:
    """The attention weights of every layer for one input: (n_layer, n_head, T, T)."""
    if not hasattr(model, "blocks"):
        raise CommandError("this model has no attention layers (it is the MLP language model of step 04, "
                           "which never looks at earlier positions): train a transformer to see attention")
    with torch.no_grad():
        model(idx)
    maps = []
    for index, block in enumerate(model.blocks):
        weights = getattr(block.attn, "last_attention", None)
        if weights is None:
            raise CommandError(f"blocks[{index}].attn kept no last_attention: step 06 stores the weights there")
        maps.append(weights[0].float().cpu())  # (n_head, T, T)
    return torch.stack(maps)


def plot_attention(maps: torch.Tensor, labels: list[str], path: Path, title: str) -> None:
    """A grid of heatmaps: rows are layers, columns heads; in each, queries down, keys across."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_layer, n_head, T, _ = maps.shape
    size = max(2.2, min(4.0, 0.22 * T + 1))
    figure, axes = plt.subplots(n_layer, n_head, figsize=(size * n_head, size * n_layer), squeeze=False)
    for layer in range(n_layer):
        for head in range(n_head):
            ax = axes[layer][head]
            ax.imshow(maps[layer, head].numpy(), cmap="viridis", vmin=0, vmax=1)
            ax.set_title(f"layer {layer}, head {head}", fontsize=9)
            if T <= 40:
                ax.set_xticks(range(T), labels, fontsize=7)
                ax.set_yticks(range(T), labels, fontsize=7)
            else:
                ax.set_xticks([])
                ax.set_yticks([])
            if head == 0:
                ax.set_ylabel("query (position)")
            if layer == n_layer - 1:
                ax.set_xlabel("key (position)")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _vector(tensor: torch.Tensor, count: int = 4) -> str:
    values = ", ".join(f"{v:+.3f}" for v in tensor[:count].tolist())
    return f"[{values}, ...]" if tensor.numel() > count else f"[{values}]"


def trace(model: torch.nn.Module, tokenizer, text: str, idx: torch.Tensor, top: int = 5) -> list[str]:
    """Lines that follow ``text`` through ``model`` stage by stage, with shapes and a few values."""
    chars = [show(ch) for ch in text]
    ids = idx[0].tolist()
    T = len(ids)
    lines = [f"text      {text!r}: {T} characters",
             f"ids       {ids}   shape {tuple(idx.shape)}  (step 01: one id per character)"]
    is_gpt = hasattr(model, "blocks")
    if not hasattr(model, "token_embedding"):  # step 00's bigram: one table, one row per current token
        with torch.no_grad():
            logits, _ = model(idx)
        lines.append(f"table row {ids[-1]}  the bigram model's logits are the row of the last character "
                     f"{chars[-1]!r}: it sees nothing else")
        return lines + _top_tokens(logits, tokenizer, text, top)
    if is_gpt:
        names = ["token_embedding", "position_embedding", "ln_f"]
        for i in range(len(model.blocks)):
            names += [f"blocks.{i}.attn", f"blocks.{i}.mlp", f"blocks.{i}"]
    else:
        names = ["token_embedding", "mlp"]
    outputs, remove = _capture(model, names)
    try:
        with torch.no_grad():
            logits, _ = model(idx)
    finally:
        remove()
    last = T - 1
    tok = outputs["token_embedding"]
    lines.append(f"token vectors     shape {tuple(tok.shape)}: {chars[last]!r} (id {ids[last]}) -> "
                 f"{_vector(tok[0, last])}  (step 03: a row of the table)")
    if is_gpt:
        pos = outputs["position_embedding"]
        position = pos[last] if pos.dim() == 2 else pos[0, last]
        lines.append(f"+ position vectors shape {tuple(pos.shape)}: position {last} -> {_vector(position)}")
        for i, block in enumerate(model.blocks):
            lines.append(f"block {i}")
            weights = getattr(block.attn, "last_attention", None)
            attended = outputs[f"blocks.{i}.attn"]
            lines.append(f"  attention  out shape {tuple(attended.shape)}; where each head looks from the last "
                         f"position {chars[last]!r}:")
            if weights is not None:
                for head in range(weights.shape[1]):
                    row = weights[0, head, last]  # (T,)
                    best = row.topk(min(3, T))
                    looks = ", ".join(f"{chars[j]!r}@{j} {w:.2f}" for w, j in zip(best.values.tolist(),
                                                                                 best.indices.tolist()))
                    lines.append(f"    head {head}: {looks}")
            mlp = outputs[f"blocks.{i}.mlp"]
            lines.append(f"  MLP        out shape {tuple(mlp.shape)}, norm at the last position "
                         f"{mlp[0, last].norm():.3f}")
            lines.append(f"  residual   x shape {tuple(outputs[f'blocks.{i}'].shape)}, norm "
                         f"{outputs[f'blocks.{i}'][0, last].norm():.3f}")
        final = outputs["ln_f"]
        lines.append(f"final norm        shape {tuple(final.shape)}: {_vector(final[0, last])}")
    else:
        hidden = outputs["mlp"]
        lines.append(f"MLP               shape {tuple(hidden.shape)}: {_vector(hidden[0, last])}")
        lines.append("                  (each position is computed from its own token alone: no stage of this "
                     "model looks at earlier positions)")
    lines.append(f"logits            shape {tuple(logits.shape)}: one score per vocabulary entry at every position")
    return lines + _top_tokens(logits, tokenizer, text, top)


def _top_tokens(logits: torch.Tensor, tokenizer, text: str, top: int) -> list[str]:
    probs = torch.softmax(logits[0, -1].float(), dim=-1)
    best = probs.topk(min(top, probs.numel()))
    lines = [f"next character after {text!r}, top {best.values.numel()}:"]
    for p, i in zip(best.values.tolist(), best.indices.tolist()):
        lines.append(f"  {show(tokenizer.decode([i]))!r:>10}  {p:.3f}")
    return lines
