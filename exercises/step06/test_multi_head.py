"""Grading suite for step 06: multi-head attention (``multi_head.py``).

The outputs are compared with multi-head attention computed here from your module's own
weights, straight from the definition: for each head, its slice of the projections goes
through ``F.scaled_dot_product_attention``; the heads are concatenated and W_O applied.
How you get there is up to you, with two exceptions that are the point of the step:
``forward_loop`` must run your step 05 attention once per head, and ``forward`` must not
loop over the heads at all.

The parameter count of your formula is compared with ``nn.MultiheadAttention``, PyTorch's
own layer, which holds the same four projections.
"""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from grader import hint, points
from grader.checks import expect_a_formula, expect_close, expect_gradients
from grader.probes import (buffer_shapes, count_calls, linear_shapes, named_buffer, operation_counts,
                           parameter_shapes, parameters_by_name, torch_functions_of)

B, T, C, N_HEAD, BLOCK = 2, 6, 12, 3, 8  # head_size 4; C is not a square, so sqrt(C) != a whole head size
STEP05_ATTENTION = "step05/test_attention.py::test_attention_with_a_mask"
STEP05_MASK = "step05/test_attention.py::test_causal_mask"
PROJECTIONS = ("query", "key", "value", "out_proj")  # the four nn.Linear layers, by name


def slices_of_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(B, T, C) -> (B, n_head, T, head_size) by the definition: head h holds columns h*hs:(h+1)*hs."""
    hs = x.shape[-1] // n_head
    return torch.stack([x[..., h * hs:(h + 1) * hs] for h in range(n_head)], dim=1)


def multi_head_variant(x, weights, n_head, causal=True, split="slices", merge="concat", scale=None,
                       head_order=None, project=True, softmax_dim=-1, masking="before softmax"):
    """Multi-head attention from a module's weights; right by default, the options make it a mistake."""
    Bx, Tx, Cx = x.shape
    hs = Cx // n_head
    q, k, v = (F.linear(x, weights[f"{name}.weight"], weights.get(f"{name}.bias"))
               for name in ("query", "key", "value"))
    if split == "slices":
        q, k, v = (slices_of_heads(t, n_head) for t in (q, k, v))
    else:  # one reshape straight to (B, nh, T, hs), without the transpose
        q, k, v = (t.reshape(Bx, n_head, Tx, hs) for t in (q, k, v))
    scores = q @ k.transpose(-2, -1) * (1 / math.sqrt(hs) if scale is None else scale)  # (B, nh, T, T)
    future = ~torch.ones(Tx, Tx).tril().bool()
    if causal and masking == "before softmax":
        scores = scores.masked_fill(future, float("-inf"))
    elif causal and masking == "zero scores":
        scores = scores.masked_fill(future, 0.0)
    attention = F.softmax(scores, dim=softmax_dim)  # (B, nh, T, T)
    if causal and masking == "after softmax":
        attention = attention.masked_fill(future, 0.0)
    heads = attention @ v  # (B, nh, T, hs)
    if head_order is not None:
        heads = heads[:, head_order]
    if merge == "concat":
        out = torch.cat(heads.unbind(dim=1), dim=-1)  # the heads side by side: (B, T, C)
    else:  # reshape back without the transpose
        out = heads.reshape(Bx, Tx, Cx)
    return F.linear(out, weights["out_proj.weight"], weights.get("out_proj.bias")) if project else out


def multi_head_mistakes(x, weights, n_head, causal=True):
    variant = lambda **options: multi_head_variant(x, weights, n_head, causal=causal, **options)  # noqa: E731
    mistakes = {
        "the heads are split with a reshape and no transpose: view the last dim as (n_head, head_size) first, "
        "then transpose(1, 2) to (B, n_head, T, head_size)": variant(split="reshape"),
        "the heads are split with a reshape and no transpose (and merged back the same way): "
        "view (B, T, n_head, head_size), then transpose(1, 2)": variant(split="reshape", merge="reshape"),
        "the heads are merged with a reshape and no transpose: transpose(1, 2) back to (B, T, n_head, head_size) "
        "before the reshape to (B, T, n_embd)": variant(merge="reshape"),
        "the scores are scaled by sqrt(n_embd): each head's dot products have head_size terms, scale by "
        "sqrt(head_size)": variant(scale=1 / math.sqrt(x.shape[-1])),
        "the scores are not scaled: divide by sqrt(head_size)": variant(scale=1.0),
        "the scores are divided by sqrt(T), the number of keys: the scale is sqrt(head_size), the length of each "
        "head's query and key vectors": variant(scale=1 / math.sqrt(x.shape[-2])),
        "the scores are divided by head_size (or scaled twice: q / sqrt(head_size) passed into an attention that "
        "scales again): divide by sqrt(head_size) once": variant(scale=1 / (x.shape[-1] // n_head)),
        "W_O is missing: apply out_proj to the concatenated heads": variant(project=False),
        "the heads are concatenated in the wrong order: head 0 first, head n_head - 1 last":
            variant(head_order=list(range(n_head))[::-1]),
        "the softmax runs over the queries (dim=-2 or dim=2): each query's weights over the KEYS, the last dim, "
        "must sum to 1": variant(softmax_dim=-2),
        "the softmax runs over the heads (dim=1 of (B, n_head, T, T)): each query's weights over the KEYS, the "
        "last dim, must sum to 1": variant(softmax_dim=1),
    }
    if causal:
        mistakes["the future is not masked: use self.mask[:T, :T] when self.causal"] = \
            multi_head_variant(x, weights, n_head, causal=False)
        mistakes["the mask is applied after the softmax: fill the future's SCORES with -inf before it, so each "
                 "row's kept weights still sum to 1"] = variant(masking="after softmax")
        mistakes["the future's scores are filled with 0 instead of -inf: exp(0) = 1, so the future still gets "
                 "weight"] = variant(masking="zero scores")
    return mistakes


def heavy_operations(counts: dict) -> dict:
    """The matrix products and softmaxes among operator counts, by name."""
    return {name: n for name, n in sorted(counts.items()) if "mm" in name or "softmax" in name}


def build(student, n_embd=C, n_head=N_HEAD, block_size=BLOCK, **options):
    return student.multi_head.MultiHeadAttention(n_embd, n_head, block_size, **options)


OTHER = dict(n_embd=20, n_head=4, block_size=10)  # head_size 5: sizes a module must take from its arguments


def expect_the_definition_at_other_sizes(student, generator, method: str) -> None:
    """``forward`` or ``forward_loop`` of a MultiHeadAttention of the OTHER sizes, on block_size positions."""
    module = build(student, **OTHER)
    x = torch.randn(B, OTHER["block_size"], OTHER["n_embd"], generator=generator)
    weights = student.probe(parameters_by_name, module)
    expect_close(getattr(module, method)(x), multi_head_variant(x, weights, OTHER["n_head"]),
                 name=f"{method}(x) of MultiHeadAttention({OTHER}), T = block_size",
                 mistakes=multi_head_mistakes(x, weights, OTHER["n_head"]))


# --- heads share n_embd ----------------------------------------------------------------------

@points(2, hint="check_heads returns n_embd // n_head, and raises ValueError when n_embd % n_head != 0, with a "
                "message that gives both numbers")
def test_heads_must_divide_n_embd(student):
    for n_embd, n_head in [(12, 3), (12, 12), (32, 4), (5, 1)]:
        size = student.multi_head.check_heads(n_embd, n_head)
        assert size == n_embd // n_head, f"check_heads({n_embd}, {n_head}) should be {n_embd // n_head}, got {size}"
        with hint("head_size is an int: use n_embd // n_head (n_embd / n_head is a float, and shapes need ints)"):
            assert isinstance(size, int), f"check_heads({n_embd}, {n_head}) returned {size!r}, a {type(size).__name__}"
    for n_embd, n_head in [(10, 4), (32, 5), (7, 2)]:
        with pytest.raises(ValueError) as raised:
            student.multi_head.check_heads(n_embd, n_head)
        message = getattr(raised.value, "info", {}).get("message", str(raised.value))  # the student's own words
        with hint("say why in the message: give n_embd and n_head, e.g. f'n_embd={n_embd} is not divisible by "
                  "n_head={n_head}'"):
            assert str(n_embd) in message and str(n_head) in message, f"the message was: {message!r}"
    with hint("MultiHeadAttention must refuse n_embd % n_head != 0 too (call check_heads in __init__)"):
        with pytest.raises(ValueError):
            build(student, n_embd=10, n_head=4)


# --- the parts -----------------------------------------------------------------------------------

@points(2, hint="four nn.Linear(n_embd, n_embd, bias=bias) named query, key, value and out_proj, and "
                "causal_mask(block_size) registered as the buffer `mask`")
def test_four_projections_and_a_mask(student):
    for bias in (True, False):
        module = build(student, bias=bias)
        shapes = student.probe(linear_shapes, module, PROJECTIONS)
        expected = {name: ((C, C), (C,) if bias else None) for name in PROJECTIONS}
        assert shapes == expected, f"with bias={bias}, expected (weight, bias) shapes {expected}, got {shapes}"
        with hint("the module's only parameters are the four projections (one (n_embd, n_embd) matrix each, not one "
                  "per head)"):
            assert len(student.probe(parameter_shapes, module)) == (8 if bias else 4)
        with hint("register the causal mask with self.register_buffer('mask', causal_mask(block_size)): a buffer "
                  "of block_size x block_size (a (1, 1, block_size, block_size) view is fine), not a parameter"):
            buffers = student.probe(buffer_shapes, module)
            assert [shape for shape in buffers if [n for n in shape if n != 1] == [BLOCK, BLOCK]], buffers
        with hint("the buffer is named mask and holds causal_mask(block_size) itself, a bool tril (True where a "
                  "query may look): not its inverse, not a float matrix"):
            registered = student.probe(named_buffer, module, "mask")
            assert registered is not None, "the module has no buffer named mask"
            assert registered.dtype == torch.bool and registered.numel() == BLOCK * BLOCK and \
                torch.equal(registered.reshape(BLOCK, BLOCK), torch.ones(BLOCK, BLOCK).tril().bool()), \
                f"the mask buffer is {registered.dtype} of shape {tuple(registered.shape)}"
    n, size = OTHER["n_embd"], OTHER["block_size"]
    module = build(student, **OTHER)
    with hint("the sizes come from the arguments: nn.Linear(n_embd, n_embd, bias=bias) and "
              "causal_mask(block_size), whatever the sizes of the other examples"):
        shapes = student.probe(linear_shapes, module, PROJECTIONS)
        assert shapes == {name: ((n, n), (n,)) for name in PROJECTIONS}, f"MultiHeadAttention({OTHER}): {shapes}"
        registered = student.probe(named_buffer, module, "mask")
        assert registered is not None and registered.numel() == size * size, \
            f"MultiHeadAttention({OTHER}): the mask buffer has shape {tuple(getattr(registered, 'shape', ()))}"


@points(2, hint="split_heads: x.view(B, T, n_head, head_size).transpose(1, 2), so that out[:, h, t] is the slice "
                "h*head_size:(h+1)*head_size of x[:, t]; merge_heads undoes it (transpose back, then reshape)")
def test_split_and_merge_heads(student, generator):
    module = build(student)
    x = torch.randn(B, T, C, generator=generator)
    split = module.split_heads(x)
    expect_close(split, slices_of_heads(x, N_HEAD), name="split_heads(x)", mistakes={
        "a single reshape to (B, n_head, T, head_size) has the right shape and the wrong numbers: view as "
        "(B, T, n_head, head_size), then transpose(1, 2)": x.reshape(B, N_HEAD, T, C // N_HEAD),
    })
    heads = torch.randn(B, N_HEAD, T, C // N_HEAD, generator=generator)
    expect_close(module.merge_heads(heads), torch.cat(heads.unbind(dim=1), dim=-1), name="merge_heads(heads)",
                 mistakes={"merge_heads reshapes without transposing back: transpose(1, 2) to (B, T, n_head, "
                           "head_size) first, then reshape to (B, T, n_embd)": heads.reshape(B, T, C)})


# --- the loop: the definition ---------------------------------------------------------------------------

@points(3, hint="for each head h: slice h*head_size:(h+1)*head_size of query(x), key(x), value(x), attend with "
                "the causal mask, then torch.cat the heads in order (dim=-1) and apply out_proj",
        builds_on={"step05 scaled_dot_product_attention": STEP05_ATTENTION, "step05 causal_mask": STEP05_MASK})
def test_loop_follows_the_definition(student, generator):
    module = build(student)
    x = torch.randn(B, T, C, generator=generator)
    weights = student.probe(parameters_by_name, module)
    expect_close(module.forward_loop(x), multi_head_variant(x, weights, N_HEAD), name="forward_loop(x)",
                 mistakes=multi_head_mistakes(x, weights, N_HEAD))
    expect_the_definition_at_other_sizes(student, generator, "forward_loop")


@points(1, hint="forward_loop must call your step 05 scaled_dot_product_attention once per head: reuse it, "
                "do not copy its code",
        builds_on={"step05 scaled_dot_product_attention": STEP05_ATTENTION,
                   "MultiHeadAttention.forward_loop": "test_loop_follows_the_definition"})
def test_loop_uses_your_step05_attention(student, generator):
    for n_head in (1, 3):
        module = build(student, n_head=n_head)
        x = torch.randn(B, T, C, generator=generator)
        observed = student.probe(calls_to_step05_attention, module.forward_loop, x)
        expect_close(observed["output"], multi_head_variant(x, student.probe(parameters_by_name, module), n_head),
                     name=f"forward_loop(x) with n_head={n_head}")
        calls = observed["calls"]
        assert calls == n_head, f"with n_head={n_head}, forward_loop called your step 05 attention {calls} times"


# --- batched: every head at once -------------------------------------------------------------------------

@points(4, hint="split query(x), key(x), value(x) into (B, n_head, T, head_size), scores = q @ k^T / "
                "sqrt(head_size), mask, softmax, @ v, merge the heads back to (B, T, n_embd), then out_proj",
        builds_on={"step05 causal_mask": STEP05_MASK})
def test_batched_matches_the_definition(student, generator):
    for n_head in (N_HEAD, 1):
        module = build(student, n_head=n_head)
        x = torch.randn(B, T, C, generator=generator)
        weights = student.probe(parameters_by_name, module)
        expect_close(module(x), multi_head_variant(x, weights, n_head), name=f"forward(x) with n_head={n_head}",
                     mistakes=multi_head_mistakes(x, weights, n_head))
    expect_the_definition_at_other_sizes(student, generator, "forward")
    with hint("keep self.check_input(x) at the top of forward and forward_loop: x that is not (B, T, n_embd), "
              "or longer than block_size, must raise ValueError"):
        for bad in (torch.randn(T, C), torch.randn(B, T, C + 1), torch.randn(B, BLOCK + 1, C)):
            for method in (module, module.forward_loop):
                with pytest.raises(ValueError):
                    method(bad)


@points(1, hint="backpropagation must run through forward as through the formula: every projection gets its "
                "gradient, nothing detached (the copy kept in last_attention is for looking at), no torch.no_grad()",
        builds_on={"MultiHeadAttention.forward": "test_batched_matches_the_definition"})
def test_gradients_flow_through_forward(student, generator):
    module = build(student)
    weights = {}
    for name in PROJECTIONS:
        weights[f"{name}.weight"] = torch.randn(C, C, generator=generator) / math.sqrt(C)
        weights[f"{name}.bias"] = 0.3 * torch.randn(C, generator=generator)
    x = torch.randn(B, T, C, generator=generator)
    expect_gradients(student, module, weights, [lambda h, w: multi_head_variant(h, w, N_HEAD)], x,
                     torch.randn(B, T, C, generator=generator), name="MultiHeadAttention")


@points(2, hint="no Python loop over the heads in forward: the head is a batch dimension, so one q @ k^T and one "
                "softmax serve every head (and do not call F.scaled_dot_product_attention)",
        builds_on={"MultiHeadAttention.forward": "test_batched_matches_the_definition"})
def test_batched_has_no_loop_over_heads(student, generator):
    x = torch.randn(B, T, C, generator=generator)

    def observe(probe, n_head):
        """Run forward under ``probe``; what it observed, once the output of that run is checked here."""
        module = build(student, n_head=n_head)
        observed = student.probe(probe, module.forward, x)
        expect_close(observed["output"], multi_head_variant(x, student.probe(parameters_by_name, module), n_head),
                     name=f"forward(x) with n_head={n_head}")
        return observed

    counts = {n_head: heavy_operations(observe(operation_counts, n_head)["counts"]) for n_head in (1, 2, 4)}
    assert counts[1] == counts[2] == counts[4], \
        f"matrix products and softmaxes run by forward, by n_head: {counts}; they must not grow with n_head"
    # Any per-head loop, with or without matrix products, runs more operators for more heads.
    totals = {n_head: sum(observe(operation_counts, n_head)["counts"].values()) for n_head in (2, 3, 6)}
    assert totals[2] == totals[3] == totals[6], \
        f"forward runs {totals} torch operators for n_head = 2, 3, 6: the work must not grow with the heads"
    called = observe(torch_functions_of, N_HEAD)["functions"]
    assert not [name for name in called if "scaled_dot_product" in name or "multi_head" in name], called


@points(2, hint="forward and forward_loop use the same weights, so they must give the same output (up to float "
                "rounding); if only one matches the definition, the other has the mistake",
        builds_on={"step05 scaled_dot_product_attention": STEP05_ATTENTION})
def test_loop_and_batched_agree(student, generator):
    for causal in (True, False):
        module = build(student, causal=causal)
        x = torch.randn(B, T, C, generator=generator)
        expect_close(module(x), module.forward_loop(x), name=f"forward(x) against forward_loop(x), causal={causal}")


@points(1, hint="with n_head=1 the single head is head_size = n_embd wide: the output is still (B, T, n_embd)")
def test_one_head_keeps_the_shape(student, generator):
    x = torch.randn(B, T, C, generator=generator)
    for n_head in (4, 1):
        out = build(student, n_head=n_head)(x)
        assert tuple(out.shape) == (B, T, C), f"n_head={n_head}: expected shape {(B, T, C)}, got {tuple(out.shape)}"


# --- the mask and the attention weights --------------------------------------------------------------

@points(3, hint="causal: position t must not see positions after t in ANY head; mask the scores with "
                "self.mask[:T, :T] before the softmax",
        builds_on={"step05 causal_mask": STEP05_MASK, "MultiHeadAttention.split_heads": "test_split_and_merge_heads"})
def test_no_information_flows_from_the_future(student, generator):
    module = build(student)
    x = torch.randn(1, BLOCK, C, generator=generator)
    for name in ("forward", "forward_loop"):
        forward = getattr(module, name)
        out = forward(x)
        for t in (0, 3, BLOCK - 2):
            changed = x.clone()
            changed[:, t + 1:] = torch.randn(1, BLOCK - t - 1, C, generator=generator)
            expect_close(forward(changed)[:, : t + 1], out[:, : t + 1],
                         name=f"{name}: outputs at 0..{t} after changing positions {t + 1}..")


@points(1, hint="causal=False is attention without the mask (an encoder's attention): every position sees the "
                "whole sequence",
        builds_on={"MultiHeadAttention.forward": "test_batched_matches_the_definition",
                   "MultiHeadAttention.forward_loop": "test_loop_follows_the_definition"})
def test_without_the_mask_the_future_is_seen(student, generator):
    module = build(student, causal=False)
    x = torch.randn(B, T, C, generator=generator)
    weights = student.probe(parameters_by_name, module)
    expected = multi_head_variant(x, weights, N_HEAD, causal=False)
    mistakes = {"causal=False still masks the future: only apply the mask when self.causal":
                multi_head_variant(x, weights, N_HEAD, causal=True)}
    expect_close(module(x), expected, name="forward(x) with causal=False", mistakes=mistakes)
    expect_close(module.forward_loop(x), expected, name="forward_loop(x) with causal=False", mistakes=mistakes)


@points(1, hint="keep the weights of the last forward in self.last_attention, detached: one (T, T) matrix per "
                "head, shape (B, n_head, T, T), rows summing to 1, zero above the diagonal",
        builds_on={"MultiHeadAttention.forward": "test_batched_matches_the_definition"})
def test_last_attention_per_head(student, generator):
    module = build(student)
    x = torch.randn(B, 5, C, generator=generator)
    module(x)
    att = module.last_attention
    assert att is not None and tuple(att.shape) == (B, N_HEAD, 5, 5), \
        f"last_attention should be ({B}, {N_HEAD}, 5, 5), got {None if att is None else tuple(att.shape)}"
    assert not student.probe(last_attention_requires_grad, module), "store the weights detached (weights.detach())"
    expect_close(att.sum(dim=-1), torch.ones(B, N_HEAD, 5), name="the row sums of last_attention")
    expect_close(att.triu(1), torch.zeros(B, N_HEAD, 5, 5), name="last_attention above the diagonal", atol=0)
    weights = student.probe(parameters_by_name, module)
    q, k = (slices_of_heads(F.linear(x, weights[f"{n}.weight"], weights[f"{n}.bias"]), N_HEAD) for n in ("query", "key"))
    expected = F.softmax((q @ k.transpose(-2, -1) / math.sqrt(C // N_HEAD)).masked_fill(
        ~torch.ones(5, 5).tril().bool(), float("-inf")), dim=-1)
    expect_close(att, expected, name="last_attention")


# --- the parameter count ---------------------------------------------------------------------------------

@points(2, hint="count the weights and the biases of all four projections (query, key, value AND W_O), each "
                "n_embd x n_embd; the count does not depend on n_head")
def test_parameter_count_formula(student, generator):
    drawn = [(4 * int(torch.randint(1, 50, (), generator=generator)), bias) for bias in (True, False)]
    for n_embd, bias in [(C, True), (768, True), (C, False)] + drawn:
        reference = nn.MultiheadAttention(n_embd, 4, bias=bias, device="meta")  # meta: shapes only, no memory
        expected = sum(p.numel() for p in reference.parameters())
        observed = student.probe(torch_functions_of, student.multi_head.attention_parameter_count, n_embd, bias)
        counted = observed["output"]
        expect_a_formula(observed["functions"], "attention_parameter_count", "n_embd and bias")
        with hint("return a Python int: a count of parameters is a whole number (int(...) around anything computed "
                  "in floats or tensors)"):
            assert isinstance(counted, int) and not isinstance(counted, bool), \
                f"attention_parameter_count should return an int, got {type(counted).__name__}"
        d = n_embd
        with_bias = d if bias else 0
        expect_close(torch.tensor(counted), torch.tensor(expected), name=f"attention_parameter_count({d}, {bias})",
                     mistakes={
                         "W_O is not counted: there are four n_embd x n_embd projections, not three":
                             torch.tensor(3 * (d * d + with_bias)),
                         "the biases are missing: each projection has n_embd biases when bias=True":
                             torch.tensor(4 * d * d),
                         "the biases are counted when bias=False": torch.tensor(4 * (d * d + d)),
                     })


# --- probes: trusted helpers that run next to your code ------------------------------

def last_attention_requires_grad(module):
    return bool(module.last_attention.requires_grad)


def calls_to_step05_attention(function, x):
    """``function(x)``, and how often it ran your step 05 scaled_dot_product_attention (by any name)."""
    import importlib

    root = type(function.__self__).__module__.split(".")[0]
    code = importlib.import_module(f"{root}.step05.attention").scaled_dot_product_attention.__code__
    return count_calls(code, function, x)
