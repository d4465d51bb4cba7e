"""Grading suite for step 05: attention with a causal mask (``attention.py``).

``scaled_dot_product_attention`` is compared with PyTorch's own
``F.scaled_dot_product_attention``, which serves only as the oracle: your function may not
call it. The head is checked by what attention promises: each output is an average of
values with weights that sum to 1, and nothing after position t reaches position t.
"""

import ast
import math

import pytest
import torch
import torch.nn.functional as F

from grader import hint, points
from grader.checks import expect_close, expect_gradients
from grader.probes import (count_calls, named_buffer, operation_counts, operations_of,
                           parameter_shapes, tensors_after_the_call, torch_functions_of)

B, H, T, D_K, D_V = 2, 3, 6, 8, 5  # d_k != d_v, so scaling by the wrong size shows
N_EMBD, HEAD, BLOCK = 12, 4, 8
MAX_LINES = 30


def random_qkv(generator, *batch):
    q = torch.randn(*batch, T, D_K, generator=generator)
    k = torch.randn(*batch, T, D_K, generator=generator)
    v = torch.randn(*batch, T, D_V, generator=generator)
    return q, k, v


def copies(*tensors):
    """Fresh copies of the tensors for one call to your code. A function that changes its inputs in
    place (q /= ...) must not also change the tensors the expected results are computed from here:
    that mistake is graded once, by its own check, with its own hint."""
    return tuple(tensor.clone() for tensor in tensors)


def attention_variant(q, k, v, mask=None, scale=None, softmax_dim=-1, mask_after_softmax=False, fill=-math.inf):
    """(out, weights) of attention, right by default; the options make it what a mistake computes."""
    scale = math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ k.transpose(-2, -1) / scale
    if mask is not None and not mask_after_softmax:
        scores = scores.masked_fill(~mask, fill)
    weights = F.softmax(scores, dim=softmax_dim)
    if mask is not None and mask_after_softmax:
        weights = weights.masked_fill(~mask, 0.0)
    return weights @ v, weights


def attention_mistakes(q, k, v, mask=None, part=0):
    """Named wrong results (part 0: the output, 1: the weights), for expect_close."""
    d_k = q.shape[-1]
    mistakes = {
        "the scores are divided by d_k: divide by sqrt(d_k)": attention_variant(q, k, v, mask, scale=d_k),
        "the scores are not scaled: divide q @ k^T by sqrt(d_k)": attention_variant(q, k, v, mask, scale=1.0),
        "the scores are divided by sqrt(d_v): the scale comes from the size of the queries and keys, d_k":
            attention_variant(q, k, v, mask, scale=math.sqrt(v.shape[-1])),
        "the scores are divided by sqrt(T), the number of keys: the scale is sqrt(d_k), the length of each query "
        "and key vector, whatever the sequence length": attention_variant(q, k, v, mask, scale=math.sqrt(k.shape[-2])),
        "the softmax runs over the queries (dim=-2): each query's weights over the KEYS (dim=-1) must sum to 1":
            attention_variant(q, k, v, mask, softmax_dim=-2),
    }
    if mask is not None:
        mistakes["the mask is applied after the softmax: set masked scores to -inf BEFORE it, so the kept "
                 "weights still sum to 1"] = attention_variant(q, k, v, mask, mask_after_softmax=True)
        mistakes["the mask is inverted: True marks the keys a query MAY attend to"] = attention_variant(q, k, v, ~mask)
        mistakes["the masked scores are set to 0: set them to float('-inf'), since e^0 = 1 still gives a masked key "
                 "weight"] = attention_variant(q, k, v, mask, fill=0.0)
    return {message: result[part] for message, result in mistakes.items()}


# --- scaled dot-product attention ---------------------------------------------------------

@points(3, hint="out = softmax(q @ k^T / sqrt(d_k), dim=-1) @ v, for any number of leading dims "
                "(transpose the last two dims of k, not the first two)")
def test_attention_matches_torch(student, generator):
    for batch, d_k in [((B,), D_K), ((B, H), D_K), ((B,), 16)]:  # 16: the scale follows the queries' size
        q, k, v = random_qkv(generator, *batch)
        if d_k != D_K:
            q, k = torch.randn(*batch, T, d_k, generator=generator), torch.randn(*batch, T, d_k, generator=generator)
        out, weights = student.attention.scaled_dot_product_attention(*copies(q, k, v))
        mistakes = attention_mistakes(q, k, v, part=0)
        if d_k != D_K:
            mistakes[f"the scores are divided by sqrt({D_K}) whatever the size of the queries: d_k = q.shape[-1]"] = \
                attention_variant(q, k, v, scale=math.sqrt(D_K))[0]
        expect_close(out, F.scaled_dot_product_attention(q, k, v), name=f"out for {len(batch) + 2}-D inputs, d_k={d_k}",
                     mistakes=mistakes)
        expect_close(weights, F.softmax(q @ k.transpose(-2, -1) / math.sqrt(d_k), dim=-1),
                     name=f"weights for {len(batch) + 2}-D inputs, d_k={d_k}",
                     mistakes=attention_mistakes(q, k, v, part=1))


@points(1, hint="return the weights the output was made with: out must equal weights @ v, and each row of "
                "weights (one query) must sum to 1 over the keys")
def test_weights_are_the_ones_that_made_the_output(student, generator):
    q, k, v = random_qkv(generator, B)
    out, weights = student.attention.scaled_dot_product_attention(*copies(q, k, v))
    expect_close(weights.sum(dim=-1), torch.ones(B, T), name="the row sums of the weights")
    expect_close(out, weights @ v, name="out against weights @ v")
    with hint("large scores overflow exp() to inf and give nan: subtract each row's largest score before exp, "
              "or use F.softmax, which does"):
        big_q = 300 * q
        big_out, _ = student.attention.scaled_dot_product_attention(*copies(big_q, k, v))
        expect_close(big_out, F.scaled_dot_product_attention(big_q, k, v), name="out for scores in the hundreds")
    with hint("keep the inputs' dtype: float64 queries, keys and values give float64 out and weights (no .float())"):
        out64, weights64 = student.attention.scaled_dot_product_attention(q.double(), k.double(), v.double())
        assert out64.dtype == weights64.dtype == torch.float64, f"got {out64.dtype} and {weights64.dtype}"
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    with hint("do not change q, k, v or the mask in place (q /= ..., q.mul_(...), mask.logical_not_()): they are "
              "the caller's tensors. Scale the scores, or write q / sqrt(d_k) into a new tensor; use ~mask"):
        after = student.probe(tensors_after_the_call, student.attention.scaled_dot_product_attention,
                              q.clone(), k.clone(), v.clone(), mask.clone())
        for name, before, now in zip(("q", "k", "v", "the mask"), (q, k, v, mask), after):
            assert torch.equal(now, before), f"{name} was changed by the call"


@points(3, hint="masked scores become -inf (masked_fill(~mask, float('-inf'))) before the softmax; True in the "
                "mask means the query may attend to that key; the mask broadcasts over the leading dims")
def test_attention_with_a_mask(student, generator):
    q, k, v = random_qkv(generator, B, H)
    keep = torch.rand(T, T, generator=generator) < 0.5
    keep[torch.arange(T), torch.randint(0, T, (T,), generator=generator)] = True  # every query keeps a key
    per_example = torch.rand(B, 1, T, T, generator=generator) < 0.5  # one mask per sequence, shared by the heads
    per_example[..., torch.arange(T), torch.arange(T)] = True
    for mask in [torch.tril(torch.ones(T, T, dtype=torch.bool)), keep, per_example]:
        out, weights = student.attention.scaled_dot_product_attention(*copies(q, k, v, mask))
        _, expected_weights = attention_variant(q, k, v, mask)
        expect_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), name="out with a mask",
                     mistakes=attention_mistakes(q, k, v, mask, part=0))
        expect_close(weights, expected_weights, name="weights with a mask",
                     mistakes=attention_mistakes(q, k, v, mask, part=1))
        with hint("a masked key must get weight exactly 0"):
            assert float(weights[~mask.expand_as(weights)].abs().sum()) == 0
    # Fewer queries than keys (as when a cache holds the keys of earlier positions): a (T_q, T_k) mask.
    q, k, v = q[..., :3, :], k[..., :5, :], v[..., :5, :]
    mask = torch.rand(3, 5, generator=generator) < 0.5
    mask[:, 0] = True
    with hint("queries and keys may differ in number: the scores are (..., T_q, T_k) and so is the mask; "
              "use it as given, without cutting it to a square"):
        out, weights = student.attention.scaled_dot_product_attention(*copies(q, k, v, mask))
        expect_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), name="out for 3 queries, 5 keys")
        expect_close(weights, attention_variant(q, k, v, mask)[1], name="weights for 3 queries, 5 keys")
    with hint("keep the stub's first line, check_attention_inputs(q, k, v, mask): queries and keys of different "
              "sizes, a key without a value, or a mask that is not bool must raise a ValueError"):
        for bad_q, bad_k, bad_v, bad_mask in [(q[..., :4], k, v, None), (q, k, v[..., :4, :], None),
                                              (q, k, v, mask.float())]:
            with pytest.raises(ValueError):
                student.attention.scaled_dot_product_attention(*copies(bad_q, bad_k, bad_v), mask=bad_mask)


@points(1, hint="compute the attention yourself: no F.scaled_dot_product_attention or nn.MultiheadAttention",
        builds_on={"scaled_dot_product_attention": "test_attention_matches_torch"})
def test_attention_is_written_by_hand(student, generator):
    q, k, v = random_qkv(generator, B)
    observed = student.probe(torch_functions_of, student.attention.scaled_dot_product_attention, *copies(q, k, v))
    # The run whose calls were recorded must also have given the right answer.
    expect_close(observed["output"][0], F.scaled_dot_product_attention(q, k, v), name="out")
    called = observed["functions"]
    assert not [name for name in called if "scaled_dot_product" in name or "multi_head" in name], called


def logical_lines(source: str, name: str) -> int:
    """The statements in the body of the function ``name`` defined in ``source``, nested ones
    included; the docstring does not count.

    A statement that spans several lines counts once; two statements on one line (``a; b``)
    count twice. Comments and blank lines are not statements.
    """
    functions = [node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef) and node.name == name]
    assert functions, f"attention.py has no top-level `def {name}(...)`"
    body = functions[-1].body  # the last definition is the one the module keeps
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]  # the docstring
    return sum(1 for statement in body for node in ast.walk(statement) if isinstance(node, ast.stmt))


@points(2, hint=f"attention fits in a handful of lines: scores, mask, softmax, weighted sum. Over {MAX_LINES} "
                "statements means it is doing more than it needs to",
        builds_on={"scaled_dot_product_attention": "test_attention_matches_torch"})
def test_attention_fits_in_under_30_lines(student):
    count = logical_lines(student.source("attention"), "scaled_dot_product_attention")
    assert count <= MAX_LINES, f"the body of scaled_dot_product_attention has {count} logical lines (max {MAX_LINES})"
    # A short body that is still a stub does not count as done.
    student.attention.scaled_dot_product_attention(*random_qkv(torch.Generator().manual_seed(0)))


# --- the causal mask -------------------------------------------------------------------------

@points(2, hint="causal_mask(T) is torch.tril(torch.ones(T, T, dtype=torch.bool)): True on and below the "
                "diagonal (a position sees itself and the past), False above it")
def test_causal_mask(student):
    for size in (1, 4, 7):
        mask = student.attention.causal_mask(size)
        assert mask.dtype == torch.bool, f"the mask should be a bool tensor, got {mask.dtype}"
        expected = torch.ones(size, size).tril().bool()
        expect_close(mask, expected, name=f"causal_mask({size})", mistakes={
            "the mask is upper-triangular (triu): a position may see the PAST, the entries below the diagonal":
                torch.ones(size, size).triu().bool(),
            "the diagonal is masked: a position must see itself (tril with diagonal=0)":
                torch.ones(size, size).tril(-1).bool(),
        })
    with hint("build the mask with torch.tril (or tensor.tril): it is the step's tool for a causal mask"):
        observed = student.probe(operations_of, student.attention.causal_mask, 5)
        assert torch.equal(observed["output"], torch.ones(5, 5).tril().bool()), "causal_mask(5) is wrong"
        operations = observed["operators"]
        assert [op for op in operations if op.startswith("tril")], operations  # tril or the in-place tril_


# --- the averaging baseline --------------------------------------------------------------------

def running_means(x: torch.Tensor) -> torch.Tensor:
    return x.cumsum(dim=1) / torch.arange(1, x.shape[1] + 1).reshape(1, -1, 1)


@points(1, hint="out[b, t] is the mean of x[b, 0], ..., x[b, t]: t + 1 vectors, the current one included")
def test_average_with_a_loop(student, generator):
    x = torch.randn(B, T, D_V, generator=generator)
    expect_close(student.attention.average_previous_loop(x), running_means(x), name="the loop averages", mistakes={
        "the current position is left out: average x[b, :t + 1], not x[b, :t]":
            torch.cat([x[:, :1], running_means(x)[:, :-1]], dim=1),
    })
    with hint("average_previous_loop is the version with Python loops, one mean per position: the batched "
              "versions (matmul, softmax) come next"):
        work = {}
        for length in (T, 2 * T):
            inputs = torch.randn(1, length, D_V, generator=generator)
            observed = student.probe(operation_counts, student.attention.average_previous_loop, inputs)
            expect_close(observed["output"], running_means(inputs), name="the loop averages")
            work[length] = sum(observed["counts"].values())
        assert work[2 * T] > work[T], f"the operations run for T = {T} and {2 * T}: {work[T]} and {work[2 * T]}"


@points(2, hint="normalise each row of the tril matrix by its own sum (row t holds t + 1 ones), then "
                "weights @ x; no Python loop")
def test_average_with_a_matmul(student, generator):
    x = torch.randn(B, T, D_V, generator=generator)
    expect_close(student.attention.average_previous_matmul(x), running_means(x), name="the matmul averages",
                 mistakes={"the tril matrix is not normalised: that sums the past instead of averaging it":
                           x.cumsum(dim=1)})
    with hint("the averages must come from one matrix product, not from a loop or cumsum: weights @ x "
              "broadcasts the (T, T) weights over the batch"):
        products = {}
        # A loop over the batch runs one product per sequence, a loop over the rows one per position.
        for batch, length in ((1, T), (4, T), (1, 2 * T)):
            inputs = torch.randn(batch, length, D_V, generator=generator)
            observed = student.probe(operation_counts, student.attention.average_previous_matmul, inputs)
            expect_close(observed["output"], running_means(inputs), name="the matmul averages")
            products[batch, length] = sum(n for op, n in observed["counts"].items() if op in ("mm", "bmm", "matmul"))
        assert len(set(products.values())) == 1 and min(products.values()) >= 1, \
            f"matrix products run for (batch, T) = {products}: the same number whatever the batch and T"


@points(2, hint="scores start at zeros(T, T); masked_fill the future (where the causal mask is False) with -inf; "
                "softmax over the last dim gives the same rows 1/(t+1) as the matmul version",
        builds_on={"causal_mask": "test_causal_mask"})
def test_average_with_a_softmax(student, generator):
    x = torch.randn(B, T, D_V, generator=generator)
    expect_close(student.attention.average_previous_softmax(x), running_means(x), name="the softmax averages",
                 mistakes={"the future is filled with 0 instead of -inf: exp(0) = 1, so it still gets weight":
                           x.mean(dim=1, keepdim=True).expand_as(x)})
    with hint("this version is the one written as attention: a softmax over masked scores"):
        observed = student.probe(operations_of, student.attention.average_previous_softmax, x)
        expect_close(observed["output"], running_means(x), name="the softmax averages")
        operators = observed["operators"]
        assert "_softmax" in operators or "exp" in operators, operators  # F.softmax, or one written out


# --- one head of causal self-attention --------------------------------------------------------------

@points(2, hint="three nn.Linear(n_embd, head_size, bias=False) named query, key and value; forward returns "
                "(B, T, head_size)",
        builds_on={"scaled_dot_product_attention": "test_attention_matches_torch"})
def test_head_has_three_projections(student, generator):
    for n_embd, head_size, block_size in [(N_EMBD, HEAD, BLOCK), (10, 6, 12)]:  # sizes are arguments, not constants
        head = student.attention.CausalSelfAttentionHead(n_embd, head_size, block_size)
        shapes = student.probe(projection_shapes, head)
        wanted = (head_size, n_embd)
        assert shapes == {"query": wanted, "key": wanted, "value": wanted}, \
            f"CausalSelfAttentionHead({n_embd}, {head_size}, {block_size}): projection weights {shapes}"
        with hint("the projections have no bias (bias=False), and the mask is a buffer, not a parameter"):
            assert sorted(student.probe(parameter_shapes, head)) == [wanted] * 3
        registered = student.probe(named_buffer, head, "mask")
        with hint("register causal_mask(block_size) as a buffer named mask, self.register_buffer('mask', ...): "
                  "a plain tensor attribute stays behind when the module moves to a GPU"):
            assert registered is not None, "the head has no buffer named mask"
        with hint("the buffer holds causal_mask(block_size) itself, a bool tril (True where a query may look) of "
                  "block_size x block_size, under the documented name mask: not its inverse, not a float matrix"):
            square = registered.reshape(registered.shape[-2:]) if registered.dim() >= 2 and \
                all(size == 1 for size in registered.shape[:-2]) else registered  # a (1, ..., T, T) view is fine
            assert square.dtype == torch.bool and torch.equal(square, torch.ones(block_size, block_size).tril().bool()), \
                f"block_size={block_size}: the mask buffer is {registered.dtype} {tuple(registered.shape)}: " \
                f"{registered.int().tolist()}"
        out = head(torch.randn(B, 5, n_embd, generator=generator))
        assert tuple(out.shape) == (B, 5, head_size), f"expected shape ({B}, 5, {head_size}), got {tuple(out.shape)}"


@points(3, hint="q = query(x), k = key(x), v = value(x), then your scaled_dot_product_attention(q, k, v) with "
                "the causal mask cut to mask[:T, :T]",
        builds_on={"scaled_dot_product_attention": "test_attention_with_a_mask", "causal_mask": "test_causal_mask",
                   "CausalSelfAttentionHead.__init__": "test_head_has_three_projections"})
def test_head_output(student, generator):
    head = student.attention.CausalSelfAttentionHead(N_EMBD, HEAD, BLOCK)
    x = torch.randn(B, 6, N_EMBD, generator=generator)
    weights = student.probe(projection_weights, head)
    q, k, v = (x @ weights[name].T for name in ("query", "key", "value"))
    mask = torch.ones(6, 6).tril().bool()
    expect_close(head(x), F.scaled_dot_product_attention(q, k, v, attn_mask=mask), name="the head's output",
                 mistakes={
                     "queries and keys are swapped: the scores are q @ k^T with q = query(x), k = key(x)":
                         F.scaled_dot_product_attention(k, q, v, attn_mask=mask),
                     "the head does not mask the future: pass the causal mask": F.scaled_dot_product_attention(q, k, v),
                     "the head scales the scores by sqrt(n_embd): your scaled_dot_product_attention already divides "
                     "by sqrt(d_k), with d_k = head_size; pass q, k, v as they come from the projections":
                         F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1 / math.sqrt(N_EMBD)),
                     "the scores are scaled twice: scaled_dot_product_attention divides by sqrt(head_size) itself, "
                     "so the head passes q and k unscaled":
                         F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1 / HEAD),
                 })
    with hint("in eval mode the head computes the same: it has no dropout of its own"):
        head.eval()
        expect_close(head(x), F.scaled_dot_product_attention(q, k, v, attn_mask=mask), name="the output in eval mode")
        head.train()
    with hint("the head must call your scaled_dot_product_attention (it is the function you just wrote)"):
        observed = student.probe(calls_to_your_attention, head, x)
        expect_close(observed["output"], F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
                     name="the output of the run that counted the calls")
        assert observed["calls"] >= 1, "the head never called your scaled_dot_product_attention"
    # Other sizes, all of them used: nothing may be written for n_embd 12, head_size 4, block_size 8.
    other = student.attention.CausalSelfAttentionHead(10, 6, 12)
    x = torch.randn(B, 12, 10, generator=generator)
    weights = student.probe(projection_weights, other)
    q, k, v = (x @ weights[name].T for name in ("query", "key", "value"))
    expect_close(other(x), F.scaled_dot_product_attention(q, k, v, is_causal=True),
                 name="the output of CausalSelfAttentionHead(10, 6, 12) on 12 positions")


@points(2, hint="keep the weights of the last forward in self.last_attention, detached: (B, T, T), rows sum to 1, "
                "zero above the diagonal, and the output is last_attention @ value(x)",
        builds_on={"CausalSelfAttentionHead": "test_head_output"})
def test_head_keeps_its_last_attention(student, generator):
    head = student.attention.CausalSelfAttentionHead(N_EMBD, HEAD, BLOCK)
    x = torch.randn(B, 5, N_EMBD, generator=generator)
    out = head(x)
    att = head.last_attention
    assert att is not None and tuple(att.shape) == (B, 5, 5), \
        f"last_attention should have shape ({B}, 5, 5), got {None if att is None else tuple(att.shape)}"
    assert not student.probe(last_attention_requires_grad, head), "store the weights detached (weights.detach())"
    expect_close(att.sum(dim=-1), torch.ones(B, 5), name="the row sums of last_attention")
    expect_close(att.triu(1), torch.zeros(B, 5, 5), name="last_attention above the diagonal", atol=0)
    value = student.probe(projection_weights, head)["value"]
    expect_close(out, att @ (x @ value.T), name="the output against last_attention @ value(x)")


@points(1, hint="backpropagation must run through your head as through the formula: the output made from the "
                "softmax weights themselves (not the detached copy kept in last_attention), nothing detached, no "
                "torch.no_grad() in forward",
        builds_on={"CausalSelfAttentionHead": "test_head_output"})
def test_gradients_flow_through_your_head(student, generator):
    head = student.attention.CausalSelfAttentionHead(N_EMBD, HEAD, BLOCK)
    weights = {f"{name}.weight": torch.randn(HEAD, N_EMBD, generator=generator) / math.sqrt(N_EMBD)
               for name in ("query", "key", "value")}
    x = torch.randn(B, 6, N_EMBD, generator=generator)

    def definition(h, w):
        q, k, v = (h @ w[f"{name}.weight"].T for name in ("query", "key", "value"))
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    expect_gradients(student, head, weights, [definition], x, torch.randn(B, 6, HEAD, generator=generator),
                     name="CausalSelfAttentionHead")


@points(3, hint="position t must not see positions after t: mask the scores of the future with the causal "
                "mask, before the softmax",
        builds_on={"causal_mask": "test_causal_mask", "scaled_dot_product_attention": "test_attention_with_a_mask"})
def test_no_information_flows_from_the_future(student, generator):
    head = student.attention.CausalSelfAttentionHead(N_EMBD, HEAD, BLOCK)
    x = torch.randn(1, BLOCK, N_EMBD, generator=generator)
    out = head(x)
    for t in (0, 3, BLOCK - 2):
        changed = x.clone()
        changed[:, t + 1:] = torch.randn(1, BLOCK - t - 1, N_EMBD, generator=generator)
        expect_close(head(changed)[:, : t + 1], out[:, : t + 1],
                     name=f"the outputs at positions 0..{t} after changing positions {t + 1}..{BLOCK - 1}")
    with hint("shorter inputs use the top-left T x T corner of the mask, mask[:T, :T]"):
        short = head(x[:, :3])
        expect_close(short, out[:, :3], name="the outputs for the first 3 positions alone")


# --- probes: trusted helpers that run next to your code ------------------------------

def projection_shapes(head):
    return {name: tuple(getattr(head, name).weight.shape) for name in ("query", "key", "value")
            if isinstance(getattr(head, name, None), torch.nn.Linear)}


def projection_weights(head):
    return {name: getattr(head, name).weight.detach() for name in ("query", "key", "value")}


def last_attention_requires_grad(head):
    return bool(head.last_attention.requires_grad)


def calls_to_your_attention(head, x):
    """``head(x)``, and how often it ran the scaled_dot_product_attention of your attention.py (by any name)."""
    import sys

    return count_calls(sys.modules[type(head).__module__].scaled_dot_product_attention.__code__, head, x)
