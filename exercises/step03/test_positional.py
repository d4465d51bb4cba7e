"""Grading suite for step 03b: positional encodings (``positional.py``).

The sinusoidal table is compared, entry by entry, with the formula of the original
transformer written out in plain Python below. The last tests check what positions are for: without them the
input layer cannot tell one order of the same tokens from another.
"""

import math

import pytest
import torch

from grader import hint, points
from grader.checks import expect_close
from grader.probes import parameter_shapes

V, BLOCK, C = 5, 9, 6  # all different, so every table is known by its shape


def sinusoid(t: int, d: int, dim: int, base: float = 10000.0) -> float:
    """Entry (t, d) of the table, straight from the formula."""
    angle = t / base ** ((d - d % 2) / dim)
    return math.sin(angle) if d % 2 == 0 else math.cos(angle)


def sinusoid_table(positions: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    return torch.tensor([[sinusoid(t, d, dim, base) for d in range(dim)] for t in range(positions)])


def sinusoid_per_dim_table(positions: int, dim: int) -> torch.Tensor:
    """The table with exponent d/dim instead of 2i/dim: odd dims get their own, wrong, frequency."""
    return torch.tensor([[(math.sin if d % 2 == 0 else math.cos)(t / 10000.0 ** (d / dim)) for d in range(dim)]
                         for t in range(positions)])


def halves_concatenated(table: torch.Tensor) -> torch.Tensor:
    """The sines of every pair first, then the cosines: [sin | cos] instead of interleaved."""
    return torch.cat([table[:, 0::2], table[:, 1::2]], dim=-1)


def swap_pairs(table: torch.Tensor) -> torch.Tensor:
    """Dims 0 <-> 1, 2 <-> 3, ...: the table with sin and cos exchanged."""
    return table.reshape(table.shape[0], -1, 2).flip(-1).reshape(table.shape)


@points(3, hint="PE[t, 2i] = sin(t / 10000^(2i/dim)) on even dims and PE[t, 2i+1] = cos(same angle) on odd dims")
def test_sinusoidal_values(student):
    table = student.positional.sinusoidal_encoding(50, 16)
    assert tuple(table.shape) == (50, 16), f"expected shape (50, 16), got {tuple(table.shape)}"
    with hint("the table is float32: build it from float32 tensors (torch.arange(..., dtype=torch.float32)), "
              "not float64 ones or Python's math"):
        assert table.dtype == torch.float32, f"the table should be float32, got {table.dtype}"
    expected = sinusoid_table(50, 16)
    # Known mistakes are named first; anything else that is wrong gets a hint from row 0, which
    # does not depend on the frequencies at all.
    row_0_is_right = bool(torch.allclose(table[0].double(), expected[0].double(), atol=1e-5))
    general = ("PE[t, 2i] = sin(t / 10000^(2i/dim)) on even dims, cos of the same angle on odd dims" if row_0_is_right
               else "position 0 is sin(0) = 0 on every even dim and cos(0) = 1 on every odd dim")
    with hint(general):
        expect_close(table, expected, name="the table", mistakes={
            "sin and cos are swapped: sin goes on the even dims (0, 2, 4, ...), cos on the odd ones":
                swap_pairs(expected),
            "the base is 10000, not 1000": sinusoid_table(50, 16, base=1000.0),
            "dims 2i and 2i+1 share one frequency, 1 / 10000^(2i/dim); you used the dim index d itself "
            "in the exponent": sinusoid_per_dim_table(50, 16),
            "the sines fill the first half and the cosines the second ([sin | cos], concatenated): interleave "
            "them, sin on dim 2i and cos on dim 2i+1": halves_concatenated(expected),
        })


@points(1, hint="the frequency of dims (2i, 2i+1) is 1 / base^(2i / dim), and base is an argument",
        builds_on={"sinusoidal_encoding": "test_sinusoidal_values"})
def test_sinusoidal_base_and_size(student, generator):
    positions, dim = (int(n) for n in torch.randint(3, 14, (2,), generator=generator))
    dim += dim % 2  # even
    table = student.positional.sinusoidal_encoding(positions, dim, base=100.0)
    expect_close(table, sinusoid_table(positions, dim, base=100.0), name=f"the ({positions}, {dim}) table with "
                 "base 100")
    with hint("the table has a row for every one of the positions asked for, however many: build the positions "
              "with torch.arange(positions)"):
        expect_close(student.positional.sinusoidal_encoding(130, 8), sinusoid_table(130, 8),
                     name="the (130, 8) table", atol=1e-4)
    with hint("keep the ValueError for an odd dim: the last sine would have no cosine"):
        with pytest.raises(ValueError):
            student.positional.sinusoidal_encoding(positions, dim + 1)


@points(3, hint="position vectors are rows 0, 1, ..., T-1 of the table: look them up with torch.arange(T), "
                "not with the token ids")
def test_learned_positions(student, generator):
    positions = student.positional.LearnedPositionalEmbedding(BLOCK, C)
    with hint("the table is one nn.Parameter named weight, of shape (block_size, dim), so that it is learned"):
        assert student.probe(parameter_shapes, positions) == [(BLOCK, C)]
    weight = positions.weight.detach()
    for T in (1, 4, BLOCK):
        idx = torch.randint(0, V, (2, T), generator=generator)
        out = positions(idx)
        shape = tuple(getattr(out, "shape", ()))
        wrong_shape = {(2, T, C): "return the position vectors as (T, dim), one row per position: broadcasting adds "
                                  "them to every sequence of the batch, so there is no batch dimension to build (and "
                                  "the rows are looked up with torch.arange(T), not with the token ids)",
                       (BLOCK, C): "crop the table to the positions of idx: rows 0 .. T-1, weight[:T]",
                       (2, C): "T is the length of each sequence, idx.shape[-1] (idx.shape[0] is the batch)"}
        with hint(wrong_shape.get(shape, "return the position vectors as (T, dim), one row per position")):
            assert tuple(out.shape) == (T, C), f"for idx of shape (2, {T}) the result should be ({T}, {C}), " \
                                               f"got {tuple(out.shape)}"
        expect_close(out, weight[:T], name=f"the position vectors for T = {T}", atol=0)
    with hint("draw the table from N(0, 0.02^2), small and random: torch.randn(block_size, dim) * 0.02"):
        table = student.positional.LearnedPositionalEmbedding(1000, 16).weight.detach()
        std, mean = float(table.std()), float(table.mean())
        assert 0.019 < std < 0.021, f"the table's standard deviation is {std:.4f}, not 0.02"
        # 16,000 entries: their mean is 0 within 0.0002 (one standard error), and 68.3% of them lie within one
        # standard deviation of it if they are normal (57.7% for a uniform distribution).
        assert abs(mean) < 0.001, f"the table's mean is {mean:.4f}, not 0"
        within_one = float((table.abs() < 0.02).double().mean())
        assert abs(within_one - 0.6827) < 0.02, f"{within_one:.1%} of the entries lie within 0.02 of 0; N(0, 0.02^2): " \
                                                "68.3% (torch.randn, not torch.rand)"
    # The table must learn: the gradient of sum(out * upstream) is upstream at rows 0..T-1, 0 below.
    upstream = torch.randn(5, C, generator=generator)
    gradients = student.probe(gradients_by_shape, positions, torch.zeros(2, 5, dtype=torch.long), upstream)
    with hint("no gradient reaches the position table: it must be an nn.Parameter that requires grad, used as "
              "it is in forward (not weight.data, weight.detach() or under torch.no_grad())"):
        assert gradients.get((BLOCK, C)) is not None, "no gradient reached the position table"
    expect_close(gradients[(BLOCK, C)], torch.cat([upstream, torch.zeros(BLOCK - 5, C)]),
                 name="the gradient at the position table")
    with hint("a sequence longer than block_size has no position vectors: keep the ValueError"):
        with pytest.raises(ValueError):
            positions(torch.zeros(1, BLOCK + 1, dtype=torch.long))


@points(3, hint="out[b, t] = token vector of idx[b, t] + position vector of t, added once",
        builds_on={"Embedding": "test_lookup_returns_the_rows_for_any_shape",
                   "sinusoidal_encoding": "test_sinusoidal_values", "LearnedPositionalEmbedding": "test_learned_positions"})
def test_token_plus_position(student, generator):
    idx = torch.randint(0, V, (3, 7), generator=generator)
    for kind in ("learned", "sinusoidal"):
        layer = student.positional.TokenAndPositionEmbedding(V, BLOCK, C, positions=kind)
        owners = student.probe(table_owners, layer)
        with hint("use your own Embedding for the token vectors: the (vocab_size, n_embd) table must be the "
                  "weight of an Embedding from step03/embedding.py, not of nn.Embedding"):
            assert any(owner.endswith("step03.embedding.Embedding") for owner in owners.get((V, C), [])), \
                f"the tables' owners: {owners}"
        if kind == "learned":
            with hint("build the learned position vectors with your LearnedPositionalEmbedding(block_size, n_embd)"):
                assert any(owner.endswith("step03.positional.LearnedPositionalEmbedding")
                           for owner in owners.get((BLOCK, C), [])), f"the tables' owners: {owners}"
        with hint("register the sinusoidal table with self.register_buffer(name, table): a plain attribute is "
                  "no part of the module's state (it does not move with .to(device), nor is it saved)"
                  if kind == "sinusoidal" else "out[b, t] = token vector of idx[b, t] + position vector of t"):
            tokens, positions = student.probe(tables, layer)
        out = layer(idx)
        with hint("a float32 table gives float32 vectors: build the sinusoidal table in float32 (a float64 buffer "
                  "turns every output float64, and the next layer's float32 weights refuse it)"):
            assert getattr(out, "dtype", None) == torch.float32, f"the output with {kind} positions is " \
                                                                f"{getattr(out, 'dtype', type(out).__name__)}"
        expect_close(out, tokens[idx] + positions[:7], name=f"the output with {kind} positions", mistakes={
            "the position vectors are missing: add them to the token vectors": tokens[idx],
            "the position vectors are added twice": tokens[idx] + 2 * positions[:7],
            "the positions are looked up with the token ids: use t = 0..T-1": tokens[idx] + positions[idx],
        })
        if kind == "sinusoidal":
            expect_close(positions, sinusoid_table(BLOCK, C), name="the sinusoidal table")
            with hint("the sinusoidal table is fixed: register it with register_buffer, not as an nn.Parameter "
                      "(a buffer moves with .to(device) and is saved, but the optimizer never sees it)"):
                assert (BLOCK, C) not in student.probe(parameter_shapes, layer), "the sinusoidal table is a parameter"


@points(2, hint="without positions, reordering the tokens only reorders the outputs; adding position "
                "vectors must break that symmetry",
        builds_on={"TokenAndPositionEmbedding": "test_token_plus_position"})
def test_positions_make_order_visible(student, generator):
    idx = torch.randperm(V, generator=generator)[None, :]  # five different tokens
    order = torch.tensor([4, 2, 0, 3, 1])
    plain = student.positional.TokenAndPositionEmbedding(V, BLOCK, C, positions=None)
    expect_close(plain(idx[:, order]), plain(idx)[:, order], name="token vectors of the reordered input")
    for kind in ("learned", "sinusoidal"):
        layer = student.positional.TokenAndPositionEmbedding(V, BLOCK, C, positions=kind)
        reordered, original = layer(idx[:, order]), layer(idx)[:, order]
        assert not torch.allclose(reordered, original), f"with {kind} positions, order must change the vectors"


@points(2, hint="backward must reach both tables: nothing in forward may be detached (.detach(), .data, "
                "torch.no_grad()); each token row collects the gradient of every place it was looked up, each "
                "position row the gradient of its position summed over the batch",
        builds_on={"TokenAndPositionEmbedding": "test_token_plus_position"})
def test_gradients_reach_both_tables(student, generator):
    idx = torch.randint(0, V, (3, 7), generator=generator)
    upstream = torch.randn(3, 7, C, generator=generator)
    token_gradient = torch.zeros(V, C).index_add_(0, idx.flatten(), upstream.reshape(-1, C))
    for kind in ("learned", "sinusoidal"):
        layer = student.positional.TokenAndPositionEmbedding(V, BLOCK, C, positions=kind)
        gradients = student.probe(gradients_by_shape, layer, idx, upstream)
        with hint("no gradient reaches the token table: look the tokens up with your Embedding itself, not "
                  "through weight.data, a .detach() or torch.no_grad()"):
            assert gradients.get((V, C)) is not None, f"no gradient at the token table ({kind} positions)"
        expect_close(gradients[(V, C)], token_gradient, name=f"the gradient at the token table ({kind} positions)")
        if kind == "learned":
            with hint("no gradient reaches the position table: add self.position(idx) as it is, not detached"):
                assert gradients.get((BLOCK, C)) is not None, "no gradient at the position table"
            expect_close(gradients[(BLOCK, C)], torch.cat([upstream.sum(0), torch.zeros(BLOCK - 7, C)]),
                         name="the gradient at the position table")


# --- probes: trusted helpers that run next to your code ------------------------------

def tables(layer):
    """The token table (V, C) and the position table (BLOCK, C), found by their shapes."""
    # A table stored with a leading batch dim of 1, (1, BLOCK, C), counts as (BLOCK, C).
    tables = [t.detach().reshape(t.shape[-2:]) if t.dim() > 2 and t.shape[:-2].numel() == 1 else t.detach()
              for t in [*layer.parameters(), *layer.buffers()]]
    found = {tuple(t.shape): t for t in tables}
    assert (V, C) in found, f"no ({V}, {C}) token table among the parameters: {sorted(found)}"
    assert (BLOCK, C) in found, f"no ({BLOCK}, {C}) position table among the parameters and buffers: {sorted(found)}"
    return found[(V, C)], found[(BLOCK, C)]


def table_owners(layer):
    """{shape of a parameter: the classes of the modules that hold it, as module.ClassName} (a table may be
    held by two modules, one of them an alias)."""
    owners = {}
    for m in layer.modules():
        for p in m.parameters(recurse=False):
            owners.setdefault(tuple(p.shape), []).append(f"{type(m).__module__}.{type(m).__qualname__}")
    return owners


def gradients_by_shape(module, idx, upstream):
    """Backpropagate sum(module(idx) * upstream): {parameter shape: its gradient, or None}."""
    for p in module.parameters():
        p.grad = None
    with torch.enable_grad():
        out = module(idx)
        if out.requires_grad:
            (out * upstream).sum().backward()
    return {tuple(p.shape): None if p.grad is None else p.grad.clone() for p in module.parameters()}
