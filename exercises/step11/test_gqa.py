"""Grading suite for step 11c: grouped-query attention with RoPE and a KV cache (``gqa.py``).

The outputs are compared with the layer computed here from your module's own weights,
straight from the description in ``gqa.py``: project, split into n_head query heads and
n_kv_head key/value heads, turn queries and keys with RoPE (written here as complex
multiplication, independent of your ``rope.py``), repeat each key/value head for its
group, causal attention, merge, W_O. The same computation fed in pieces, with the keys and
values of earlier pieces kept, is what your layer must give with a ``KVCache``.
"""

import math

import torch
import torch.nn.functional as F

from grader import hint, points
from grader.checks import expect_close
from grader.probes import linear_shapes, parameters_by_name

B, C, N_HEAD, BLOCK, T = 2, 32, 4, 12, 9  # head_size 8: four RoPE frequencies
PIECES = (3, 1, 1, 4)  # a prompt of 3, two single tokens, then 4 more: T positions in all
STEP11_ROPE = "test_rope.py::test_rotation_follows_the_definition"
STEP11_ANGLES = "test_rope.py::test_angles_follow_the_definition"
STEP11_CACHE = "test_kv_cache.py::test_append_keeps_every_position_in_order"
STEP05_MASK = "step05/test_attention.py::test_causal_mask"
PROJECTIONS = ("query", "key", "value", "out_proj")  # the four nn.Linear layers, by name


def turned(x: torch.Tensor, positions: torch.Tensor, base: float) -> torch.Tensor:
    """RoPE by its definition: pair i of x (..., t, hs) at position m times e^(i * m * base^(-2i/hs))."""
    hs = x.shape[-1]
    theta = base ** (-torch.arange(0, hs, 2, dtype=torch.float64) / hs)
    angles = positions.double()[:, None] * theta  # (t, hs/2)
    z = torch.view_as_complex(x.double().reshape(*x.shape[:-1], hs // 2, 2).contiguous())
    return torch.view_as_real(z * torch.polar(torch.ones_like(angles), angles)).flatten(-2)


def heads(x: torch.Tensor, n: int) -> torch.Tensor:
    """(B, t, n * hs) -> (B, n, t, hs): head j holds columns j*hs:(j+1)*hs."""
    hs = x.shape[-1] // n
    return torch.stack([x[..., j * hs:(j + 1) * hs] for j in range(n)], dim=1)


def gqa_by_definition(x, weights, n_head, n_kv_head, pieces=None, base=10000.0, *, rope="q and k",
                      repeat="interleave", scale="head", causal=True, restart_positions=False,
                      mask_offset=True, keep_past=True, cached_out=None, split="heads", merge="heads",
                      softmax_dim=-1, out_proj=True):
    """The layer's output (float64) for x fed in ``pieces`` (None: all at once); the options make it a mistake.

    ``cached_out``, a list, receives the keys and values (n_kv_head heads, turned keys) kept after the last piece.
    """
    x = x.double()
    w = {name: value.double() for name, value in weights.items()}
    project = lambda t, name: F.linear(t, w[f"{name}.weight"], w.get(f"{name}.bias"))  # noqa: E731
    hs = x.shape[-1] // n_head
    past_k = past_v = None
    outputs, start = [], 0
    for length in pieces or [x.shape[1]]:
        piece = x[:, start:start + length]
        # split="reshape": the mistake of .view(B, n, T, hs) without the transpose, which mixes positions and heads
        divide = {"heads": heads, "reshape": lambda t, n: t.reshape(t.shape[0], n, t.shape[1], -1),
                  # split="strided": the mistake of .view(B, T, head_size, n) (head j gets columns j, j + n, ...)
                  "strided": lambda t, n: t.reshape(t.shape[0], t.shape[1], -1, n).permute(0, 3, 1, 2)}[split]
        q, k, v = divide(project(piece, "query"), n_head), divide(project(piece, "key"), n_kv_head), \
            divide(project(piece, "value"), n_kv_head)
        first = 0 if restart_positions else start
        positions = torch.arange(first, first + length)
        if rope in ("q and k", "q only", "q, k and v"):
            q = turned(q, positions, base)
        if rope in ("q and k", "q, k and v"):
            k = turned(k, positions, base)
        if rope == "q, k and v":
            v = turned(v, positions, base)
        if keep_past and past_k is not None:
            k, v = torch.cat((past_k, k), dim=2), torch.cat((past_v, v), dim=2)
        past_k, past_v = k, v
        n_rep = n_head // n_kv_head
        if repeat == "interleave":
            k_all, v_all = k.repeat_interleave(n_rep, dim=1), v.repeat_interleave(n_rep, dim=1)
        else:  # the whole stack tiled: heads 0, 1, 0, 1
            k_all, v_all = k.repeat(1, n_rep, 1, 1), v.repeat(1, n_rep, 1, 1)
        keys = k_all.shape[2]
        divisor = {"head": math.sqrt(hs), "embd": math.sqrt(x.shape[-1]), "none": 1.0,
                   "fixed": math.sqrt(C // N_HEAD)}[scale]
        scores = q @ k_all.transpose(-2, -1) / divisor  # (B, nh, t, L)
        if causal:  # rows start .. start + length - 1 of the block's mask (rows 0 .. length - 1 if not shifted)
            first_row = start if mask_offset else 0
            allowed = torch.ones(BLOCK, BLOCK, dtype=torch.bool).tril()[first_row:first_row + length, :keys]
            if causal == "inverted":  # the mistake of masked_fill(mask, ...): the past hidden, the future seen
                allowed = ~allowed
            scores = scores.masked_fill(~allowed, float("-inf"))
        out = F.softmax(scores, dim=softmax_dim) @ v_all  # (B, nh, t, hs)
        # merge="reshape": the mistake of .reshape(B, T, C) without first moving the heads back behind the positions
        merged = torch.cat(out.unbind(dim=1), dim=-1) if merge == "heads" else out.reshape(x.shape[0], length, -1)
        outputs.append(project(merged, "out_proj") if out_proj else merged)
        start += length
    if cached_out is not None:
        cached_out.extend([past_k, past_v])
    return torch.cat(outputs, dim=1)


def gqa_mistakes(x, weights, n_head, n_kv_head, base=10000.0) -> dict:
    variant = lambda **options: gqa_by_definition(x, weights, n_head, n_kv_head, base=base, **options)  # noqa: E731
    mistakes = {
        "no RoPE: turn the queries and the keys with apply_rope and the rows of self.cos, self.sin for their "
        "positions": variant(rope="none"),
        "only the queries are turned: RoPE turns the keys too, so that their dot product sees the distance":
            variant(rope="q only"),
        "the values are turned too: RoPE is for queries and keys, the values carry content and stay as they are":
            variant(rope="q, k and v"),
        "the scores are scaled by sqrt(n_embd): each head's dot products have head_size terms, divide by "
        "sqrt(head_size)": variant(scale="embd"),
        "the scores are not scaled: divide by sqrt(head_size)": variant(scale="none"),
        "the future is not masked: mask the scores with the causal mask before the softmax":
            variant(causal=False),
        "the mask is inverted: fill -inf where the mask is False, masked_fill(~mask[...], float('-inf')); the "
        "mask is True where a query may see a key": variant(causal="inverted"),
        "the heads are split with .view(B, T, head_size, n_head), so that head j gets the columns j, j + n_head, "
        "...: view as (B, T, n_head, head_size), head j owning the columns j * head_size:(j + 1) * head_size":
            variant(split="strided"),
        "the softmax runs over the queries (dim=-2): each query's weights over the keys must sum to 1, dim=-1":
            variant(softmax_dim=-2),
        "the heads are split with .view(B, n_head, T, head_size): that mixes positions and heads; view as "
        "(B, T, n_head, head_size), then .transpose(1, 2)": variant(split="reshape"),
        "the heads are merged with .reshape(B, T, C) straight from (B, n_head, T, head_size): .transpose(1, 2) "
        "first, so that each position's heads sit side by side": variant(merge="reshape"),
        "out_proj is missing: the merged heads go through self.out_proj": variant(out_proj=False),
    }
    if 1 < n_kv_head < n_head:
        mistakes["the key/value heads are tiled (0, 1, 0, 1) instead of repeated in place (0, 0, 1, 1): query "
                 "head h belongs to key/value head h // n_rep; use repeat_interleave, not repeat"] = \
            variant(repeat="tile")
    return mistakes


def build(student, n_head=N_HEAD, n_kv_head=2, **options):
    return student.gqa.GroupedQueryAttention(C, n_head, n_kv_head, BLOCK, **options)


def weights_of(student, module, n_head=N_HEAD, n_kv_head=2) -> dict:
    """The module's parameters by name, after checking that the four projections have the shapes the
    definition needs (a wrong one is named here, rather than failing inside the definition's arithmetic)."""
    weights = student.probe(parameters_by_name, module)
    kv = n_kv_head * (C // n_head)
    expected = {"query.weight": (C, C), "key.weight": (kv, C), "value.weight": (kv, C), "out_proj.weight": (C, C)}
    got = {name: tuple(weights[name].shape) if name in weights else None for name in expected}
    with hint(f"key and value are nn.Linear(n_embd, n_kv_head * head_size), here ({C}, {kv}): they make the "
              f"n_kv_head={n_kv_head} key/value heads only; query and out_proj are nn.Linear(n_embd, n_embd). "
              f"The layers are named {', '.join(PROJECTIONS)}"):
        assert got == expected, f"n_head={n_head}, n_kv_head={n_kv_head}: expected the weights {expected}, got {got}"
    return weights


# --- the parts ---------------------------------------------------------------------------------------

@points(2, hint="repeat_interleave(n_rep, dim=1): output head h is input head h // n_rep (0, 0, 1, 1 for n_rep 2), "
                "not the stack tiled (0, 1, 0, 1)")
def test_repeat_kv(student, generator):
    for n_kv, n_rep in [(2, 2), (3, 4), (1, 3), (2, 1)]:
        x = torch.randn(B, n_kv, 5, 4, generator=generator)
        expect_close(student.gqa.repeat_kv(x.clone(), n_rep), x.repeat_interleave(n_rep, dim=1),
                     name=f"repeat_kv(x with {n_kv} heads, {n_rep})", mistakes={
                         "the heads are tiled: x.repeat(1, n_rep, 1, 1) gives 0, 1, 0, 1; each head must be repeated "
                         "in place, 0, 0, 1, 1 (repeat_interleave)": x.repeat(1, n_rep, 1, 1)})


@points(2, hint="query and out_proj are nn.Linear(n_embd, n_embd); key and value are nn.Linear(n_embd, n_kv_head * "
                "head_size): fewer key/value heads, smaller projections. Buffers: mask = causal_mask(block_size), "
                "cos, sin = rope_angles(block_size, head_size, rope_base)",
        builds_on={"rope_angles": STEP11_ANGLES, "step05 causal_mask": STEP05_MASK})
def test_projections_and_buffers(student):
    for n_kv_head, bias, base in [(2, False, 10000.0), (1, True, 500.0), (4, False, 10000.0)]:
        module = build(student, n_kv_head=n_kv_head, bias=bias, rope_base=base)
        shapes = student.probe(linear_shapes, module, PROJECTIONS)
        kv = n_kv_head * (C // N_HEAD)
        expected = {"query": ((C, C), (C,) if bias else None), "key": ((kv, C), (kv,) if bias else None),
                    "value": ((kv, C), (kv,) if bias else None), "out_proj": ((C, C), (C,) if bias else None)}
        assert shapes == expected, f"n_kv_head={n_kv_head}, bias={bias}: expected (weight, bias) shapes " \
                                   f"{expected}, got {shapes}"
        buffers = student.probe(buffers_by_name, module)
        assert set(buffers) >= {"mask", "cos", "sin"}, f"the buffers are {sorted(buffers)}"
        expect_close(buffers["mask"], torch.ones(BLOCK, BLOCK).tril().bool(), name="the mask buffer", atol=0)
        with hint("the mask buffer is step 05's causal_mask(block_size) as it comes, a bool tensor: masked_fill "
                  "needs True where a position may be seen"):
            assert buffers["mask"].dtype == torch.bool, f"the mask buffer is {buffers['mask'].dtype}"
        angles = torch.arange(BLOCK, dtype=torch.float64)[:, None] * \
            base ** (-torch.arange(0, C // N_HEAD, 2, dtype=torch.float64) / (C // N_HEAD))
        with hint("cos and sin come from rope_angles(block_size, head_size, rope_base): pass rope_base on, and the "
                  "head's size (n_embd // n_head), not n_embd"):
            expect_close(buffers["cos"], angles.cos(), name=f"the cos buffer (rope_base {base})")
            expect_close(buffers["sin"], angles.sin(), name=f"the sin buffer (rope_base {base})")


@points(2, hint="query and out_proj: n_embd * n_embd each; key and value: n_embd * (n_kv_head * head_size) each; "
                "with bias, one bias per output of each projection")
def test_parameter_count(student):
    for n_embd, n_head, n_kv_head, bias in [(C, 4, 2, False), (4096, 32, 8, False), (64, 8, 1, True),
                                            (48, 6, 6, True)]:
        kv = n_kv_head * (n_embd // n_head)
        expected = 2 * n_embd * n_embd + 2 * n_embd * kv + ((2 * n_embd + 2 * kv) if bias else 0)
        counted = student.gqa.gqa_parameter_count(n_embd, n_head, n_kv_head, bias)
        with hint("return a Python int: a count of parameters is a whole number (use // for the head size, not /, "
                  "and int(...) around anything computed in floats or tensors)"):
            assert isinstance(counted, int) and not isinstance(counted, bool), \
                f"gqa_parameter_count should return an int, got {type(counted).__name__}"
        expect_close(torch.tensor(counted), torch.tensor(expected),
                     name=f"gqa_parameter_count({n_embd}, {n_head}, {n_kv_head}, {bias})", mistakes={
                         "key and value are counted at full size: they produce n_kv_head * head_size numbers, "
                         "not n_embd": torch.tensor(4 * n_embd * n_embd + (4 * n_embd if bias else 0)),
                         "key and value are n_embd x (n_kv_head * n_embd): their output is n_kv_head heads of "
                         "head_size = n_embd // n_head": torch.tensor(
                             2 * n_embd * n_embd + 2 * n_embd * n_kv_head * n_embd
                             + ((2 * n_embd + 2 * n_kv_head * n_embd) if bias else 0)),
                         "the biases are left out (or counted without bias)": torch.tensor(
                             2 * n_embd * n_embd + 2 * n_embd * kv + ((2 * n_embd + 2 * kv) if not bias else 0)),
                     })


# --- the whole sequence at once ------------------------------------------------------------------------

@points(5, hint="queries (B, n_head, T, hs), keys and values (B, n_kv_head, T, hs); apply_rope to q and k with "
                "self.cos[:T], self.sin[:T]; repeat_kv both to n_head heads; scores = q @ k^T / sqrt(head_size), "
                "causal mask, softmax, @ v, merge the heads, out_proj",
        builds_on={"apply_rope": STEP11_ROPE, "rope_angles": STEP11_ANGLES, "repeat_kv": "test_repeat_kv",
                   "step05 causal_mask": STEP05_MASK, "the projections and buffers": "test_projections_and_buffers"})
def test_matches_the_definition(student, generator):
    # The last case has heads of 16 dimensions, the others of 8.
    for n_head, n_kv_head, bias, base in [(N_HEAD, 2, False, 10000.0), (N_HEAD, 1, True, 10000.0),
                                          (N_HEAD, 4, False, 100.0), (2, 1, False, 10000.0)]:
        module = build(student, n_head=n_head, n_kv_head=n_kv_head, bias=bias, rope_base=base)
        x = torch.randn(B, T, C, generator=generator)
        weights = weights_of(student, module, n_head, n_kv_head)
        out = module(x)
        mistakes = gqa_mistakes(x, weights, n_head, n_kv_head, base)
        if C // n_head != C // N_HEAD:
            mistakes[f"the scores are divided by sqrt({C // N_HEAD}) whatever the head size: divide by "
                     "math.sqrt(head_size), with head_size = n_embd // n_head (here "
                     f"{C // n_head})"] = gqa_by_definition(x, weights, n_head, n_kv_head, base=base,
                                                            scale="fixed")
        expect_close(out, gqa_by_definition(x, weights, n_head, n_kv_head, base=base),
                     name=f"forward(x) with n_head={n_head}, n_kv_head={n_kv_head}, bias={bias}, rope_base={base}",
                     atol=1e-5, mistakes=mistakes)
        with hint("forward returns a tensor in x's dtype: do not turn float32 into float64 on the way (cos and sin "
                  "are float32 buffers; a .double() anywhere carries through)"):
            assert out.dtype == x.dtype, f"forward of a {x.dtype} x returned {out.dtype}"


@points(1, hint="position t must not see positions after t: mask the scores before the softmax",
        builds_on={"forward": "test_matches_the_definition"})
def test_no_information_flows_from_the_future(student, generator):
    module = build(student)
    x = torch.randn(1, BLOCK, C, generator=generator)
    out = module(x)
    assert isinstance(out, torch.Tensor) and out.shape == x.shape, \
        f"forward(x) should return a tensor of shape {tuple(x.shape)}, got {type(out).__name__} " \
        f"{tuple(getattr(out, 'shape', ()))}"
    for t in (0, 4, BLOCK - 2):
        changed = x.clone()
        changed[:, t + 1:] = torch.randn(1, BLOCK - t - 1, C, generator=generator)
        expect_close(module(changed)[:, :t + 1], out[:, :t + 1],
                     name=f"outputs at 0..{t} after changing positions {t + 1}..")


# --- in pieces, with a cache ------------------------------------------------------------------------

def cache_mistakes(x, weights, n_kv_head) -> dict:
    variant = lambda **options: gqa_by_definition(x, weights, N_HEAD, n_kv_head, PIECES, **options)  # noqa: E731
    return {
        "every piece is turned as if it started at position 0: the new positions start at cache.length, so use "
        "self.cos[start:start + T] (and sin) with start = cache.length": variant(restart_positions=True),
        "the mask is not shifted: the new queries are positions start .. start + T - 1, so take rows "
        "start:start + T of self.mask (and the first L columns), not rows 0:T": variant(mask_offset=False),
        "the cache is not used: append the new keys and values to the cache and attend to everything it returns":
            variant(keep_past=False),
        "the cache is not used (the new positions attend to themselves only): attend to everything cache.append "
        "returns": variant(keep_past=False, mask_offset=False),
    }


@points(5, hint="with a cache: start = cache.length; turn q and k with rows start:start+T of cos and sin; "
                "k, v = cache.append(k, v); repeat_kv; mask with self.mask[start:start+T, :L]. Fed in pieces, the "
                "outputs must equal those of the whole sequence",
        builds_on={"KVCache.append": STEP11_CACHE, "forward": "test_matches_the_definition"})
def test_pieces_with_a_cache_give_the_whole_sequence(student, generator):
    for n_kv_head in (2, 1):
        module = build(student, n_kv_head=n_kv_head)
        x = torch.randn(B, T, C, generator=generator)
        weights = weights_of(student, module, n_kv_head=n_kv_head)
        cache = student.kv_cache.KVCache(BLOCK)
        outputs, start = [], 0
        for length in PIECES:
            outputs.append(module(x[:, start:start + length], cache))
            start += length
        expect_close(torch.cat(outputs, dim=1), gqa_by_definition(x, weights, N_HEAD, n_kv_head),
                     name=f"the outputs of x fed in pieces of {list(PIECES)}, n_kv_head={n_kv_head}", atol=1e-5,
                     mistakes=cache_mistakes(x, weights, n_kv_head))


@points(2, hint="append the keys after RoPE and BEFORE repeat_kv: the cache holds n_kv_head heads (that is the "
                "memory GQA saves), with keys already turned (a stored key never moves again) and values as they "
                "are",
        builds_on={"KVCache.append": STEP11_CACHE, "pieces": "test_pieces_with_a_cache_give_the_whole_sequence",
                   "apply_rope": STEP11_ROPE, "rope_angles": STEP11_ANGLES})
def test_the_cache_holds_turned_keys_of_the_key_value_heads(student, generator):
    module = build(student, n_kv_head=2)
    x = torch.randn(B, T, C, generator=generator)
    weights = weights_of(student, module)
    cache = student.kv_cache.KVCache(BLOCK)
    start = 0
    for length in PIECES:
        module(x[:, start:start + length], cache)
        start += length
    kept: list = []
    gqa_by_definition(x, weights, N_HEAD, 2, PIECES, cached_out=kept)
    keys, values = kept
    expect_close(cache.keys, keys, name="cache.keys after the pieces", mistakes={
        "the cache holds the keys before RoPE: append them after apply_rope, so that every stored key is turned "
        "once, for its own position": heads(F.linear(x.double(), weights["key.weight"].double()), 2),
        "the cache holds n_head heads: append before repeat_kv, so that it keeps only the n_kv_head heads":
            keys.repeat_interleave(N_HEAD // 2, dim=1),
    })
    expect_close(cache.values, values, name="cache.values after the pieces", mistakes={
        "the cache holds n_head heads of values: append before repeat_kv": values.repeat_interleave(N_HEAD // 2, dim=1),
    })


# --- probes: trusted helpers that run next to your code ------------------------------

def buffers_by_name(module):
    return {name: buffer.detach().clone() for name, buffer in module.named_buffers()}
