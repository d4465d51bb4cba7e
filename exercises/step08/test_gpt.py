"""Grading suite for step 08: the full GPT (``gpt.py``).

Most tests check what a GPT promises from the outside: the loss it starts at, a batch it
can learn by heart, no peeking at the future, the samples it draws. One test checks the
whole forward pass at once, CS336-style: it loads fixed weights into your model by the
``state_dict`` names your stub documents and compares the logits with numbers the
reference model produced from the same weights (``snapshots/gpt_logits.json``; an
instructor regenerates it with ``python -m course.snapshots``). With ``--grading-seed``
the weights change, and the instructor copy computes the expected logits from the
reference at grading time.

Your GPT is made of your steps 03, 06 and 07. When one of them is unfinished or wrong,
the tests that need it say so and name the step to go back to.
"""

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from grader import hint, points
from grader.checks import expect_a_formula, expect_close, name_a_known_mistake
from grader.probes import (adam_steps, load_parameters, named_buffer_shapes, named_parameter_shapes, parameter_shapes,
                           parameters_by_name, submodules_of_class, torch_functions_of)

V, BLOCK, N_LAYER, N_HEAD, C = 11, 8, 2, 4, 16
PARTS = {"GPT.__init__": "test_parts_have_the_documented_names"}
SNAPSHOT = Path(__file__).with_name("snapshots") / "gpt_logits.json"
SNAPSHOT_SEED = 0
NUDGE = 1e-5  # the step of the measured slopes, in float64
EARLIER = {
    "step03 Embedding": "step03/test_embedding.py::test_lookup_returns_the_rows_for_any_shape",
    "step03 LearnedPositionalEmbedding": "step03/test_positional.py::test_learned_positions",
    "step07 Block": "step07/test_block.py::test_block_matches_the_pre_norm_definition",
    "step07 LayerNorm": "step07/test_block.py::test_layernorm_matches_torch",
}


def config(student, **changes):
    settings = dict(vocab_size=V, block_size=BLOCK, n_layer=N_LAYER, n_head=N_HEAD, n_embd=C)
    return student.gpt.GPTConfig(**{**settings, **changes})


def documented_shapes(vocab_size=V, block_size=BLOCK, n_layer=N_LAYER, n_embd=C, bias=True) -> dict:
    """The parameters of GPT(config), by ``state_dict`` name, as the stub documents them."""
    shapes = {"token_embedding.weight": (vocab_size, n_embd), "position_embedding.weight": (block_size, n_embd)}
    vector = [("weight", (n_embd,))] + ([("bias", (n_embd,))] if bias else [])
    for i in range(n_layer):
        block = f"blocks.{i}"
        shapes.update({f"{block}.ln_1.{kind}": shape for kind, shape in vector})
        for name in ("query", "key", "value", "out_proj"):
            shapes[f"{block}.attn.{name}.weight"] = (n_embd, n_embd)
            if bias:
                shapes[f"{block}.attn.{name}.bias"] = (n_embd,)
        shapes.update({f"{block}.ln_2.{kind}": shape for kind, shape in vector})
        shapes[f"{block}.mlp.fc.weight"] = (4 * n_embd, n_embd)
        if bias:
            shapes[f"{block}.mlp.fc.bias"] = (4 * n_embd,)
        shapes[f"{block}.mlp.proj.weight"] = (n_embd, 4 * n_embd)
        if bias:
            shapes[f"{block}.mlp.proj.bias"] = (n_embd,)
    shapes.update({f"ln_f.{kind}": shape for kind, shape in vector})
    return shapes


def seeded_weights(shapes: dict, generator: torch.Generator) -> dict:
    """Random weights for every documented parameter, large enough that every part matters.

    Norm scales near 1, biases near 0, matrices scaled by 1/sqrt(fan_in), tables of size
    ~0.5: the logits then spread over several units, so a missing part changes them a lot.
    """
    weights = {}
    for name, shape in shapes.items():
        noise = torch.randn(shape, generator=generator)
        if name.endswith("embedding.weight"):
            weights[name] = 0.5 * noise
        elif len(shape) == 2:
            weights[name] = noise / math.sqrt(shape[1])
        elif name.endswith(".weight"):  # a norm's scale
            weights[name] = 1 + 0.2 * noise
        else:
            weights[name] = 0.2 * noise
    return weights


def snapshot_case(seed: int):
    """The inputs of the logits snapshot: config settings, weights and ids, all from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    settings = dict(vocab_size=V, block_size=BLOCK, n_layer=N_LAYER, n_head=N_HEAD, n_embd=C, dropout=0.1)
    weights = seeded_weights(documented_shapes(), generator)
    idx = torch.randint(0, V, (2, BLOCK), generator=generator)
    return settings, weights, idx


def reference_logits(gpt_module, settings, weights, idx) -> torch.Tensor:
    """The logits of ``gpt_module.GPT`` (the reference) with these weights, in eval mode."""
    model = gpt_module.GPT(gpt_module.GPTConfig(**settings))
    model.load_state_dict(weights, strict=False)  # the masks are buffers the model builds itself
    model.eval()
    with torch.no_grad():
        return model(idx)[0]


def logits_by_definition(weights: dict, idx: torch.Tensor, n_head: int = N_HEAD, final_norms: int = 1,
                         first_position: int = 0, residual: bool = True, reversed_blocks: bool = False,
                         token_scale: float = 1.0) -> torch.Tensor:
    """The GPT's logits in eval mode, from its weights by the definition (the test's own code).

    Right by default; the options make it what a mistake computes: blocks with another number of
    heads, ln_f applied ``final_norms`` times, positions counted from ``first_position``, blocks
    without their residual connections, the blocks run last to first, the token vectors scaled.
    """
    def norm(x, name):
        return F.layer_norm(x, x.shape[-1:], weights[f"{name}.weight"], weights.get(f"{name}.bias"))

    def linear(x, name):
        return F.linear(x, weights[f"{name}.weight"], weights.get(f"{name}.bias"))

    B, T = idx.shape
    table = weights["token_embedding.weight"]  # (V, C)
    x = token_scale * table[idx] + weights["position_embedding.weight"][first_position:first_position + T]  # (B, T, C)
    n_layer = sum(name.endswith(".ln_1.weight") for name in weights)
    for i in (reversed(range(n_layer)) if reversed_blocks else range(n_layer)):
        block = f"blocks.{i}"
        h = norm(x, f"{block}.ln_1")
        q, k, v = (linear(h, f"{block}.attn.{name}").view(B, T, n_head, -1).transpose(1, 2)
                   for name in ("query", "key", "value"))  # (B, nh, T, hs)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, -1)
        attended = linear(attended, f"{block}.attn.out_proj")  # (B, T, C)
        x = x + attended if residual else attended
        thought = linear(F.gelu(linear(norm(x, f"{block}.ln_2"), f"{block}.mlp.fc")), f"{block}.mlp.proj")
        x = x + thought if residual else thought
    for _ in range(final_norms):
        x = norm(x, "ln_f")
    return x @ table.T  # (B, T, V)


def forward_mistakes(weights: dict, idx: torch.Tensor) -> dict:
    """Named wrong logits (for expect_close), each from one mistake in the forward pass."""
    T = idx.shape[1]
    mistakes = {
        "the blocks attend with a single head of size n_embd: give every Block config.n_head heads":
            logits_by_definition(weights, idx, n_head=1),
        "ln_f is applied twice: once, after the last block and before the head":
            logits_by_definition(weights, idx, final_norms=2),
        "ln_f is not applied: the head reads ln_f(x), the output of the last block normalised":
            logits_by_definition(weights, idx, final_norms=0),
        "the blocks' outputs replace x instead of adding to it: the residual connections are lost (is each "
        "Block's forward x + attn(ln_1(x)), then x + mlp(ln_2(x))?)": logits_by_definition(weights, idx, residual=False),
        "the blocks run last to first: x goes through blocks[0], then blocks[1], ... in order":
            logits_by_definition(weights, idx, reversed_blocks=True),
        "the token vectors are scaled by sqrt(n_embd) (as the original Transformer did): a GPT adds the table's rows "
        "as they are, x = token_embedding(idx) + position_embedding(idx)":
            logits_by_definition(weights, idx, token_scale=math.sqrt(weights["token_embedding.weight"].shape[1])),
    }
    if T < BLOCK:
        mistakes["the positions start at 1: position t is row t of the table, torch.arange(T) starts at 0"] = \
            logits_by_definition(weights, idx, first_position=1)
        mistakes["the positions are the LAST T rows of the table: position t is row t, torch.arange(T), for any T"] = \
            logits_by_definition(weights, idx, first_position=BLOCK - T)
    return mistakes


def loaded_model(student, generator, **changes):
    """A student GPT in eval mode holding seeded weights."""
    model = student.gpt.GPT(config(student, **changes))
    settings = {"n_layer": N_LAYER, "bias": True, **{k: v for k, v in changes.items() if k in ("n_layer", "bias")}}
    weights = seeded_weights(documented_shapes(n_layer=settings["n_layer"], bias=settings["bias"]), generator)
    student.probe(load_parameters, model, weights)
    model.eval()
    return model, weights


# --- the parts ---------------------------------------------------------------------------------

@points(2, hint="build exactly the documented parts under their names: token_embedding, position_embedding, "
                "blocks (an nn.ModuleList of n_layer Blocks), ln_f; the head has no weight of its own")
def test_parts_have_the_documented_names(student):
    for changes in ({}, {"n_layer": 1, "bias": False}, {"n_layer": 3}, {"block_size": 12, "n_head": 2}):
        model = student.gpt.GPT(config(student, **changes))
        found = student.probe(named_parameter_shapes, model)
        block_size = changes.get("block_size", BLOCK)
        expected = documented_shapes(block_size=block_size, n_layer=changes.get("n_layer", N_LAYER),
                                     bias=changes.get("bias", True))
        extra, missing = sorted(set(found) - set(expected)), sorted(set(expected) - set(found))
        if [name for name in extra if found[name] in [(V, C), (C, V)]]:
            with hint("the head is not tied: it must reuse token_embedding.weight (logits = x @ weight.T), not "
                      "hold a (vocab_size, n_embd) matrix of its own"):
                raise AssertionError(f"extra parameters: {extra}")
        if missing and not extra and all(name.startswith("blocks.") and not name.startswith("blocks.0.")
                                         for name in missing):
            with hint("the blocks share one set of weights: [Block(...)] * n_layer repeats ONE block n_layer times. "
                      "Build each block on its own, nn.ModuleList(Block(...) for _ in range(n_layer))"):
                raise AssertionError(f"{changes or 'default config'}: only blocks.0 has parameters; missing {missing}")
        assert not extra and not missing, f"{changes or 'default config'}: missing {missing}, unexpected {extra}"
        wrong = {name: found[name] for name in expected if found[name] != expected[name]}
        if "position_embedding.weight" in wrong:
            with hint("the position table has one row per position a model reads: config.block_size rows, whatever "
                      "the block_size of the examples"):
                raise AssertionError(f"block_size={block_size}: position_embedding.weight is "
                                     f"{wrong['position_embedding.weight']}, expected {(block_size, C)}")
        assert not wrong, f"shapes differ from the documented ones: {wrong}"
        masks = {name: shape for name, shape in student.probe(named_buffer_shapes, model).items()
                 if name.endswith("attn.mask")}
        with hint("give every Block config.block_size (Block(n_embd, n_head, block_size, ...)): each attention's "
                  "causal mask is block_size x block_size"):
            assert all(shape == (block_size, block_size) for shape in masks.values()), \
                f"block_size={block_size}: the attention masks are {masks}"
    with hint("GPTConfig must refuse sizes below 1 and a dropout outside [0, 1) with a ValueError as soon as it is "
              "made (the stub's __post_init__ does it: keep it)"):
        for bad in ({"n_layer": 0}, {"vocab_size": 0}, {"block_size": -1}, {"dropout": 1.0}, {"dropout": -0.1}):
            with pytest.raises(ValueError):
                config(student, **bad)
    with hint("use your own step 03 Embedding and LearnedPositionalEmbedding, and your step 07 Block and LayerNorm"):
        model = student.gpt.GPT(config(student))
        for step, module, name, count in [("step03", "embedding", "Embedding", 1),
                                          ("step03", "positional", "LearnedPositionalEmbedding", 1),
                                          ("step07", "block", "Block", N_LAYER),
                                          ("step07", "block", "LayerNorm", 2 * N_LAYER + 1)]:
            used = len(student.probe(submodules_of_class, model, step, module, name))
            assert used == count, f"the model holds {used} of your {step} {name}, expected {count}"


@points(5, hint="the forward pass differs from the reference on the same weights: token + position vectors, "
                "dropout, every block in order, ln_f, then x @ token_embedding.weight.T. The other tests of "
                "this step narrow it down",
        builds_on=EARLIER)
def test_logits_match_the_reference_on_the_same_weights(student, grading_seed, seed, reference):
    gpt_reference = reference("step08", "gpt") if grading_seed != 0 else None
    settings, weights, idx = snapshot_case(seed if gpt_reference else SNAPSHOT_SEED)
    if gpt_reference:
        expected = reference_logits(gpt_reference, settings, weights, idx)
    else:
        expected = torch.tensor(json.loads(SNAPSHOT.read_text())["logits"])
    model = student.gpt.GPT(student.gpt.GPTConfig(**settings))
    student.probe(load_parameters, model, weights)
    model.eval()  # dropout is 0.1 here: eval mode must switch it off
    logits, loss = model(idx)
    with hint("without targets, forward returns (logits, None): no loss to compute, so None, not 0"):
        assert loss is None, f"without targets the loss should be None, got {loss!r}"
    with hint("forward returns the logits of EVERY position, (B, T, vocab_size), with or without targets: the "
              "next-token choice at the last position belongs to generate"):
        assert isinstance(logits, torch.Tensor) and tuple(logits.shape) == tuple(expected.shape), \
            f"the logits should have shape {tuple(expected.shape)}, got {tuple(getattr(logits, 'shape', ()))}"
    # 2e-3: GELU's tanh form (accepted in step 07) moves these logits by up to ~1e-3; every mistake moves them by ~1.
    with hint("in eval mode two forward passes of the same input differ: a dropout is still on. model.eval() must "
              "turn it off: use nn.Dropout, or F.dropout(x, p, training=self.training)"):
        expect_close(model(idx)[0], logits, name="a second forward pass in eval mode")
    expect_close(logits, expected, name="the logits", atol=2e-3, rtol=1e-3, mistakes=forward_mistakes(weights, idx))
    # Another shape of model, whose logits the test works out from the definition: 2 heads, 12 positions.
    other = dict(settings, n_head=2, block_size=12)
    generator = torch.Generator().manual_seed(seed + 1)
    other_weights = seeded_weights(documented_shapes(block_size=12), generator)
    other_idx = torch.randint(0, V, (2, 12), generator=generator)
    model_12 = student.gpt.GPT(student.gpt.GPTConfig(**other))
    student.probe(load_parameters, model_12, other_weights)
    model_12.eval()
    expect_close(model_12(other_idx)[0], logits_by_definition(other_weights, other_idx, n_head=2),
                 name="the logits of a model with n_head=2 and block_size=12", atol=2e-3, rtol=1e-3, mistakes={
        f"the blocks have {N_HEAD} heads whatever config.n_head says: pass config.n_head to every Block":
            logits_by_definition(other_weights, other_idx, n_head=N_HEAD),
        **forward_mistakes(other_weights, other_idx),
    })
    # The same tokens with the last one changed: a causal model gives the same logits everywhere before it.
    changed = idx.clone()
    changed[:, -1] = (idx[:, -1] + 1) % V
    expect_close(model(changed)[0][:, :-1], expected[:, :-1], name="the logits before a changed last token",
                 atol=2e-3, rtol=1e-3)
    with hint("keep the checks at the top of forward: ids outside the vocabulary, float ids and targets of "
              "another shape must raise ValueError"):
        for bad_idx, targets in ((torch.full((1, 3), V), None), (torch.tensor([[0, -1]]), None),
                                 (torch.zeros(1, 3), None), (idx, idx[:, :-1])):
            with pytest.raises(ValueError):
                model(bad_idx, targets)


@points(2, hint="the position embedding is not added: x = token_embedding(idx) + position_embedding(idx); without "
                "it, a repeated token gives the same logits at every position",
        builds_on={**PARTS, "step03 LearnedPositionalEmbedding": EARLIER["step03 LearnedPositionalEmbedding"]})
def test_positions_are_added(student, generator):
    model, weights = loaded_model(student, generator)
    # A shorter input first: positions counted from 1 give logits there, and overrun the table at full length.
    shorter = torch.randint(0, V, (2, BLOCK - 3), generator=generator)  # from 1 and from the end differ
    name_a_known_mistake(model(shorter)[0], logits_by_definition(weights, shorter), name="the logits of a short input",
                         atol=2e-3, rtol=1e-3, mistakes=forward_mistakes(weights, shorter))
    logits, _ = model(torch.full((1, BLOCK), 3))  # one token, repeated: only the positions tell them apart
    spread = float((logits[0] - logits[0, :1]).detach().abs().max())
    assert spread > 1e-3, "the logits are the same at every position of a repeated token"
    idx = torch.randint(0, V, (2, BLOCK), generator=generator)
    full, _ = model(idx)
    with hint("a shorter input must give the logits of the first positions of a longer one: position t is row t "
              "of the position table (torch.arange(T)) whatever T is, not counted from the end of the table"):
        for T in (1, 3, BLOCK - 1):
            expect_close(model(idx[:, :T])[0], full[:, :T], name=f"the logits of the first {T} tokens alone")


@points(2, hint="apply ln_f to the output of the last block, just before the head: doubling ln_f.weight (with "
                "ln_f.bias = 0) must double every logit",
        builds_on={**PARTS, "step07 LayerNorm": EARLIER["step07 LayerNorm"]})
def test_final_norm_feeds_the_head(student, generator):
    model, weights = loaded_model(student, generator)
    idx = torch.randint(0, V, (2, BLOCK), generator=generator)
    weights["ln_f.bias"] = torch.zeros(C)
    student.probe(load_parameters, model, weights)
    once, _ = model(idx)
    weights["ln_f.weight"] = 2 * weights["ln_f.weight"]
    student.probe(load_parameters, model, weights)
    twice, _ = model(idx)
    expect_close(twice, 2 * once, name="the logits after doubling ln_f.weight", atol=1e-4, mistakes={
        "ln_f is not applied: the head must read ln_f(x), the normalised output of the last block": once,
    })


@points(2, hint="tie the head: logits = ln_f(x) @ token_embedding.weight.T, no bias; after zeroing row r of the "
                "table, the logit of token r must be exactly 0",
        builds_on=PARTS)
def test_head_is_tied_to_the_token_embedding(student, generator):
    model, weights = loaded_model(student, generator)
    weights["token_embedding.weight"][V - 1] = 0
    student.probe(load_parameters, model, weights)
    logits, _ = model(torch.randint(0, V - 1, (2, BLOCK), generator=generator))  # token V - 1 is never an input
    expect_close(logits[..., V - 1], torch.zeros(2, BLOCK), name=f"the logits of token {V - 1}", atol=1e-6)


# --- training behaviour ----------------------------------------------------------------------------

@points(2, hint="initialise every Linear weight and both embedding tables from N(0, 0.02) and the Linear biases at "
                "0 (PyTorch's own Linear init is several times larger, step 03's table is N(0, 1)): then every logit "
                "starts near 0 and the loss near ln(vocab_size)")
def test_loss_at_initialisation_is_ln_vocab_size(student, generator):
    vocab_size = 65
    model = student.gpt.GPT(config(student, vocab_size=vocab_size, n_embd=32))
    idx = torch.randint(0, vocab_size, (8, BLOCK), generator=generator)
    targets = torch.randint(0, vocab_size, (8, BLOCK), generator=generator)
    try:
        logits, loss = model(idx, targets)
    except Exception as error:  # a student's error, rebuilt by the grader: the message says what failed
        if "target" not in str(error).lower():
            raise
        with hint("F.cross_entropy takes (N, V) logits and (N,) targets: flatten the copies you pass to it, "
                  "logits.reshape(B * T, V) and targets.reshape(B * T)"):
            raise AssertionError(f"forward with targets failed: {str(error).splitlines()[0][:300]}") from None
    assert loss is not None and tuple(loss.shape) == (), "with targets, forward returns (logits, a scalar loss)"
    with hint("with targets, forward still returns logits of shape (B, T, vocab_size): flatten only the copies "
              "you pass to F.cross_entropy, not the logits you return"):
        assert tuple(logits.shape) == (8, BLOCK, vocab_size), \
            f"logits should have shape (8, {BLOCK}, {vocab_size}), got {tuple(logits.shape)}"
    with hint("the loss is F.cross_entropy of the logits flattened to (B * T, V) against the targets flattened to "
              "(B * T,) the same way, averaged (the default reduction), with no label smoothing: check the reshape, "
              "the reduction and the options"):
        expect_close(loss, F.cross_entropy(logits.reshape(-1, vocab_size), targets.reshape(-1)),
                     name="the loss against cross-entropy of your logits")
    start = float(loss.detach())
    assert abs(start - math.log(vocab_size)) < 0.1, \
        f"the loss at initialisation is {start:.3f}, expected about ln({vocab_size}) = {math.log(vocab_size):.3f}"
    # Every matrix starts at std 0.02 (GPT-2's 0.02 / sqrt(2 * n_layer) for the projections into the pathway,
    # out_proj and mlp.proj, is fine too). Each has 256 entries or more: its std is known to within 5%.
    parameters = student.probe(parameters_by_name, model)
    spread = initial_spread(parameters)
    lowest = {name: 0.016 * (0.5 if name.endswith(("out_proj", "mlp.proj")) else 1) for name in spread}
    far = {name: round(std, 4) for name, (std, _, _) in spread.items() if not lowest[name] <= std <= 0.024}
    assert not far, f"these weights do not start near N(0, 0.02) (their std): {far}"
    # A mean of N(0, 0.02) entries is 0 give or take 0.02 / sqrt(n): 6 of those is one chance in 10^9.
    shifted = {name: round(mean, 1) for name, (_, _, mean) in spread.items() if abs(mean) > 6}
    with hint("the weights are drawn around a mean other than 0: N(0, 0.02) is torch.nn.init.normal_(w, mean=0.0, "
              "std=0.02)"):
        assert not shifted, f"these weights' means are this many standard errors from 0: {shifted}"
    nonzero = [name for name, (_, bias_max, _) in spread.items() if bias_max > 0]
    assert not nonzero, f"these layers' biases do not start at zero: {nonzero}"
    with hint("the norms start as the identity, weight 1 and bias 0 (LayerNorm's own start): the N(0, 0.02) "
              "initialisation is for the Linear weights and the two tables only"):
        norms = {name: tensor for name, tensor in parameters.items() if tensor.dim() == 1 and
                 name.rsplit(".", 2)[-2] in ("ln_1", "ln_2", "ln_f")}
        moved = sorted(name for name, tensor in norms.items()
                       if not torch.equal(tensor, torch.ones_like(tensor) if name.endswith("weight")
                                          else torch.zeros_like(tensor)))
        assert not moved, f"these norm parameters do not start at 1 (weight) or 0 (bias): {moved}"
    # With spread-out logits too: the loss is the plain mean cross-entropy.
    loaded, _ = loaded_model(student, generator)
    idx, targets = idx % V, targets % V  # the loaded model's vocabulary is V
    logits, loss = loaded(idx, targets)
    with hint("the loss is the plain F.cross_entropy of the logits, averaged: no label smoothing, no weights, no "
              "ignored targets"):
        expect_close(loss, F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1)),
                     name="the loss of a model with spread-out logits")


@points(3, hint="a correct GPT learns one small batch by heart: if the loss stalls, check that every parameter "
                "gets a gradient (nothing detached, no tensor rebuilt inside forward) and that the blocks run",
        builds_on=EARLIER)
def test_overfits_one_batch(student, generator):
    model = student.gpt.GPT(config(student))
    x = torch.randint(0, V, (4, BLOCK), generator=generator)
    y = torch.randint(0, V, (4, BLOCK), generator=generator)
    losses = student.probe(adam_steps, model, x, y, 80, 1e-2)
    # Judged here: the cross-entropy of the trained model's logits, not the losses the probe reports.
    logits, _ = model(x)
    reached = float(F.cross_entropy(logits.reshape(-1, V).detach().double(), y.reshape(-1)))
    assert reached < 0.1, f"after 80 Adam steps on one batch the loss is {reached:.3f} (the first step's was " \
                          f"{losses[0]:.3f}); a correct GPT gets below 0.1"


@points(2, hint="backpropagation must give the true slope of the loss at every parameter: something between a "
                "parameter and the logits is cut from the graph (a .detach(), .data or torch.no_grad()), so training "
                "moves that parameter by only part of its gradient, or not at all",
        builds_on={**EARLIER, **PARTS})
def test_gradients_are_the_slopes_of_the_loss(student, generator):
    # The test needs no reference: it nudges one parameter at a time by +-h along a random direction d
    # and compares the change of the loss, (loss(w + h d) - loss(w - h d)) / 2h, with what backward
    # says it should be, the sum of grad * d. A cut anywhere in the graph makes the two disagree.
    model, weights = loaded_model(student, generator)
    idx = torch.randint(0, V, (2, BLOCK), generator=generator)
    targets = torch.randint(0, V, (2, BLOCK), generator=generator)
    directions = {name: torch.randn(w.shape, generator=generator, dtype=torch.float64) for name, w in weights.items()}
    directions = {name: d / d.norm() for name, d in directions.items()}
    observed = student.probe(loss_slopes, model, idx, targets, directions, NUDGE)

    def loss(logits):
        return F.cross_entropy(logits.double().reshape(-1, V), targets.reshape(-1))

    with hint("after model.double() the logits must be float64: something in forward casts to float32 "
              "(.float(), dtype=torch.float32) where it should follow the input's dtype"):
        assert observed["logits"].dtype == torch.float64, f"logits are {observed['logits'].dtype}"
    untouched = sorted(name for name, grad in observed["gradients"].items() if grad is None)
    wrong = {}
    for name, d in directions.items():
        if name in untouched:
            continue
        backward = float((observed["gradients"][name].double() * d).sum())
        plus, minus = observed["nudged"][name]
        measured = float(loss(plus) - loss(minus)) / (2 * NUDGE)
        if abs(backward - measured) > 1e-4 + 1e-3 * abs(measured):
            wrong[name] = (round(backward, 5), round(measured, 5))
    with hint("the gradient at the position table is missing or wrong: position_embedding(idx) is detached or "
              "computed outside autograd, so the positions would never be learned"):
        assert "position_embedding.weight" not in [*untouched, *wrong], \
            f"no gradient at {untouched}; backward vs measured slope: {wrong}"
    unused = [name for name in untouched
              if float((observed["nudged"][name][0] - observed["nudged"][name][1]).abs().max()) == 0]
    with hint("these parameters never take part in forward (moving them changes no logit): is every block run once, "
              f"in order, for blocks 0 .. n_layer - 1 (for block in self.blocks: x = block(x))? Unused: {unused}"):
        assert not unused, f"parameters that change nothing: {unused}"
    with hint("no gradient reaches these parameters: each must require grad and be used as it is in forward "
              "(not weight.data or weight.detach())"):
        assert not untouched, f"no gradient at {untouched}"
    with hint("the gradient at the token table is only part of its slope: the table is used twice (the input "
              "lookup and the tied head), and one use is cut from the graph. The head must be "
              "x @ token_embedding.weight.T, not .weight.detach() or .weight.data; the lookup must not be detached"):
        assert set(wrong) != {"token_embedding.weight"}, f"backward vs measured slope: {wrong}"
    assert not wrong, f"the slope of the loss along a random direction, by backward and measured: {wrong}"


@points(2, hint="the logits at position t must not change when tokens after t change: every block's attention "
                "is causal",
        builds_on={**PARTS, "step07 Block": EARLIER["step07 Block"]})
def test_no_information_flows_from_the_future(student, generator):
    model, _ = loaded_model(student, generator)
    idx = torch.randint(0, V, (1, BLOCK), generator=generator)
    logits, _ = model(idx)
    for t in (0, 3, BLOCK - 2):
        changed = idx.clone()
        changed[0, t + 1:] = (idx[0, t + 1:] + 1 + torch.randint(0, V - 1, (BLOCK - t - 1,), generator=generator)) % V
        expect_close(model(changed)[0][:, : t + 1], logits[:, : t + 1],
                     name=f"the logits at 0..{t} after changing tokens {t + 1}..{BLOCK - 1}", atol=1e-5)


# --- size ------------------------------------------------------------------------------------------

@points(3, hint="count every part once: V*C + block_size*C + n_layer * (2 norms + attention + MLP) + ln_f, "
                "with biases only when config.bias, and the tied head not at all")
def test_parameter_count_formula(student):
    for changes in ({}, {"n_layer": 4}, {"bias": False}, {"vocab_size": 65, "block_size": 32, "n_layer": 3,
                                                           "n_embd": 48, "n_head": 6}):
        cfg = config(student, **changes)
        dims = {k: changes.get(k, d) for k, d in [("vocab_size", V), ("block_size", BLOCK), ("n_layer", N_LAYER),
                                                  ("n_embd", C), ("bias", True)]}
        expected = sum(math.prod(shape) for shape in documented_shapes(*dims.values()).values())
        observed = student.probe(torch_functions_of, student.gpt.gpt_parameter_count, cfg)
        counted = observed["output"]
        expect_a_formula(observed["functions"], "gpt_parameter_count", "the config's sizes")
        with hint("gpt_parameter_count returns a Python int (a count has no fraction: use //, not /)"):
            assert isinstance(counted, int) and not isinstance(counted, bool), \
                f"gpt_parameter_count should return an int, got {type(counted).__name__}"
        Vx, Cx = dims["vocab_size"], dims["n_embd"]
        expect_close(torch.tensor(counted), torch.tensor(expected), name=f"gpt_parameter_count for {changes or 'default'}",
                     mistakes={
                         "the tied head is counted: it IS the token table, count it once":
                             torch.tensor(expected + Vx * Cx),
                         "the position table is not counted: block_size * n_embd more":
                             torch.tensor(expected - dims["block_size"] * Cx),
                         "ln_f is not counted": torch.tensor(expected - Cx * (2 if dims["bias"] else 1)),
                     })
    with hint("your model's real parameter count differs from your formula. Fewer: the blocks share one set of "
              "weights (build a new Block() per layer, not [block] * n_layer). More: the model holds a part the "
              "formula leaves out, such as a head of its own"):
        for n_layer in (2, 4):
            cfg = config(student, n_layer=n_layer)
            real = sum(math.prod(shape) for shape in student.probe(parameter_shapes, student.gpt.GPT(cfg)))
            assert real == student.gpt.gpt_parameter_count(cfg), \
                f"n_layer={n_layer}: your GPT holds {real} parameters, your formula says " \
                f"{student.gpt.gpt_parameter_count(cfg)}"


# --- generation --------------------------------------------------------------------------------

@points(3, hint="each step: crop the context to its last block_size tokens, take the logits at the LAST "
                "position, softmax, torch.multinomial with the generator; return the prompt followed by the new "
                "tokens",
        builds_on={**PARTS, "GPT.forward": "test_logits_match_the_reference_on_the_same_weights"})
def test_generate_samples_the_next_token(student, generator):
    model, _ = loaded_model(student, generator)
    prompt = torch.randint(0, V, (2, 3), generator=generator)
    out = model.generate(prompt, 10, torch.Generator().manual_seed(1))
    assert tuple(out.shape) == (2, 13), f"generate(prompt (2, 3), 10) should return (2, 13), got {tuple(out.shape)}"
    with hint("generate returns int64 token ids, like the prompt: do not cast them"):
        assert out.dtype == torch.int64, f"generate returned {out.dtype}"
    expect_close(out[:, :3], prompt, name="the first 3 tokens (the prompt)")
    with hint("generate must leave the model in the mode it found it: sampling runs in eval mode, as the caller "
              "set it, and never switches dropout on (no self.train() inside generate)"):
        assert not model.training, "the model was in eval mode before generate, and is in train mode after it"
    model.train()
    model.generate(prompt, 3, torch.Generator().manual_seed(1))
    with hint("generate must leave the model in the mode it found it: a model in training stays in training (no "
              "self.eval() inside generate without putting the mode back)"):
        assert model.training, "the model was in train mode before generate, and is in eval mode after it"
    model.eval()
    with hint("pass the generator to torch.multinomial: the same seed must give the same tokens"):
        expect_close(model.generate(prompt, 10, torch.Generator().manual_seed(1)), out, name="a second seeded run")
    with hint("an input longer than block_size must raise a ValueError that says so"):
        with pytest.raises(ValueError):
            model(torch.zeros(1, BLOCK + 1, dtype=torch.long))
    with hint("crop the context to its last block_size tokens before each forward: a long prompt, or a long "
              "generation, must work"):
        long = model.generate(torch.randint(0, V, (1, BLOCK + 3), generator=generator), BLOCK + 2,
                              torch.Generator().manual_seed(2))
        assert tuple(long.shape) == (1, 2 * BLOCK + 5), tuple(long.shape)
    # The first new token must follow softmax(logits at the last position of the cropped context).
    context = torch.randint(0, V, (1, BLOCK + 2), generator=generator)
    probs = F.softmax(model(context[:, -BLOCK:])[0][0, -1], dim=-1)
    draws = model.generate(context.repeat(4000, 1), 1, torch.Generator().manual_seed(3))[:, -1]
    frequencies = torch.bincount(draws, minlength=V).double() / 4000
    probs = probs.detach().double()
    if float((frequencies - probs).abs().max()) >= 0.04:
        first = F.softmax(model(context[:, -BLOCK:])[0][0, 0], dim=-1).detach().double()
        with hint("the tokens are sampled from the logits of the FIRST position: take logits[:, -1, :]"):
            assert float((frequencies - first).abs().max()) >= 0.04
        with hint("every draw is the same token: sample with torch.multinomial(probs, 1, generator=generator), "
                  "one draw per row, instead of taking the argmax or sharing one draw across the batch"):
            assert float(frequencies.max()) < 1
        raise AssertionError(f"the sampled next tokens do not follow the softmax of the last position's logits: "
                             f"frequencies {[round(f, 3) for f in frequencies.tolist()]}, "
                             f"probabilities {[round(p, 3) for p in probs.tolist()]}")
    # Then a distribution chosen here, skewed, the same at every position (a probe sets ln_f to output the
    # constant e_0 and column 0 of the table to these logits): 40,000 draws tell softmax(logits) from a
    # temperature or a top-k filter. One frequency's standard error is at most 0.0025; 0.015 is 6 of them.
    designed = torch.tensor([0.3, 0.2, 0.14, 0.1, 0.08, 0.06, 0.05, 0.03, 0.02, 0.015, 0.005]).log()
    fixed, _ = loaded_model(student, generator)
    student.probe(set_the_logits, fixed, designed)
    probs = F.softmax(fixed(context[:, -1:])[0][0, -1], dim=-1).detach().double()
    draws = fixed.generate(context[:, -1:].repeat(40_000, 1), 1, torch.Generator().manual_seed(5))[:, -1]
    with hint("the draws do not follow softmax(logits[:, -1]) itself: no temperature, top-k or other filter in "
              "this step's generate (step 10 adds them), and softmax over the vocabulary, dim=-1"):
        expect_close(torch.bincount(draws, minlength=V).double() / 40_000, probs, atol=0.015, rtol=0,
                     name="the frequencies of 40,000 draws from a chosen distribution")
    # Each new token must be read back in. With probabilities all near 0 or 1, sampling is greedy decoding,
    # which the test can follow step by step.
    peaked, weights = loaded_model(student, generator)
    weights["ln_f.weight"], weights["ln_f.bias"] = 1000 * weights["ln_f.weight"], 1000 * weights["ln_f.bias"]
    student.probe(load_parameters, peaked, weights)
    prompt = torch.randint(0, V, (2, 3), generator=generator)
    greedy = prompt
    for _ in range(2 * BLOCK):
        next_logits = peaked(greedy[:, -BLOCK:])[0][:, -1].detach()
        greedy = torch.cat([greedy, next_logits.argmax(dim=-1, keepdim=True)], dim=1)
    with hint("each new token must be appended and read back in: the context of the next step is the prompt plus "
              "every token sampled so far, cropped to its LAST block_size tokens"):
        expect_close(peaked.generate(prompt, 2 * BLOCK, torch.Generator().manual_seed(4)), greedy,
                     name="the tokens generated by a model whose next-token probabilities are all near 0 or 1")


@points(2, hint="pass config.dropout to the embedding dropout and to every Block; model.train() turns it on, "
                "model.eval() must turn it off",
        builds_on={**PARTS, "GPT.forward": "test_logits_match_the_reference_on_the_same_weights"})
def test_dropout_only_in_training(student, generator):
    model, weights = loaded_model(student, generator, dropout=0.5)
    rates = student.probe(dropout_rates, model)
    with hint("config.dropout goes everywhere: the embedding dropout and every Block (which passes it on to its "
              "MLP), so at least 1 + 2 * n_layer nn.Dropout, each with p = config.dropout"):
        assert len(rates) >= 1 + 2 * N_LAYER and set(rates) == {0.5}, \
            f"with dropout=0.5 and n_layer={N_LAYER}, the model's nn.Dropout rates are {rates}"
    idx = torch.randint(0, V, (2, BLOCK), generator=generator)
    evaluated = model(idx)[0]
    expect_close(model(idx)[0], evaluated, name="two forward passes in eval mode")
    model.train()
    first, second = model(idx)[0], model(idx)[0]
    assert float((first - second).detach().abs().max()) > 1e-3, \
        "with dropout=0.5 in train mode, two forward passes should differ"
    # In training, the first block reads dropout(token + position): every entry either 0 or the sum / (1 - p).
    embedded = weights["token_embedding.weight"][idx] + weights["position_embedding.weight"][:BLOCK]
    seen = student.probe(input_of_the_first_block, model, idx)
    with hint("the embedding dropout acts on the sum of the two vectors, right after adding them and before the "
              "first block: x = dropout(token_embedding(idx) + position_embedding(idx))"):
        assert seen is not None and tuple(seen.shape) == tuple(embedded.shape), "the first block never ran"
        kept = seen != 0
        expect_close(seen[kept], 2 * embedded[kept], name="the first block's input where dropout kept it "
                     "(p = 0.5: the sum of the vectors times 2)")
        dropped = 1 - float(kept.double().mean())
        assert 0.35 < dropped < 0.65, f"dropout p = 0.5 zeroed {dropped:.0%} of the first block's input"
    # Between the first block and the logits, the only dropouts are those inside the blocks.
    flow = student.probe(flow_in_training, model, idx)
    with hint("a dropout between the blocks: each block's output goes to the next block as it is (the blocks drop "
              "out inside themselves, on their branches)"):
        for i in range(1, N_LAYER):
            expect_close(flow["block_inputs"][i], flow["block_outputs"][i - 1],
                         name=f"the input of block {i} against the output of block {i - 1}")
    with hint("a dropout after the last block or after ln_f, or on the logits: the head reads ln_f(last block's "
              "output) as it is, logits = ln_f(x) @ token_embedding.weight.T"):
        last = flow["block_outputs"][-1]
        normalised = F.layer_norm(last, (C,), weights["ln_f.weight"], weights["ln_f.bias"])
        head = normalised @ weights["token_embedding.weight"].T
        expect_close(flow["logits"], head, name="the logits against ln_f(the last block's output) @ the table's "
                     "transpose", atol=1e-4)


def initial_spread(parameters: dict) -> dict:
    """For every weight matrix (Linear or table), from the parameters by name: (its std, the largest |bias|
    of its layer, 0 for a table, and its mean in standard errors of a mean of N(0, 0.02) entries)."""
    spread = {}
    for name, weight in parameters.items():
        if name.endswith("weight") and weight.dim() == 2:
            layer = name.removesuffix("weight")
            bias = parameters.get(f"{layer}bias")
            biggest_bias = 0.0 if bias is None else float(bias.abs().max())
            off_centre = float(weight.mean()) / (0.02 / math.sqrt(weight.numel()))
            spread[layer.rstrip(".") or "model"] = (float(weight.std()), biggest_bias, off_centre)
    return spread


# --- probes: trusted helpers that run next to your code ------------------------------

def dropout_rates(model):
    return [module.p for module in model.modules() if isinstance(module, torch.nn.Dropout)]


def flow_in_training(model, idx) -> dict:
    """One forward pass (in the model's mode): every block's input and output, and the logits."""
    seen = {"block_inputs": [], "block_outputs": []}

    def on_block(module, args, out):  # a hook that returns nothing leaves the output as it was
        seen["block_inputs"].append(args[0].detach().clone())
        seen["block_outputs"].append(out.detach().clone())

    handles = [block.register_forward_hook(on_block) for block in model.blocks]
    try:
        seen["logits"] = model(idx)[0].detach().clone()
    finally:
        for handle in handles:
            handle.remove()
    return seen


def input_of_the_first_block(model, idx):
    """What ``blocks[0]`` received during one forward pass, or None."""
    seen = []
    handle = model.blocks[0].register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    try:
        model(idx)
    finally:
        handle.remove()
    return seen[0] if seen else None


@torch.no_grad()
def set_the_logits(model, logits):
    """Make every position's logits equal ``logits`` (V,): ln_f outputs the constant e_0 (weight 0,
    bias e_0), and column 0 of the tied table holds the logits, so ln_f(x) @ table.T = logits."""
    model.ln_f.weight.zero_()
    model.ln_f.bias.zero_()
    model.ln_f.bias[0] = 1
    model.token_embedding.weight[:, 0] = logits


def loss_slopes(model, idx, targets, directions, step):
    """The model in float64: its logits; the gradient at every parameter of the cross-entropy of those
    logits against ``targets``; for every parameter, the logits after moving it by +step and -step along
    its direction (then put back)."""
    model.double()
    parameters = dict(model.named_parameters())
    for p in parameters.values():
        p.grad = None
    with torch.enable_grad():
        logits = model(idx)[0]
        torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)).backward()
    nudged = {}
    with torch.no_grad():
        for name, direction in directions.items():
            parameter = parameters[name]
            parameter += step * direction
            plus = model(idx)[0]
            parameter -= 2 * step * direction
            minus = model(idx)[0]
            parameter += step * direction
            nudged[name] = (plus, minus)
    return {"logits": logits.detach(), "nudged": nudged,
            "gradients": {name: None if p.grad is None else p.grad.clone() for name, p in parameters.items()}}
