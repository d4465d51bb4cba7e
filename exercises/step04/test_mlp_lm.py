"""Grading suite for step 04: the feed-forward language model (``mlp_lm.py``).

The model is checked from the outside wherever possible: its logits, its loss, what the
logits at position t depend on, how it trains and samples. Where a check needs the inside
(is the head really the embedding table? how many layers are there?), a probe at the bottom
of this file looks at your model's parameters by shape, so any names you chose work.

Your model is built on your step 03 ``Embedding``. When step 03 is unfinished or wrong,
the tests that use it say so and point you back there.
"""

import pytest
import torch
import torch.nn.functional as F

from grader import hint, points
from grader.checks import expect_a_formula, expect_close
from grader.probes import (adam_steps, parameter_shapes, submodules_of_class, tensors_after_the_call,
                           torch_functions_of)
from grader.synthetic import conditional_entropy, markov_chain

V, C = 7, 4  # hidden width 4 * C = 16; V != C, so a transposed table shows up at once
STEP03 = "step03/test_embedding.py::test_lookup_returns_the_rows_for_any_shape"


def hidden_shapes(n_embd: int, n_hidden_layers: int) -> list[tuple[int, int]]:
    """The (out, in) shapes of the MLP's Linear weights, first to last."""
    hidden = 4 * n_embd
    return [(hidden, n_embd)] + [(hidden, hidden)] * (n_hidden_layers - 1) + [(n_embd, hidden)]


def expected_parameter_count(vocab_size: int, n_embd: int, n_hidden_layers: int) -> int:
    """Counted layer by layer from the shapes (weights plus biases), the table once."""
    return vocab_size * n_embd + sum(out * inp + out for out, inp in hidden_shapes(n_embd, n_hidden_layers))


# --- the parts ------------------------------------------------------------------------

@points(1, hint="build the token vectors with your own step 03 Embedding (imported from ..step03.embedding)")
def test_token_vectors_come_from_your_embedding(student):
    model = student.mlp_lm.FeedForwardLM(V, C)
    assert student.probe(embedding_shapes, model) == [(V, C)], \
        "the model should hold exactly one step 03 Embedding, of shape (vocab_size, n_embd)"


@points(3, hint="tie the head to the embedding: logits = h @ token_embedding.weight.T, with no bias and no "
                "second (V, C) matrix (a copy of the table is not tied: it drifts apart as soon as training starts)",
        builds_on={"step03 Embedding": STEP03, "the token vectors": "test_token_vectors_come_from_your_embedding"})
def test_head_is_tied_to_the_embedding(student, generator):
    model = student.mlp_lm.FeedForwardLM(V, C)
    shapes = student.probe(parameter_shapes, model)
    tables = sum(shape in [(V, C), (C, V)] for shape in shapes)
    with hint("the model has a second (V, C) or (C, V) matrix: the head must reuse the embedding's weight "
              "itself, not a copy or a new nn.Linear(n_embd, vocab_size)" if tables > 1 else
              "the model holds no (vocab_size, n_embd) table among its parameters: the token table is the "
              "weight of your step 03 Embedding, an nn.Parameter"):
        assert tables == 1, f"parameter shapes: {shapes}"
    total, expected = sum(torch.Size(shape).numel() for shape in shapes), expected_parameter_count(V, C, 2)
    with hint("the model has parameters the architecture does not list: the head has none of its own (no bias, "
              "no learned scale), so the model holds the table and the MLP's Linear layers and nothing else (and "
              "FeedForwardLM(vocab_size, n_embd) has n_hidden_layers=2 by default)"
              if total > expected else
              "the model has fewer parameters than the architecture: FeedForwardLM(vocab_size, n_embd) has 2 hidden "
              "layers by default, and every Linear of the MLP has a bias"):
        assert total == expected, f"the model holds {total} numbers in parameters of shapes {shapes}; the " \
                                  f"architecture has {expected}"
    # If the head scores token r with row r of the table, zeroing that row zeroes its logit.
    idx = torch.randint(0, V - 1, (2, 5), generator=generator)  # token V - 1 is never an input
    student.probe(zero_table_row, model, V - 1)
    logits, _ = model(idx)
    with hint("after zeroing row r of the embedding table, the logit of token r must be exactly 0: "
              "logits[..., r] = h · weight[r], with no bias in the head"):
        expect_close(logits[..., V - 1], torch.zeros(2, 5), name=f"the logits of token {V - 1}", atol=1e-6)


@points(2, hint="n_hidden_layers Linear + ReLU layers of width 4 * n_embd, then one Linear back to n_embd: "
                "the depth argument must set how many there are",
        builds_on={"step03 Embedding": STEP03, "FeedForwardLM.forward": "test_logits_follow_the_architecture"})
def test_depth_sets_the_hidden_layers(student, generator):
    # Widths other than C = 4 too: there 4 * C and C * C are both 16.
    for n_embd, depth in ((C, 1), (3, 2), (5, 4), (C, None)):
        # None: n_hidden_layers is left out, so its documented default, 2, applies.
        model = student.mlp_lm.FeedForwardLM(V, n_embd, *([] if depth is None else [depth]))
        depth = 2 if depth is None else depth
        parameters = student.probe(mlp_parameters, model)
        found = [tuple(weight.shape) for weight, _ in parameters["layers"]]
        assert found == hidden_shapes(n_embd, depth), \
            f"FeedForwardLM({V}, {n_embd}, n_hidden_layers={depth}): the Linear weights (out, in) should be " \
            f"{hidden_shapes(n_embd, depth)}, got {found}"
        with hint("every Linear layer of the MLP has a bias (nn.Linear's default): do not pass bias=False"):
            biases = [None if bias is None else tuple(bias.shape) for _, bias in parameters["layers"]]
            assert biases == [(out,) for out, _ in found], f"the Linear biases' shapes: {biases}"
        # The layers found must be the ones the model runs: its logits, recomputed from them here.
        idx = torch.randint(0, V, (2, 5), generator=generator)
        expect_close(model(idx)[0], recomputed_logits(parameters, idx)["right"],
                     name=f"the logits of FeedForwardLM({V}, {n_embd}, n_hidden_layers={depth})")


@points(2, hint="count weights AND biases of every Linear layer, and the tied table only once: "
                "V*C + (C*4C + 4C) + (n_hidden_layers - 1) * (4C*4C + 4C) + (4C*C + C)")
def test_parameter_count_formula(student, generator):
    def draw(low, high):
        return int(torch.randint(low, high + 1, (), generator=generator))

    sizes = [(V, C, 1), (V, C, 2)] + [(draw(2, 100), draw(1, 40), draw(1, 6)) for _ in range(3)]
    for vocab_size, n_embd, depth in sizes:
        expected = expected_parameter_count(vocab_size, n_embd, depth)
        hidden_part = expected - vocab_size * n_embd
        observed = student.probe(torch_functions_of, student.mlp_lm.parameter_count, vocab_size, n_embd, depth)
        counted = observed["output"]
        expect_a_formula(observed["functions"], "parameter_count", "vocab_size, n_embd and n_hidden_layers")
        with hint("parameter_count returns a Python int (a count has no fraction: use //, not /, or int(...))"):
            assert isinstance(counted, int) and not isinstance(counted, bool), \
                f"parameter_count should return an int, got {type(counted).__name__}"
        expect_close(torch.tensor(counted), torch.tensor(expected), name=f"parameter_count{(vocab_size, n_embd, depth)}",
                     mistakes={
                         "the tied head has no weight of its own: count the table once": expected + vocab_size * n_embd,
                         "each Linear layer has a bias too: out_features more numbers per layer":
                             expected - sum(out for out, _ in hidden_shapes(n_embd, depth)),
                         "the first layer is not repeated: n_hidden_layers hidden layers means n_hidden_layers - 1 "
                         "layers of (4C x 4C) between the first and the last": expected + (4 * n_embd + 1) * 4 * n_embd,
                         "the embedding table counts too: V * C": hidden_part,
                     })


# --- forward ---------------------------------------------------------------------------

@points(2, hint="forward returns (logits, loss): logits (B, T, vocab_size), and loss None without targets",
        builds_on={"step03 Embedding": STEP03})
def test_forward_shapes(student, generator):
    model = student.mlp_lm.FeedForwardLM(V, C)
    logits, loss = model(torch.randint(0, V, (3, 6), generator=generator))
    assert tuple(logits.shape) == (3, 6, V), f"logits should have shape (3, 6, {V}), got {tuple(logits.shape)}"
    assert loss is None, "without targets the loss is None"
    with hint("keep the checks at the top of forward: ids outside [0, vocab_size), an idx that is not (B, T) "
              "and targets of another shape must raise ValueError before any computation"):
        for idx, targets in ((torch.full((2, 3), V), None), (torch.zeros(6, dtype=torch.long), None),
                             (torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long)),
                             (torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long))):
            with pytest.raises(ValueError):
                model(idx, targets)


@points(3, hint="embedding -> MLP (Linear, ReLU, ..., Linear: no ReLU after the last layer) -> h @ table.T",
        builds_on={"step03 Embedding": STEP03})
def test_logits_follow_the_architecture(student, generator):
    model = student.mlp_lm.FeedForwardLM(V, C, 2)
    idx = torch.randint(0, V, (2, 5), generator=generator)
    logits, _ = model(idx)
    with hint("two forward passes of the same model on the same ids differ: something in forward is random, "
              "most likely a dropout layer. This model has no dropout (it comes with the transformer, step 07)"):
        again, _ = model(idx)
        if isinstance(logits, torch.Tensor) and isinstance(again, torch.Tensor) and logits.shape == again.shape:
            assert torch.allclose(again, logits, rtol=0, atol=0, equal_nan=True), "forward is not deterministic"
    variants = recomputed_logits(student.probe(mlp_parameters, model), idx)
    missing = {f"the ReLU after Linear layer {i + 1} is missing: every hidden layer is a Linear followed by "
               f"a ReLU": variants[f"no relu after {i}"] for i in range(2)}
    expect_close(logits, variants["right"], name="the logits", mistakes={
        "there is no ReLU between the Linear layers, so the MLP collapses into one linear map": variants["no relu"],
        **missing,
        "the last Linear layer is not followed by a ReLU: its output feeds the head as is":
            variants["relu after the last layer"],
        "the MLP is skipped: the logits are mlp(embedding) @ table.T, not embedding @ table.T": variants["no mlp"],
        "the MLP's input is added back (x + mlp(x)): this model has no residual connection, the head reads "
        "mlp(x) alone": variants["residual"],
        "the activation is not ReLU: use nn.ReLU (GELU comes with the transformer block of step 07)":
            variants["gelu"],
        "the activation is not ReLU: use nn.ReLU, not tanh": variants["tanh"],
        "forward returns probabilities: return the raw scores h @ table.T; softmax belongs in the loss and "
        "in sampling": variants["softmax"],
        "forward returns log-probabilities: return the raw scores h @ table.T, F.cross_entropy applies "
        "log-softmax itself": variants["log_softmax"],
        "the head is scaled: the logits are h @ table.T with no 1/sqrt(C) factor (that scaling belongs to "
        "attention, step 05)": variants["scaled head"],
    })


@points(2, hint="loss is the mean cross-entropy of the raw logits over all B * T positions: flatten logits "
                "to (B*T, V) and targets to (B*T,)",
        builds_on={"step03 Embedding": STEP03})
def test_loss_is_cross_entropy(student, generator):
    model = student.mlp_lm.FeedForwardLM(V, C)
    idx = torch.randint(0, V, (4, 5), generator=generator)
    targets = torch.randint(0, V, (4, 5), generator=generator)
    logits, loss = model(idx, targets)
    with hint("with targets, forward still returns logits of shape (B, T, vocab_size): flatten only the copies "
              "you pass to F.cross_entropy, not the logits you return"):
        assert tuple(logits.shape) == (4, 5, V), f"logits should have shape (4, 5, {V}), got {tuple(logits.shape)}"
    flat_logits, flat_targets = logits.reshape(-1, V), targets.reshape(-1)
    assert loss is not None and loss.dim() == 0, "with targets, the loss is one number: a scalar tensor"
    expect_close(loss, F.cross_entropy(flat_logits, flat_targets), name="the loss", mistakes={
        "softmax applied before cross_entropy: F.cross_entropy applies log-softmax itself, so pass it logits":
            F.cross_entropy(F.softmax(flat_logits, dim=-1), flat_targets),
        "the loss is summed, not averaged: use the mean over all B * T positions":
            F.cross_entropy(flat_logits, flat_targets, reduction="sum"),
        "the loss compares the logits with idx: the true next tokens are targets":
            F.cross_entropy(flat_logits, idx.reshape(-1)),
        "the targets are shifted again: they already hold the next token of every position, so logits[:, t] "
        "is scored against targets[:, t]": F.cross_entropy(logits[:, :-1].reshape(-1, V), targets[:, 1:].reshape(-1)),
    })


@points(2, hint="backward must give every parameter its true gradient: nothing in forward may be cut from the "
                "graph (.detach(), .data, torch.no_grad()), and the table gets gradient from both of its uses",
        builds_on={"step03 Embedding": STEP03, "FeedForwardLM.forward": "test_logits_follow_the_architecture"})
def test_backward_gives_every_parameter_its_gradient(student, generator):
    model = student.mlp_lm.FeedForwardLM(V, C, 2)
    idx = torch.randint(0, V, (3, 5), generator=generator)
    targets = torch.randint(0, V, (3, 5), generator=generator)
    observed = student.probe(loss_gradients, model, idx, targets)
    # The same loss, recomputed here from your parameters; its gradients by trusted autograd.
    table = observed["parameters"]["table"].requires_grad_()
    layers = [(weight.requires_grad_(), None if bias is None else bias.requires_grad_())
              for weight, bias in observed["parameters"]["layers"]]
    logits = recomputed_logits({"table": table, "layers": layers}, idx)["right"]
    F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1)).backward()

    with hint("no gradient reaches the MLP's layers: the loss must come from the logits your forward computed, "
              "with nothing detached on the way (.detach(), .data, torch.no_grad() inside forward)"):
        assert all(weight_grad is not None and (bias is None or bias_grad is not None)
                   for (_, bias), (weight_grad, bias_grad) in zip(layers, observed["layers"])), \
            "some Linear weight or bias got no gradient from loss.backward()"
    for i, ((weight, bias), (weight_grad, bias_grad)) in enumerate(zip(layers, observed["layers"])):
        expect_close(weight_grad, weight.grad, name=f"the gradient at Linear layer {i + 1}'s weight")
        if bias is not None:
            expect_close(bias_grad, bias.grad, name=f"the gradient at Linear layer {i + 1}'s bias")
    with hint("the table's gradient is only part of its slope: the table is used twice, to look tokens up and "
              "as the tied head, and one use is cut from the graph (token_embedding.weight.detach() or .data "
              "in the head, or a detached lookup)"):
        assert observed["table"] is not None, "no gradient reached the embedding table"
        expect_close(observed["table"], table.grad, name="the gradient at the embedding table")


# --- what this model cannot do -----------------------------------------------------------

def assert_context_blind(model, idx: torch.Tensor, generator) -> None:
    """The logits at t equal those of token t fed alone, whatever comes before or after it."""
    logits, _ = model(idx)
    other = torch.randint(0, V, idx.shape, generator=generator)
    for t in range(idx.shape[1]):
        alone, _ = model(idx[:, t:t + 1])
        expect_close(logits[:, t], alone[:, 0], name=f"the logits at position {t} (against token {t} alone)")
        mixed = other.clone()
        mixed[:, t] = idx[:, t]  # the same token at t, every other position different
        expect_close(model(mixed)[0][:, t], logits[:, t], name=f"the logits at position {t} with other neighbours")


@points(3, hint="the MLP works on each position on its own: nothing may mix positions (no mean, sum or "
                "cumsum over the T dimension, no reshape that merges T into the features)",
        builds_on={"step03 Embedding": STEP03})
def test_logits_at_t_depend_on_token_t_alone(student, generator):
    model = student.mlp_lm.FeedForwardLM(V, C, 2)
    assert_context_blind(model, torch.randint(0, V, (3, 8), generator=generator), generator)


@points(3, hint="a trained model should reach the data's conditional entropy H(next | current), the best any "
                "model that sees one token can do; check the loss, the tied head and the ReLUs",
        timeout=30, builds_on={"step03 Embedding": STEP03, "FeedForwardLM.forward": "test_loss_is_cross_entropy"})
def test_training_learns_the_bigram_statistics(student, generator, seed):
    ids = markov_chain(generator, V, 600)
    entropy = conditional_entropy(ids, V)

    student.probe(seed_torch, seed)  # your model's initial weights come from torch's global generator
    model = student.mlp_lm.FeedForwardLM(V, 8, 2)  # n_embd >= V, so the tied head can express any bigram table
    x, y = ids[:-1].unsqueeze(0), ids[1:].unsqueeze(0)
    losses = student.probe(adam_steps, model, x, y, steps=250, lr=0.01)
    assert losses[-1] < losses[0], "training did not lower the loss at all"
    logits, _ = model(x)
    reached = float(F.cross_entropy(logits[0].detach().double(), ids[1:]))  # judged here, not by the model's own loss
    assert reached < entropy + 0.05, f"cross-entropy after training {reached:.4f}, conditional entropy {entropy:.4f}"
    with hint("after training, the logits at t still may depend on token t only: something mixes positions"):
        assert_context_blind(model, torch.randint(0, V, (2, 6), generator=generator), generator)


# --- generation ---------------------------------------------------------------------------

@points(2, hint="generate returns the prompt followed by max_new_tokens new tokens: shape (B, T + max_new_tokens)",
        builds_on={"FeedForwardLM.forward": "test_forward_shapes"})
def test_generate_keeps_prompt(student, generator):
    model = student.mlp_lm.FeedForwardLM(V, C)
    prompt = torch.randint(0, V, (3, 4), generator=generator)
    out = model.generate(prompt, 5, generator=generator)
    assert tuple(out.shape) == (3, 9), f"expected shape (3, 9), got {tuple(out.shape)}"
    assert torch.equal(out[:, :4], prompt), "the output must start with the prompt, unchanged"
    assert int(out.min()) >= 0 and int(out.max()) < V
    with hint("generate returns int64 ids, like the prompt: do not cast them (int32, float)"):
        assert out.dtype == torch.int64, f"generate returned {out.dtype}"
    with hint("generate must not write into the prompt: build the longer tensor with torch.cat and leave the "
              "caller's idx as it was"):
        after = student.probe(prompt_after_generate, model, prompt.clone(), 5)
        assert torch.equal(after, prompt), "the prompt was changed by generate"


@points(2, hint="sample each new token with torch.multinomial from softmax(logits[:, -1]): the LAST position "
                "predicts what comes next", timeout=30,
        builds_on={"FeedForwardLM.forward": "test_forward_shapes"})
def test_generate_samples_from_the_last_position(student, generator):
    model = student.mlp_lm.FeedForwardLM(V, C)
    prompt = torch.tensor([[1, 2, 3]])

    def sampled_frequencies(draws):
        out = model.generate(prompt.repeat(draws, 1), 1, generator=generator)
        return torch.bincount(out[:, -1], minlength=V).float() / draws

    # First a distribution chosen here, the same after every token (a probe sets the weights so):
    # skewed enough that sampling at another temperature, or from another distribution, shows.
    student.probe(set_the_logits, model, torch.tensor([0.4, 0.25, 0.15, 0.1, 0.05, 0.03, 0.02]).log())
    logits, _ = model(prompt)
    # 40,000 draws: one frequency's standard error is at most 0.0025, so 0.015 is 6 of them.
    expect_close(sampled_frequencies(40_000), F.softmax(logits[0, -1], dim=-1), name="the sampled frequencies",
                 atol=0.015, rtol=0, mistakes={
                     "generate takes the argmax: sample with torch.multinomial instead":
                         F.one_hot(logits[0, -1].argmax(), V).float(),
                     "every token comes out equally often: take the softmax over the vocabulary (dim=-1), "
                     "not over the batch": torch.full((V,), 1 / V)})
    model = student.mlp_lm.FeedForwardLM(V, C)
    # A little training on the cycle 0 -> 1 -> ... -> 6 -> 0 makes the prediction after each
    # token distinct, so a sample taken from the wrong position shows.
    cycle = torch.arange(3 * V) % V
    student.probe(adam_steps, model, cycle[:-1].unsqueeze(0), cycle[1:].unsqueeze(0), steps=30, lr=0.05)
    logits, _ = model(prompt)
    expect_close(sampled_frequencies(20_000), F.softmax(logits[0, -1], dim=-1), name="the sampled frequencies after "
                 "training", atol=0.03, rtol=0, mistakes={
                     "the samples follow the FIRST position of the prompt: use logits[:, -1]":
                         F.softmax(logits[0, 0], dim=-1)})
    # Two new tokens: the second must follow the first one drawn, not the prompt again.
    out = model.generate(prompt.repeat(20_000, 1), 2, generator=generator)
    first = int(torch.bincount(out[:, -2], minlength=V).argmax())  # the commonest first token, a
    after_first = out[out[:, -2] == first, -1]
    logits_after_first, _ = model(torch.tensor([[first]]))
    with hint("each new token must be appended and read back in: the second token is drawn from the prediction "
              "after the first new token, not from the prompt's again (one torch.multinomial per step, in a loop)"):
        expect_close(torch.bincount(after_first, minlength=V).float() / len(after_first),
                     F.softmax(logits_after_first[0, -1], dim=-1), atol=0.04, rtol=0,
                     name=f"the frequencies of the second new token after a first new token {first}")


@points(1, hint="pass the generator to torch.multinomial(..., generator=generator): the same seed must give "
                "the same sample")
def test_generate_is_reproducible(student, seed):
    model = student.mlp_lm.FeedForwardLM(V, C)
    prompt = torch.zeros(2, 1, dtype=torch.long)
    first = model.generate(prompt, 30, generator=torch.Generator().manual_seed(seed))
    again = model.generate(prompt, 30, generator=torch.Generator().manual_seed(seed))
    other = model.generate(prompt, 30, generator=torch.Generator().manual_seed(seed + 1))
    assert torch.equal(first, again), "the same seed gave two different samples"
    assert not torch.equal(first, other), "two different seeds gave the same sample"
    student.probe(seed_torch, seed)
    unseeded = [model.generate(prompt, 30) for _ in range(2)]
    with hint("without a generator, sample with torch's global one (torch.multinomial(..., generator=None)): a "
              "seeded generator made inside generate gives every unseeded call the same sample"):
        assert not torch.equal(*unseeded), "two calls without a generator gave the same 60 tokens"


# --- probes: trusted helpers that run next to your code ------------------------------

def seed_torch(seed):
    torch.manual_seed(seed)


def embedding_shapes(model):
    return [tuple(m.weight.shape) for m in submodules_of_class(model, "step03", "embedding", "Embedding")]


def the_table(model):
    (embedding,) = submodules_of_class(model, "step03", "embedding", "Embedding")
    return embedding.weight


def linears(model):
    """The MLP's nn.Linear layers, first to last, found by their shapes (not by their names).

    The first maps n_embd to the hidden width and the last maps back; layers of equal shape
    keep the order in which you registered them.
    """
    table = the_table(model)
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.weight is not table]
    n_embd = table.shape[1]
    first = [m for m in layers if m.in_features == n_embd]
    last = [m for m in layers if m.out_features == n_embd and m.in_features != n_embd]
    middle = [m for m in layers if m not in first and m not in last]
    return first + middle + last


@torch.no_grad()
def zero_table_row(model, row):
    the_table(model)[row] = 0


@torch.no_grad()
def set_the_logits(model, logits):
    """Make every position's logits equal ``logits`` (V,): the last Linear layer outputs the constant
    e_0 (weight 0, bias e_0), and column 0 of the table holds the logits, so h @ table.T = logits."""
    last = linears(model)[-1]
    if last.bias is None:
        return  # no bias to hold e_0 (another test names that): the sample is compared with the logits as they are
    last.weight.zero_()
    last.bias.zero_()
    last.bias[0] = 1
    the_table(model)[:, 0] = logits


def loss_gradients(model, idx, targets):
    """Backpropagate your model's own loss: the parameters it used and the gradient at each."""
    parameters = mlp_parameters(model)
    for p in model.parameters():
        p.grad = None
    with torch.enable_grad():
        _, loss = model(idx, targets)
        if isinstance(loss, torch.Tensor) and loss.requires_grad:
            loss.backward()

    def grad(tensor):
        return None if tensor is None or tensor.grad is None else tensor.grad.clone()

    return {"parameters": parameters, "table": grad(the_table(model)),
            "layers": [(grad(layer.weight), grad(layer.bias)) for layer in linears(model)]}


def prompt_after_generate(model, prompt, max_new_tokens):
    model.generate(prompt, max_new_tokens, generator=torch.Generator().manual_seed(0))
    return prompt


def mlp_parameters(model):
    """Your model's table and its Linear layers' (weight, bias), first to last (plain tensors)."""
    def copy(tensor):
        return None if tensor is None else tensor.detach().clone()

    return {"table": copy(the_table(model)),
            "layers": [(copy(layer.weight), copy(layer.bias)) for layer in linears(model)]}


# --- computed here, in the grading process, from the parameters a probe returned ------

def recomputed_logits(parameters, idx):
    """The logits the architecture gives with your parameters, and what some wrong architectures would give."""
    table, layers = parameters["table"], parameters["layers"]
    x = table[idx]  # (B, T, C)

    def mlp(h, relu_after=range(len(layers) - 1), activation=F.relu):
        for i, (weight, bias) in enumerate(layers):
            h = F.linear(h, weight, bias)
            if i in relu_after:
                h = activation(h)
        return h

    return {
        "right": mlp(x) @ table.T,
        "no relu": mlp(x, relu_after=()) @ table.T,
        **{f"no relu after {i}": mlp(x, relu_after=[j for j in range(len(layers) - 1) if j != i]) @ table.T
           for i in range(len(layers) - 1)},
        "relu after the last layer": mlp(x, relu_after=range(len(layers))) @ table.T,
        "no mlp": x @ table.T,
        "residual": (x + mlp(x)) @ table.T,
        "gelu": mlp(x, activation=F.gelu) @ table.T,
        "tanh": mlp(x, activation=torch.tanh) @ table.T,
        "softmax": F.softmax(mlp(x) @ table.T, dim=-1),
        "log_softmax": F.log_softmax(mlp(x) @ table.T, dim=-1),
        "scaled head": mlp(x) @ table.T / table.shape[1] ** 0.5,
    }
