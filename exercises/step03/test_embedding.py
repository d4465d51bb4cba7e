"""Grading suite for step 03a: the embedding lookup (``embedding.py``).

Your ``Embedding`` lives in the worker; a few checks need to run next to it (to record
which torch operations your lookup uses, or to backpropagate through it). They are probes:
the shared ones come from ``grader/probes.py``, this suite's own are at the bottom of this file.
"""

import pytest
import torch
import torch.nn.functional as F

from grader import hint, points
from grader.checks import expect_close
from grader.probes import operations_of, parameter_shapes

V, C = 11, 6  # vocabulary and vector size differ, so a transposed table shows up at once


@points(1, hint="the table is one nn.Parameter named weight, of shape (num_embeddings, embedding_dim)")
def test_weight_is_one_parameter_of_shape_vocab_by_dim(student):
    embedding = student.embedding.Embedding(V, C)
    assert tuple(embedding.weight.shape) == (V, C)
    assert student.probe(parameter_shapes, embedding) == [(V, C)]
    with hint("the table is float32, torch's default (torch.randn(num_embeddings, embedding_dim)): a float64 table "
              "gives float64 vectors, which the float32 layers after it refuse"):
        assert embedding.weight.dtype == torch.float32, f"the table is {embedding.weight.dtype}"


@points(1, hint="draw the table from N(0, 1) with torch.randn, as nn.Embedding does")
def test_weight_starts_standard_normal(student):
    weight = student.embedding.Embedding(2000, 8).weight.detach()
    assert abs(float(weight.mean())) < 0.03 and abs(float(weight.std()) - 1) < 0.03, \
        f"mean {float(weight.mean()):.3f}, std {float(weight.std()):.3f}"
    # Mean and spread alone would let a uniform table through: a normal one has 68.3% of its
    # entries within one standard deviation (a uniform one 57.7%; 16,000 entries make it +-0.4%).
    within_one = float((weight.abs() < 1).double().mean())
    with hint("the entries are not normally distributed: torch.randn draws from N(0, 1), torch.rand from a "
              "uniform distribution"):
        assert abs(within_one - 0.6827) < 0.02, f"{within_one:.1%} of the entries lie in (-1, 1); N(0, 1): 68.3%"
    with hint("two tables came out equal: do not seed torch inside __init__ (every table would be the same, and "
              "the seed of the caller is reset)"):
        assert not torch.equal(student.embedding.Embedding(5, 3).weight, student.embedding.Embedding(5, 3).weight)


@points(3, hint="the lookup is weight[idx]: one row of the table per id, for ids of any shape")
def test_lookup_returns_the_rows_for_any_shape(student, generator):
    embedding = student.embedding.Embedding(V, C)
    weight = embedding.weight.detach()
    # Sizes of 1 too: a squeeze() would drop those dims.
    for shape in [(7,), (2, 5), (2, 3, 4), (1, 5), (4, 1), (1,)]:
        idx = torch.randint(0, V, shape, generator=generator)
        # torch's own lookup serves as the oracle here; your code may not call it.
        expect_close(embedding(idx), F.embedding(idx, weight), name=f"the vectors of ids of shape {shape}", atol=0)
    with hint("keep check_ids at the top of forward: an id outside [0, num_embeddings) or a float tensor must "
              "raise ValueError (negative ids would otherwise silently wrap around to the last rows)"):
        # int32 and uint8 ids too: uint8 (and bool) used as an index is read as a mask, not as ids.
        for bad in (torch.tensor([0, -1]), torch.tensor([V]), torch.tensor([0.0, 1.0]),
                    torch.tensor([0, 1], dtype=torch.int32), torch.tensor([0, 1], dtype=torch.uint8)):
            with pytest.raises(ValueError):
                embedding(bad)


@points(2, hint="look the rows up by indexing the table (weight[idx]): no nn.Embedding, F.embedding or "
                "torch.embedding, and no matrix product",
        builds_on={"Embedding.forward": "test_lookup_returns_the_rows_for_any_shape"})
def test_lookup_is_indexing(student, generator):
    embedding = student.embedding.Embedding(V, C)
    idx = torch.randint(0, V, (2, 5), generator=generator)
    observed = student.probe(operations_of, embedding, idx)
    # The probe reports the operators of one run and that run's output: the output must be right too.
    expect_close(observed["output"], F.embedding(idx, embedding.weight.detach()), name="the vectors", atol=0)
    operations = observed["operators"]
    with hint("your lookup calls an embedding function: write it yourself, as weight[idx]"):
        assert not [op for op in operations if "embedding" in op], operations
    with hint("your lookup multiplies matrices (a one-hot product?): indexing copies rows and needs no arithmetic"):
        assert not [op for op in operations if op in MATRIX_PRODUCTS], operations
    with hint("your lookup computes its rows (one-hot vectors times the table, summed?): indexing copies them "
              "and needs no arithmetic"):
        assert not [op for op in operations if op.rstrip("_") in ARITHMETIC], operations


@points(2, hint="gradients must reach exactly the rows that were looked up, once per occurrence: "
                "index the parameter itself (not weight.data or a detached copy)")
def test_gradient_reaches_only_the_looked_up_rows(student, generator):
    embedding = student.embedding.Embedding(V, C)
    idx = torch.randint(0, V // 2, (3, 4), generator=generator)  # rows V // 2 and above are never used
    gradient = student.probe(gradient_of_sum, embedding, idx)
    assert gradient is not None, "no gradient reached the table"
    counts = torch.bincount(idx.flatten(), minlength=V).float()
    expect_close(gradient, counts[:, None].expand(V, C), name="the gradient of the table")


@points(2, hint="one_hot(idx) has one column per token (num_classes = V, the number of rows of weight), it "
                "holds integers (convert it to weight's dtype), and one_hot(idx) @ weight picks row idx of weight")
def test_one_hot_product_equals_indexing(student, generator):
    weight = torch.randn(V, C, generator=generator)
    # The last: ids that never reach V - 1, so one_hot must be told the number of classes.
    for idx in [torch.randint(0, V, (9,), generator=generator), torch.randint(0, V, (2, 4), generator=generator),
                torch.tensor([[0, 2], [1, 0]])]:
        observed = student.probe(operations_of, student.embedding.one_hot_lookup, idx, weight)
        expect_close(observed["output"], weight[idx], name=f"one_hot_lookup on ids {idx.tolist()}")
        with hint("one_hot_lookup is the lookup written as a matrix product, one_hot(idx) @ weight: indexing is "
                  "what Embedding.forward does"):
            assert [op for op in observed["operators"] if op in MATRIX_PRODUCTS], observed["operators"]
    with hint("one_hot_lookup returns weight's dtype: convert the one-hot vectors to weight.dtype, not to float32"):
        wide = weight.double() + 1e-12 * torch.randn(V, C, generator=generator, dtype=torch.float64)  # float32 loses it
        result = student.embedding.one_hot_lookup(torch.tensor([1, 0]), wide)
        assert result.dtype == torch.float64, f"with a float64 weight the result is {result.dtype}"
        assert torch.equal(result, wide[[1, 0]]), "with a float64 weight the rows come back rounded: the product " \
                                                  "was computed in float32"


# --- probes: trusted helpers that run next to your code ------------------------------

MATRIX_PRODUCTS = {"mm", "bmm", "addmm", "matmul", "mv", "dot", "baddbmm", "addmv", "linear"}
# What a lookup written as one-hot vectors times the table runs; indexing runs none of it.
ARITHMETIC = {"mul", "sum", "add", "addcmul", "einsum", "scatter", "scatter_add", "one_hot"}


def gradient_of_sum(module, idx):
    module.zero_grad(set_to_none=True)
    module(idx).sum().backward()
    return module.weight.grad
