"""Grading suite for step 00: the bigram model.

Run it with ``pytest exercises/step00``. Every test is worth the points in its
``@points`` marker; a failing test prints a hint that names the likely mistake.

How these tests reach your code: ``student.bigram`` is your ``bigram.py``. By default it
runs in a separate worker process, so a test only gets *data* back (tensors, numbers);
your ``BigramLM`` object stays in the worker and the test talks to it through calls. A
few checks need your model in place (to train it, or to set its table); they are small
"probe" functions at the bottom of this file that run next to your code.
"""


import torch
import torch.nn.functional as F

from grader import hint, points
from grader.checks import expect_close
from grader.probes import adam_steps, parameter_shapes, tensors_after_the_call
from grader.synthetic import conditional_entropy, markov_chain

V = 5  # a small vocabulary keeps every table readable when a test fails


def reference_counts(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """The definition, one pair at a time: slow, but obviously right."""
    counts = torch.zeros(vocab_size, vocab_size, dtype=torch.long)
    for current, following in zip(ids[:-1].tolist(), ids[1:].tolist()):
        counts[current, following] += 1
    return counts


# --- counting ------------------------------------------------------------------

@points(1, hint="counts[i, j] counts token i followed by token j; the table is (vocab_size, vocab_size) even "
                "where a pair never occurs (torch.bincount needs minlength=vocab_size * vocab_size)")
def test_counts_of_abab(student):
    # "abababababab" with a=0, b=1: 'a' is followed by 'b' six times, 'b' by 'a' five times.
    ids = torch.tensor([0, 1] * 6)
    counts = student.bigram.bigram_counts(ids, 2)
    assert counts.tolist() == [[0, 6], [5, 0]]


@points(3, hint="counts[i, j] counts token i followed by token j: rows are the current token, columns the next")
def test_counts_match_definition(student, generator):
    # Token V never occurs: the vocabulary, not the data, sets the size of the table.
    ids = torch.randint(0, V, (200,), generator=generator)
    counts = student.bigram.bigram_counts(ids, V + 1)
    with hint("the table has one row and one column per token of the vocabulary: shape (vocab_size, vocab_size), "
              "also when some tokens never occur in ids (not ids.max() + 1)"):
        assert tuple(counts.shape) == (V + 1, V + 1)
    with hint("counts are whole numbers: return an int64 tensor (torch.zeros(..., dtype=torch.long)), not floats"):
        assert counts.dtype == torch.int64, f"counts have dtype {counts.dtype}"
    expected = reference_counts(ids, V + 1)
    wrapped = expected.clone()
    wrapped[ids[-1], ids[0]] += 1
    expect_close(counts, expected, name="counts", mistakes={
        "`counts[ids[:-1], ids[1:]] += 1` adds 1 only once per distinct pair: with repeated index pairs, "
        "advanced-index += does not accumulate. Use counts.index_put_(..., accumulate=True) or a loop":
            (expected > 0).long(),
        "counts are transposed: rows are the current token, columns the next": expected.T,
        "N tokens hold N - 1 (current, next) pairs: pair ids[t] with ids[t + 1], not with itself":
            torch.diag(torch.bincount(ids[:-1], minlength=V + 1)),
        "the last pair is missing: N tokens hold N - 1 pairs, and the last is (ids[-2], ids[-1])":
            reference_counts(ids[:-1], V + 1),
        "a pair wraps around from the last token to the first (torch.roll?): the text does not continue "
        "after its end, so there is no (ids[-1], ids[0]) pair": wrapped,
    })


# --- probabilities ---------------------------------------------------------------

@points(2, hint="probabilities not normalised: divide each row by its own total so every row sums to 1")
def test_probs_rows_sum_to_one(student, generator):
    counts = reference_counts(torch.randint(0, V, (100,), generator=generator), V)
    probs = student.bigram.bigram_probs(counts, k=1.0)
    assert tuple(probs.shape) == (V, V)
    with hint("probabilities are float32 (counts.float()), not float64 or integers"):
        assert probs.dtype == torch.float32, f"probs have dtype {probs.dtype}"
    expect_close(probs.sum(dim=1), torch.ones(V), name="the row sums of probs", atol=1e-5, rtol=0)


@points(2, hint="add-k smoothing adds k to every cell, so a row's total grows by k * V")
def test_probs_add_k_smoothing(student, generator):
    counts = reference_counts(torch.randint(0, V, (60,), generator=generator), V)
    for k in (0.5, 1.0, 3.0):
        # A copy: a function that changes its input must not also change the expected values below
        # (that mistake has its own check, last).
        probs = student.bigram.bigram_probs(counts.clone(), k=k)
        expected = (counts + k) / (counts.sum(dim=1, keepdim=True) + k * V)
        expect_close(probs, expected, name=f"probs with k = {k}", atol=1e-6, rtol=0)
    with hint("the row total grows by k times the vocabulary size of the table given, counts.shape[0]: nothing in "
              f"bigram_probs may assume the {V} tokens of these examples"):
        small = torch.tensor([[0, 6], [5, 0]])
        expect_close(student.bigram.bigram_probs(small.clone(), k=1.0), (small + 1.0) / (small.sum(1, keepdim=True) + 2),
                     name="probs of a 2 x 2 table with k = 1", atol=1e-6, rtol=0)
    with hint("bigram_probs changed the counts it was given (counts += k?): add k to a new tensor, "
              "counts.float() + k, so the caller's table stays as it was"):
        before = counts.clone()
        (after,) = student.probe(tensors_after_the_call, student.bigram.bigram_probs, counts, k=1.0)
        assert torch.equal(after, before), "bigram_probs changed its input"


@points(1, hint="with k = 0, probs[i, j] is simply counts[i, j] / (row total)")
def test_probs_without_smoothing(student):
    counts = torch.tensor([[0, 6], [5, 0]])
    probs = student.bigram.bigram_probs(counts, k=0.0)
    expect_close(probs, torch.tensor([[0.0, 1.0], [1.0, 0.0]]), name="probs with k = 0")


# --- the learned bigram model ------------------------------------------------------

@points(2, hint="forward returns (logits, loss): logits (B, T, V), and loss None without targets")
def test_forward_shapes(student, generator):
    model = student.bigram.BigramLM(V)
    idx = torch.randint(0, V, (3, 7), generator=generator)
    logits, loss = model(idx)
    assert tuple(logits.shape) == (3, 7, V)
    assert loss is None


@points(1, hint="start the table at zeros (torch.zeros), so that a new model predicts a uniform distribution")
def test_new_model_predicts_uniformly(student, generator):
    model = student.bigram.BigramLM(V)
    with hint("the model's only parameter is the (V, V) table of logits: no bias, no second table, and the table "
              "an nn.Parameter (a plain tensor is not trained)"):
        assert student.probe(parameter_shapes, model) == [(V, V)]
    logits, _ = model(torch.randint(0, V, (2, 4), generator=generator))
    expect_close(logits, torch.zeros(2, 4, V), name="the logits of a new model", atol=0)


@points(2, hint="a bigram model looks at the current token only: the logits at position t depend on idx[:, t] alone")
def test_logits_ignore_earlier_tokens(student, generator):
    model = student.bigram.BigramLM(V)
    student.probe(set_table, model, torch.randn(V, V, generator=generator))
    idx = torch.randint(0, V, (2, 6), generator=generator)
    logits, _ = model(idx)
    for t in range(6):
        alone, _ = model(idx[:, t:t + 1])  # the same token with no history before it
        expect_close(logits[:, t], alone[:, 0], name=f"the logits at position {t}")


@points(2, hint="loss is the mean cross-entropy over all B * T positions: flatten logits to (B*T, V) "
                "and targets to (B*T,) in the same order")
def test_loss_is_cross_entropy(student, generator):
    model = student.bigram.BigramLM(V)
    student.probe(set_table, model, torch.randn(V, V, generator=generator))
    idx = torch.randint(0, V, (4, 5), generator=generator)
    targets = torch.randint(0, V, (4, 5), generator=generator)
    logits, loss = model(idx, targets)
    with hint("with targets, forward still returns logits of shape (B, T, V): flatten copies for the loss, "
              "not the logits you return"):
        assert tuple(logits.shape) == (4, 5, V), f"logits of shape {tuple(logits.shape)}"
    with hint("return the loss as a tensor (not loss.item()): training calls loss.backward() on it"):
        assert isinstance(loss, torch.Tensor), f"the loss is a {type(loss).__name__}"
    flat_logits, flat_targets = logits.reshape(-1, V), targets.reshape(-1)
    assert loss.dim() == 0, "the loss is one number: average over the batch and the positions"
    expect_close(loss, F.cross_entropy(flat_logits, flat_targets), name="the loss", mistakes={
        "softmax applied before cross_entropy: F.cross_entropy takes the raw logits and applies log-softmax "
        "itself, so pass it logits, not probabilities": F.cross_entropy(F.softmax(flat_logits, dim=-1), flat_targets),
        "the loss is summed, not averaged: use the mean over all B * T positions":
            F.cross_entropy(flat_logits, flat_targets, reduction="sum"),
        "the log-softmax is missing: the loss averages -logits[target] (F.nll_loss on raw logits, say); "
        "F.cross_entropy takes the raw logits and applies log-softmax itself": F.nll_loss(flat_logits, flat_targets),
        "the targets are shifted a second time: targets[:, t] is already the token after idx[:, t]":
            F.cross_entropy(logits[:, :-1].reshape(-1, V), targets[:, 1:].reshape(-1)),
    })


@points(3, hint="training should drive the loss down to the data's conditional entropy H(next | current); "
                "check that the loss is the cross-entropy of the raw logits", timeout=30,
        builds_on={"BigramLM.forward": "test_loss_is_cross_entropy"})
def test_training_reaches_conditional_entropy(student, generator):
    # Skewed transitions: a model whose loss is not the cross-entropy of its logits stops near
    # ln V, far above the best any bigram model can do here, the entropy of next given current.
    ids = markov_chain(generator, V, 600)
    entropy = conditional_entropy(ids, V)

    model = student.bigram.BigramLM(V)
    with hint("the loss does not reach the table: keep it an nn.Parameter (requires_grad on) and index it "
              "directly in forward, without .detach() or .data"):
        assert student.probe(table_gets_a_gradient, model, ids), "loss.backward() left the table without a gradient"
    losses = student.probe(train_full_batch, model, ids, steps=300, lr=0.3)
    assert losses[-1] < losses[0], "training did not lower the loss at all"
    # Judge the trained model by the cross-entropy computed here, not by the loss it reports.
    logits, _ = model(ids[:-1].unsqueeze(0))
    reached = float(F.cross_entropy(logits[0].detach().double(), ids[1:]))
    assert abs(reached - entropy) < 0.02, f"cross-entropy after training {reached:.4f}, conditional entropy {entropy:.4f}"


# --- generation ----------------------------------------------------------------------

@points(2, hint="generate returns the prompt followed by max_new_tokens new tokens: shape (B, T + max_new_tokens)",
        builds_on={"BigramLM.forward": "test_forward_shapes"})
def test_generate_keeps_prompt(student, generator):
    model = student.bigram.BigramLM(V)
    prompt = torch.randint(0, V, (3, 4), generator=generator)
    out = model.generate(prompt, 6, generator=generator)
    assert tuple(out.shape) == (3, 10)
    with hint("token ids are int64: torch.multinomial returns int64, keep it (no .float())"):
        assert out.dtype == torch.int64, f"generate returned dtype {out.dtype}"
    assert torch.equal(out[:, :4], prompt)
    assert int(out.min()) >= 0 and int(out.max()) < V


@points(2, hint="generate must continue from the logits at the LAST position (logits[:, -1]), appending one token at a time",
        timeout=30,
        builds_on={"BigramLM.forward": "test_loss_is_cross_entropy",
                   "BigramLM (its training)": "test_training_reaches_conditional_entropy"})
def test_trained_on_abab_it_alternates(student, generator):
    # The step's experiment: train on "abababababab" (a=0, b=1), then start from "b".
    model = student.bigram.BigramLM(2)
    student.probe(train_full_batch, model, torch.tensor([0, 1] * 6), steps=200, lr=0.5)
    out = model.generate(torch.tensor([[1]]), 9, generator=generator)
    assert out[0].tolist() == [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    out = model.generate(torch.tensor([[0, 0, 0, 1, 1, 0]]), 4, generator=generator)
    assert out[0, 6:].tolist() == [1, 0, 1, 0]
    # The same text under other ids, in a vocabulary of three: "cacaca..." with c=2, a=0.
    model = student.bigram.BigramLM(3)
    student.probe(train_full_batch, model, torch.tensor([2, 0] * 6), steps=200, lr=0.5)
    out = model.generate(torch.tensor([[0]]), 5, generator=generator)
    assert out[0].tolist() == [0, 2, 0, 2, 0, 2]


@points(2, hint="generate must sample with torch.multinomial from softmax(logits), not take the argmax",
        builds_on={"BigramLM.forward": "test_forward_shapes"})
def test_generate_samples_from_softmax(student, generator):
    model = student.bigram.BigramLM(3)
    table = torch.tensor([[0.0, 1.0, 2.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    student.probe(set_table, model, table)
    out = model.generate(torch.zeros(20_000, 1, dtype=torch.long), 1, generator=generator)
    with hint("generate returns int64 ids of shape (B, T + max_new_tokens): here (20000, 2)"):
        assert tuple(out.shape) == (20_000, 2) and out.dtype == torch.int64, (tuple(out.shape), out.dtype)
    frequencies = torch.bincount(out[:, 1], minlength=3).float() / 20_000
    expect_close(frequencies, F.softmax(table[0], dim=0), name="the sampled frequencies", atol=0.03, rtol=0, mistakes={
        "the argmax was taken: sample with torch.multinomial from the probabilities": torch.tensor([0.0, 0.0, 1.0]),
        "the softmax runs over the batch (dim=0): it must run over the vocabulary, dim=-1":
            torch.full((3,), 1 / 3),
        "the logits are scaled before the softmax (a temperature?): sample from softmax(logits) as they are":
            F.softmax(table[0] / 2, dim=0),
    })
    # Rows with different prompts: each continues from its own last token.
    prompts = torch.tensor([[0], [1]]).repeat(10_000, 1)  # rows 0, 1, 0, 1, ...
    out = model.generate(prompts, 1, generator=generator)
    after_one = torch.bincount(out[1::2, 1], minlength=3).float() / 10_000
    with hint("each row of the batch continues from its OWN last token: one draw per row, torch.multinomial on "
              "the (B, V) probabilities with num_samples=1 (not B draws from row 0's distribution)"):
        expect_close(after_one, F.softmax(table[1], dim=0), name="the frequencies after token 1, in a batch that "
                     "also holds prompts ending in 0", atol=0.03, rtol=0)


@points(1, hint="pass the generator to torch.multinomial(..., generator=generator): the same seed must give "
                "the same sample")
def test_generate_is_reproducible(student, seed):
    model = student.bigram.BigramLM(V)
    prompt = torch.zeros(2, 1, dtype=torch.long)
    first = model.generate(prompt, 30, generator=torch.Generator().manual_seed(seed))
    again = model.generate(prompt, 30, generator=torch.Generator().manual_seed(seed))
    other = model.generate(prompt, 30, generator=torch.Generator().manual_seed(seed + 1))
    assert torch.equal(first, again)
    with hint("two different seeds gave the same sample: draw with torch.multinomial (not the argmax) using the "
              "generator you were given, and do not reseed it inside generate"):
        assert not torch.equal(first, other)


# --- probes: trusted helpers that run next to your code ------------------------------

def set_table(model, table):
    """Copy ``table`` into the model's (V, V) parameter, whatever you named it."""
    tables = [p for p in model.parameters() if tuple(p.shape) == tuple(table.shape)]
    assert len(tables) == 1, "BigramLM should have exactly one parameter: the (V, V) table of logits"
    with torch.no_grad():
        tables[0].copy_(table)


def table_gets_a_gradient(model, ids) -> bool:
    """Whether one backward pass of the loss on ``ids`` gives every parameter a non-zero gradient."""
    parameters = list(model.parameters())
    if not parameters:
        return False
    try:
        _, loss = model(ids[:-1].unsqueeze(0), ids[1:].unsqueeze(0))
        loss.backward()
    except RuntimeError:  # "element 0 of tensors does not require grad"
        return False
    gained = all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in parameters)
    model.zero_grad(set_to_none=True)
    return gained


def train_full_batch(model, ids, steps, lr):
    """Train on every (current, next) pair of ``ids`` at once with Adam; return the losses."""
    return adam_steps(model, ids[:-1].unsqueeze(0), ids[1:].unsqueeze(0), steps, lr)
