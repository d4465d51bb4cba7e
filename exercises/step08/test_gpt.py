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
from grader.checks import expect_close
from grader.probes import (adam_steps, load_parameters, named_parameter_shapes, parameter_shapes, parameters_by_name,
                           submodules_of_class)

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
    for changes in ({}, {"n_layer": 1, "bias": False}, {"n_layer": 3}):
        model = student.gpt.GPT(config(student, **changes))
        found = student.probe(named_parameter_shapes, model)
        expected = documented_shapes(n_layer=changes.get("n_layer", N_LAYER), bias=changes.get("bias", True))
        extra, missing = sorted(set(found) - set(expected)), sorted(set(expected) - set(found))
        if [name for name in extra if found[name] in [(V, C), (C, V)]]:
            with hint("the head is not tied: it must reuse token_embedding.weight (logits = x @ weight.T), not "
                      "hold a (vocab_size, n_embd) matrix of its own"):
                raise AssertionError(f"extra parameters: {extra}")
        assert not extra and not missing, f"{changes or 'default config'}: missing {missing}, unexpected {extra}"
        wrong = {name: found[name] for name in expected if found[name] != expected[name]}
        assert not wrong, f"shapes differ from the documented ones: {wrong}"
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
    assert loss is None, "without targets, forward returns (logits, None)"
    # 2e-3: GELU's tanh form (accepted in step 07) moves these logits by up to ~1e-3; every mistake moves them by ~1.
    expect_close(logits, expected, name="the logits", atol=2e-3, rtol=1e-3)


@points(2, hint="the position embedding is not added: x = token_embedding(idx) + position_embedding(idx); without "
                "it, a repeated token gives the same logits at every position",
        builds_on={**PARTS, "step03 LearnedPositionalEmbedding": EARLIER["step03 LearnedPositionalEmbedding"]})
def test_positions_are_added(student, generator):
    model, _ = loaded_model(student, generator)
    logits, _ = model(torch.full((1, BLOCK), 3))  # one token, repeated: only the positions tell them apart
    spread = float((logits[0] - logits[0, :1]).detach().abs().max())
    assert spread > 1e-3, "the logits are the same at every position of a repeated token"


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
    logits, loss = model(idx, targets)
    assert loss is not None and tuple(loss.shape) == (), "with targets, forward returns (logits, a scalar loss)"
    with hint("the loss is F.cross_entropy of the logits flattened to (B * T, V) against the targets flattened to "
              "(B * T,) the same way, averaged (the default reduction): check the reshape and the reduction"):
        expect_close(loss, F.cross_entropy(logits.reshape(-1, vocab_size), targets.reshape(-1)),
                     name="the loss against cross-entropy of your logits")
    start = float(loss.detach())
    assert abs(start - math.log(vocab_size)) < 0.1, \
        f"the loss at initialisation is {start:.3f}, expected about ln({vocab_size}) = {math.log(vocab_size):.3f}"
    # Every matrix starts small (std 0.02; GPT-2's smaller std for the projections into the pathway is fine too).
    spread = initial_spread(student.probe(parameters_by_name, model))
    far = {name: round(std, 4) for name, (std, _) in spread.items() if not 0.005 <= std <= 0.03}
    assert not far, f"these weights do not start near N(0, 0.02) (their std): {far}"
    nonzero = [name for name, (_, bias_max) in spread.items() if bias_max > 0]
    assert not nonzero, f"these layers' biases do not start at zero: {nonzero}"


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
    reached = float(F.cross_entropy(logits.reshape(-1, V).double(), y.reshape(-1)))
    assert reached < 0.1, f"after 80 Adam steps on one batch the loss is {reached:.3f} (the first step's was " \
                          f"{losses[0]:.3f}); a correct GPT gets below 0.1"


@points(2, hint="backpropagation must give the true slope of the loss at every parameter: something between a "
                "parameter and the logits is cut from the graph (a .detach(), .data or torch.no_grad()), so training "
                "moves that parameter by only part of its gradient, or not at all",
        builds_on=EARLIER)
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
    with hint("no gradient reaches the position table: position_embedding(idx) is detached or computed outside "
              "autograd, so the positions would never be learned"):
        assert "position_embedding.weight" not in untouched, f"no gradient at {untouched}"
    with hint("no gradient reaches these parameters: each must require grad and be used as it is in forward "
              "(not weight.data or weight.detach())"):
        assert not untouched, f"no gradient at {untouched}"
    wrong = {}
    for name, d in directions.items():
        backward = float((observed["gradients"][name].double() * d).sum())
        plus, minus = observed["nudged"][name]
        measured = float(loss(plus) - loss(minus)) / (2 * NUDGE)
        if abs(backward - measured) > 1e-4 + 1e-3 * abs(measured):
            wrong[name] = (round(backward, 5), round(measured, 5))
    with hint("the gradient at the token table is only part of its slope: the table is used twice (the input "
              "lookup and the tied head), and one use is cut from the graph. The head must be "
              "x @ token_embedding.weight.T, not .weight.detach() or .weight.data; the lookup must not be detached"):
        assert set(wrong) != {"token_embedding.weight"}, f"backward vs measured slope: {wrong}"
    with hint("the gradient at the position table is wrong: position_embedding(idx) is detached or computed "
              "outside autograd, so the positions would never be learned"):
        assert "position_embedding.weight" not in wrong, f"backward vs measured slope: {wrong}"
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
        counted = student.gpt.gpt_parameter_count(cfg)
        assert isinstance(counted, int), f"gpt_parameter_count should return an int, got {type(counted).__name__}"
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
    expect_close(out[:, :3], prompt, name="the first 3 tokens (the prompt)")
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
        with hint("every draw is the same token: sample with torch.multinomial(probs, 1, generator=generator) "
                  "instead of taking the argmax"):
            assert float(frequencies.max()) < 1
        raise AssertionError(f"the sampled next tokens do not follow the softmax of the last position's logits: "
                             f"frequencies {[round(f, 3) for f in frequencies.tolist()]}, "
                             f"probabilities {[round(p, 3) for p in probs.tolist()]}")
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


@points(1, hint="pass config.dropout to the embedding dropout and to every Block; model.train() turns it on, "
                "model.eval() must turn it off",
        builds_on=PARTS)
def test_dropout_only_in_training(student, generator):
    model, _ = loaded_model(student, generator, dropout=0.5)
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
    assert float((first - second).abs().max()) > 1e-3, "with dropout=0.5 in train mode, two forward passes should differ"


def initial_spread(parameters: dict) -> dict:
    """For every weight matrix (Linear or table), from the parameters by name: (its std, the largest |bias|
    of its layer, 0 for a table)."""
    spread = {}
    for name, weight in parameters.items():
        if name.endswith("weight") and weight.dim() == 2:
            layer = name.removesuffix("weight")
            bias = parameters.get(f"{layer}bias")
            biggest_bias = 0.0 if bias is None else float(bias.abs().max())
            spread[layer.rstrip(".") or "model"] = (float(weight.std()), biggest_bias)
    return spread


# --- probes: trusted helpers that run next to your code ------------------------------

def dropout_rates(model):
    return [module.p for module in model.modules() if isinstance(module, torch.nn.Dropout)]


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
