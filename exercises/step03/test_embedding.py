"""Grading suite for step 03a: the embedding lookup (``embedding.py``).

Your ``Embedding`` lives in the worker; a few checks need to run next to it (to record
which torch operations your lookup uses, or to backpropagate through it). They are probes:
the shared ones come from ``grader/probes.py``, this suite's own are at the bottom of this file.
"""

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


@points(1, hint="draw the table from N(0, 1) with torch.randn, as nn.Embedding does")
def test_weight_starts_standard_normal(student):
    weight = student.embedding.Embedding(2000, 8).weight.detach()
    assert abs(float(weight.mean())) < 0.03 and abs(float(weight.std()) - 1) < 0.03, \
        f"mean {float(weight.mean()):.3f}, std {float(weight.std()):.3f}"


@points(3, hint="the lookup is weight[idx]: one row of the table per id, for ids of any shape")
def test_lookup_returns_the_rows_for_any_shape(student, generator):
    embedding = student.embedding.Embedding(V, C)
    weight = embedding.weight.detach()
    for shape in [(7,), (2, 5), (2, 3, 4)]:
        idx = torch.randint(0, V, shape, generator=generator)
        # torch's own lookup serves as the oracle here; your code may not call it.
        expect_close(embedding(idx), F.embedding(idx, weight), name=f"the vectors of ids of shape {shape}", atol=0)


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


@points(2, hint="one_hot(idx) has one column per token (num_classes = V, the number of rows of weight), "
                "and one_hot(idx) @ weight picks row idx of weight")
def test_one_hot_product_equals_indexing(student, generator):
    weight = torch.randn(V, C, generator=generator)
    for shape in [(9,), (2, 4)]:
        idx = torch.randint(0, V, shape, generator=generator)
        expect_close(student.embedding.one_hot_lookup(idx, weight), weight[idx], name="one_hot_lookup")


# --- probes: trusted helpers that run next to your code ------------------------------

MATRIX_PRODUCTS = {"mm", "bmm", "addmm", "matmul", "mv", "dot", "baddbmm", "addmv", "linear"}
# What a lookup written as one-hot vectors times the table runs; indexing runs none of it.
ARITHMETIC = {"mul", "sum", "add", "addcmul", "einsum", "scatter", "scatter_add", "one_hot"}


def gradient_of_sum(module, idx):
    module.zero_grad(set_to_none=True)
    module(idx).sum().backward()
    return module.weight.grad
