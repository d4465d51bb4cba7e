"""Grading suite for step 07: the transformer block (``block.py``).

The norms are compared with PyTorch's own ``F.layer_norm`` and ``nn.RMSNorm``, which serve
only as oracles: your classes may not call them. The MLP and the block are compared with
the same computation done here from your module's own weights: the test loads random
weights into your block by the documented names (``ln_1``, ``attn.query``, ``mlp.fc``, ...)
and recomputes ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``, with trusted code
(the attention through ``F.scaled_dot_product_attention``, split into heads as in step 06).

Two tests grade the experiment of the step rather than a formula: a deep stack of your
blocks at initialisation must keep its input and pass the gradient back with residuals,
and lose both without; and the residual pathway itself must never be normalised.

Your block is built on your step 06 ``MultiHeadAttention``. When step 06 is unfinished or
wrong, the tests that use it say so and point you back there.

Your modules get copies of the test's tensors (``x.clone()``): one that writes into its input
is graded, and named, by a test of its own (and so is one that breaks backpropagation),
not by every test that reuses x.
"""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from grader import hint, points
from grader.checks import expect_close, expect_gradients
from grader.probes import (linear_shapes, load_parameters, named_parameter_shapes, parameter_shapes,
                           parameters_by_name, student_class, tensors_after_the_call, torch_functions_of)

B, T, C, N_HEAD, BLOCK = 2, 6, 12, 3, 8  # head_size 4, MLP width 48; T < BLOCK, so the mask must be cut
LONG = 16  # a block_size longer than C: the attention's mask follows block_size, not n_embd
SMALL = 3e-3  # inputs this small have a variance near eps: which eps the block's norms use shows
SAME_DTYPE = "a float32 input gives a float32 output: a float64 weight (dtype=torch.float64, torch.from_numpy) or " \
             "a .double() not converted back changes the dtype, and the next layer's float32 weights then refuse it"
EPS_HINT = "right on unit-scale inputs, wrong on small ones (variance near eps): the block's norms must keep their " \
           "default eps, LayerNorm(n_embd, bias=bias) (1e-5) or RMSNorm(n_embd) (1e-6)"
DEEP_C, DEEP_HEADS, DEEP_T, DEPTH = 32, 4, 16, 16  # the residual experiment
STEP06 = {"step06 MultiHeadAttention": "step06/test_multi_head.py::test_batched_matches_the_definition"}
PARTS = {"Block.__init__": "test_block_has_the_documented_parts"}
BLOCK_TEST = {"Block": "test_block_matches_the_pre_norm_definition"}


def close(actual, expected, atol=1e-5, rtol=1e-4) -> bool:
    actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
    return actual.shape == expected.shape and bool(torch.allclose(actual.double(), expected.double(), atol=atol,
                                                                  rtol=rtol))


# --- the trusted computations ------------------------------------------------------------------

def layer_norm_mistakes(x, eps):
    """Named wrong normalisations of x (no weight, no bias), for expect_close."""
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    mistakes = {
        "the variance divides by n - 1 (x.var's default, the unbiased estimate): LayerNorm divides by n, "
        "x.var(dim=-1, keepdim=True, unbiased=False)": (x - mean) / torch.sqrt(x.var(dim=-1, keepdim=True) + eps),
        "eps is added to the standard deviation: it belongs inside the square root, sqrt(var + eps)":
            (x - mean) / (torch.sqrt(var) + eps),
        "x is divided by the variance: divide by the standard deviation, sqrt(var + eps)": (x - mean) / (var + eps),
        "the mean is not subtracted: (x - mean) / sqrt(var + eps)": x / torch.sqrt(var + eps),
        "the variance is the mean of x ** 2: it is the mean of (x - mean) ** 2":
            (x - mean) / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + eps),
        "the statistics are taken over the whole tensor: take mean and var over the last dim only "
        "(dim=-1, keepdim=True)": (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + eps),
    }
    for dim in range(x.dim() - 1):
        mistakes[f"the statistics are taken over dim {dim}: each vector is normalised along the LAST dim "
                 "(dim=-1, keepdim=True), which is the same dim for every shape of input"] = \
            (x - x.mean(dim=dim, keepdim=True)) / torch.sqrt(x.var(dim=dim, keepdim=True, unbiased=False) + eps)
    if eps != 1e-5:
        mistakes[f"eps is fixed at 1e-5 where this LayerNorm was built with eps={eps}: use self.eps"] = \
            (x - mean) / torch.sqrt(var + 1e-5)
    return mistakes


def rms_norm_mistakes(x, weight, eps):
    mean_square = (x * x).mean(dim=-1, keepdim=True)
    centred = x - x.mean(dim=-1, keepdim=True)
    return {
        "the mean is subtracted: RMSNorm divides x itself by its root mean square, with no centring (centring is "
        "what LayerNorm does)": centred * torch.rsqrt((centred * centred).mean(dim=-1, keepdim=True) + eps) * weight,
        "the mean is subtracted from x: RMSNorm scales x as it is, x / sqrt(mean(x ** 2) + eps)":
            centred * torch.rsqrt(mean_square + eps) * weight,
        "the weight is not applied: multiply the normalised x by self.weight": x * torch.rsqrt(mean_square + eps),
        "eps is added to the root mean square: it belongs inside the square root, sqrt(mean(x ** 2) + eps)":
            x / (torch.sqrt(mean_square) + eps) * weight,
        "x is divided by its mean square: divide by the ROOT mean square": x / (mean_square + eps) * weight,
        "the squares are summed, not averaged: mean(x ** 2) over the last dim":
            x * torch.rsqrt((x * x).sum(dim=-1, keepdim=True) + eps) * weight,
        "x is divided by its standard deviation (x.var subtracts the mean inside): RMSNorm divides by the root "
        "of mean(x ** 2), the mean not subtracted anywhere":
            x * torch.rsqrt(x.var(dim=-1, keepdim=True, unbiased=False) + eps) * weight,
        **({f"eps is fixed at 1e-6 where this RMSNorm was built with eps={eps}: use self.eps":
            x * torch.rsqrt(mean_square + 1e-6) * weight} if eps != 1e-6 else {}),
    }


def activate(h, activation, approximate="none"):
    if activation == "gelu":
        return F.gelu(h, approximate=approximate)
    return F.relu(h) if activation == "relu" else h


def mlp_variant(x, w, activation="gelu", approximate="none", prefix="", where="between"):
    """proj(activation(fc(x))) from the weights ``w`` ("fc.weight", ...); ``where`` makes it a mistake."""
    fc = lambda h: F.linear(h, w[f"{prefix}fc.weight"], w.get(f"{prefix}fc.bias"))  # noqa: E731
    proj = lambda h: F.linear(h, w[f"{prefix}proj.weight"], w.get(f"{prefix}proj.bias"))  # noqa: E731
    act = lambda h: activate(h, activation, approximate)  # noqa: E731
    if where == "between":
        return proj(act(fc(x)))
    if where == "after":
        return act(proj(fc(x)))
    return act(proj(act(fc(x))))  # "both"


def mlp_mistakes(x, w, activation):
    other = "relu" if activation == "gelu" else "gelu"
    return {
        "there is no activation between fc and proj: without it the two Linear layers collapse into one linear map":
            mlp_variant(x, w, "none"),
        ("ReLU where GELU was asked: activation='gelu' means F.gelu" if activation == "gelu" else
         "GELU where ReLU was asked: activation='relu' means F.relu"): mlp_variant(x, w, other),
        "the activation comes after proj: it goes between fc and proj, proj(activation(fc(x)))":
            mlp_variant(x, w, activation, where="after"),
        "the activation is applied after proj as well: only between fc and proj; the MLP's output is not "
        "activated": mlp_variant(x, w, activation, where="both"),
    }


def attention(x, w, n_head, causal=True):
    """Causal multi-head attention from the weights "attn.query.weight", ...: head h owns columns h*hs:(h+1)*hs."""
    Bx, Tx, Cx = x.shape
    q, k, v = (F.linear(x, w[f"attn.{name}.weight"], w.get(f"attn.{name}.bias")).view(Bx, Tx, n_head, Cx // n_head)
               .transpose(1, 2) for name in ("query", "key", "value"))
    heads = F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # (B, nh, T, hs)
    return F.linear(heads.transpose(1, 2).reshape(Bx, Tx, Cx), w["attn.out_proj.weight"], w.get("attn.out_proj.bias"))


def normalise(x, w, name, norm):
    weight = w[f"{name}.weight"]
    if norm == "rmsnorm":
        return x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + 1e-6) * weight
    return F.layer_norm(x, (x.shape[-1],), weight, w.get(f"{name}.bias"), eps=1e-5)


def block_variant(x, w, kind="pre-norm", n_head=N_HEAD, norm="layernorm", activation="gelu", approximate="none"):
    """A block from its weights: ``kind`` "pre-norm" is right, the others are what a mistake computes."""
    ln_1 = lambda h: normalise(h, w, "ln_1", norm)  # noqa: E731
    ln_2 = lambda h: normalise(h, w, "ln_2", norm)  # noqa: E731
    attn = lambda h: attention(h, w, n_head, causal=kind != "not causal")  # noqa: E731
    mlp = lambda h: mlp_variant(h, w, activation, approximate, prefix="mlp.")  # noqa: E731
    if kind in ("pre-norm", "not causal"):
        h = x + attn(ln_1(x))
        return h + mlp(ln_2(h))
    if kind == "mlp reads the attention's output":
        attended = attn(ln_1(x))
        return x + attended + mlp(ln_2(attended))
    if kind == "no residuals, no norms":
        return mlp(attn(x))
    if kind == "no residuals":
        return mlp(ln_2(attn(ln_1(x))))
    if kind == "post-norm":
        h = ln_1(x + attn(x))
        return ln_2(h + mlp(h))
    if kind == "normalised pathway":
        h = ln_1(x)
        h = h + attn(h)
        h = ln_2(h)
        return h + mlp(h)
    if kind == "pathway normalised once":
        h = ln_1(x)
        h = h + attn(h)
        return h + mlp(ln_2(h))
    if kind == "no attention residual":
        h = attn(ln_1(x))
        return h + mlp(ln_2(h))
    if kind == "no mlp residual":
        return mlp(ln_2(x + attn(ln_1(x))))
    if kind == "ln_1 twice":
        h = x + attn(ln_1(x))
        return h + mlp(ln_1(h))
    if kind == "mlp first":
        h = x + mlp(ln_2(x))
        return h + attn(ln_1(h))
    if kind == "parallel":
        return x + attn(ln_1(x)) + mlp(ln_2(x))
    if kind == "no norms":
        h = x + attn(x)
        return h + mlp(h)
    raise ValueError(kind)


BLOCK_MISTAKES = {
    "post-norm": "the block is post-norm, ln(x + attn(x)): normalise the INPUT of each sub-layer and add its "
                 "output to x unnormalised, x + attn(ln_1(x)) (pre-norm)",
    "normalised pathway": "the norm is applied to the residual pathway itself (x = ln_1(x)): only the sub-layer's "
                          "input is normalised, x + attn(ln_1(x)) keeps x as it was",
    "pathway normalised once": "the norm is applied to the residual pathway itself (x = ln_1(x) before the "
                               "attention): only the sub-layer's input is normalised, x + attn(ln_1(x)) keeps x "
                               "as it was",
    "no attention residual": "the attention branch is not added to x: x = x + attn(ln_1(x)), a residual "
                             "connection, not x = attn(ln_1(x))",
    "no mlp residual": "the MLP branch is not added to x: x = x + mlp(ln_2(x)), a residual connection, "
                       "not x = mlp(ln_2(x))",
    "ln_1 twice": "ln_1 is used for both sub-layers: the MLP reads ln_2(x), a norm with weights of its own",
    "mlp first": "the MLP runs before the attention: attention first (gather from the past), then the MLP",
    "parallel": "both branches read the block's input: the MLP must read x AFTER the attention's output was added "
                "to it",
    "no norms": "the norms are not applied: attn reads ln_1(x) and mlp reads ln_2(x)",
    "not causal": "the attention sees the future: the block's MultiHeadAttention is causal (keep its mask on)",
    "mlp reads the attention's output": "the MLP reads the attention's output alone: it reads ln_2 of the updated "
                                        "pathway, x = x + attn(ln_1(x)) first, then x + mlp(ln_2(x))",
    "no residuals": "there is no residual connection at all: x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x))",
}


def expect_block(actual, x, w, name, kinds=BLOCK_MISTAKES, expected_kind="pre-norm", **options):
    """``actual`` must be the block of kind ``expected_kind`` (with the exact GELU, or its tanh approximation)."""
    if options.get("activation", "gelu") == "gelu" and \
            close(actual, block_variant(x, w, expected_kind, approximate="tanh", **options), atol=1e-4):
        return  # GELU's tanh approximation is a GELU too
    mistakes = {message: block_variant(x, w, kind, **options) for kind, message in kinds.items()
                if kind != expected_kind}
    if options.get("activation") == "relu":
        mistakes["with activation='relu' the block's MLP still uses GELU: pass activation on, MLP(n_embd, "
                 "activation, bias, dropout)"] = block_variant(x, w, expected_kind, **{**options, "activation": "gelu"})
    expect_close(actual, block_variant(x, w, expected_kind, **options), name=name, atol=1e-4, mistakes=mistakes)


def block_shapes(n_embd=C, bias=True, norm="layernorm") -> dict:
    """The parameters of Block(n_embd, ...), by ``state_dict`` name, as the stub documents them."""
    shapes = {}
    for ln in ("ln_1", "ln_2"):
        shapes[f"{ln}.weight"] = (n_embd,)
        if bias and norm == "layernorm":
            shapes[f"{ln}.bias"] = (n_embd,)
    layers = [(f"attn.{name}", n_embd, n_embd) for name in ("query", "key", "value", "out_proj")]
    layers += [("mlp.fc", 4 * n_embd, n_embd), ("mlp.proj", n_embd, 4 * n_embd)]
    for name, out_features, in_features in layers:
        shapes[f"{name}.weight"] = (out_features, in_features)
        if bias:
            shapes[f"{name}.bias"] = (out_features,)
    return shapes


def seeded_weights(shapes: dict, generator) -> dict:
    """Random weights large enough that every part matters: norm scales near 1 (but not 1), biases near 0
    (but not 0), matrices scaled by 1/sqrt(fan_in), so each branch adds O(1) to x."""
    weights = {}
    for name, shape in shapes.items():
        noise = torch.randn(shape, generator=generator)
        if len(shape) == 2:
            weights[name] = noise / math.sqrt(shape[1])
        elif name.endswith(".weight"):
            weights[name] = 1 + 0.3 * noise
        else:
            weights[name] = 0.3 * noise
    return weights


def loaded_block(student, generator, bias=True, norm="layernorm", block_size=BLOCK, **options):
    block = student.block.Block(C, N_HEAD, block_size, bias=bias, norm=norm, **options)
    weights = seeded_weights(block_shapes(bias=bias, norm=norm), generator)
    student.probe(load_parameters, block, weights)
    return block, weights


# --- LayerNorm ---------------------------------------------------------------------------------

LAYER_NORM_CASES = [
    # (input shape, eps (None: the default 1e-5), scale, shift) of x = scale * randn + shift
    ((5, 4), None, 2.0, 1.0),  # a last dim of 4: dividing by n - 1 instead of n changes the variance by a third
    ((2, 3, 8), 1e-5, 1.0, 0.0),
    ((2, 2, 3, 6), 1e-5, 3.0, -2.0),  # 4-D
    ((3, 16), 0.1, 0.3, 0.5),  # variance 0.09, comparable to eps: where eps goes shows
    ((2, 4, 10), 1.0, 0.5, 0.0),
]


@points(3, hint="(x - mean) / sqrt(var + eps) with mean and var over the last dim (dim=-1, keepdim=True) and "
                "the biased variance (divide by n: unbiased=False), then * weight + bias")
def test_layernorm_matches_torch(student, generator):
    for shape, eps, scale, shift in LAYER_NORM_CASES:
        x = scale * torch.randn(*shape, generator=generator) + shift
        norm = student.block.LayerNorm(shape[-1]) if eps is None else student.block.LayerNorm(shape[-1], eps=eps)
        eps = 1e-5 if eps is None else eps
        out = norm(x.clone())
        expect_close(out, F.layer_norm(x, (shape[-1],), eps=eps), name=f"LayerNorm of a {shape} input, eps={eps}",
                     mistakes={**layer_norm_mistakes(x, eps), **initial_parameter_mistake(student, norm, x, eps)})
        with hint(SAME_DTYPE):
            assert out.dtype == x.dtype, f"LayerNorm of a {x.dtype} input returned {out.dtype}"


@points(2, hint="weight starts at ones and bias at zeros, both nn.Parameter of shape (ndim,), and both are "
                "used: the output is normalised * weight + bias; with bias=False, self.bias is None",
        builds_on={"LayerNorm.forward": "test_layernorm_matches_torch"})
def test_layernorm_scale_and_shift(student, generator):
    x = 2 * torch.randn(B, T, C, generator=generator) + 1
    for bias in (True, False):
        norm = student.block.LayerNorm(C, bias=bias)
        parameters = student.probe(norm_parameters, norm)
        with hint("the learned scale `weight` starts at ones and the shift `bias` at zeros (nn.Parameter, shape "
                  "(ndim,)); with bias=False the only parameter is the weight and self.bias is None"):
            assert parameters["shapes"] == [(C,)] * (2 if bias else 1), \
                f"bias={bias}: expected parameter shapes {[(C,)] * (2 if bias else 1)}, got {parameters['shapes']}"
            expect_close(parameters["weight"], torch.ones(C), name="the initial weight")
            if bias:
                expect_close(parameters["bias"], torch.zeros(C), name="the initial bias")
            else:
                assert parameters["bias"] is None, \
                    f"with bias=False, self.bias should be None, got {parameters['bias']}"
        weight = 1 + 0.5 * torch.randn(C, generator=generator)
        shift = 0.5 * torch.randn(C, generator=generator) if bias else None
        student.probe(set_norm_parameters, norm, weight, shift)
        normalised = F.layer_norm(x, (C,), eps=1e-5)
        mistakes = {"the weight is not applied: multiply the normalised x by self.weight": normalised + (
            shift if bias else 0)}
        if bias:
            mistakes.update({
                "the bias is not added: the output is normalised * weight + bias": normalised * weight,
                "the bias is added before the scale: (normalised + bias) * weight, it must be normalised * weight "
                "+ bias": (normalised + shift) * weight,
                "neither weight nor bias is applied: * self.weight + self.bias after normalising": normalised,
            })
        expect_close(norm(x.clone()), F.layer_norm(x, (C,), weight, shift, eps=1e-5),
                     name=f"LayerNorm with a random weight{' and bias' if bias else ' (bias=False)'}",
                     mistakes=mistakes)


def initial_parameter_mistake(student, norm, x, eps) -> dict:
    """The output of a right formula with a new LayerNorm's wrong initial weight or bias, as a named mistake."""
    found = student.probe(parameters_by_name, norm)
    weight, bias = found.get("weight"), found.get("bias")
    if weight is None or weight.shape != x.shape[-1:] or (bias is not None and bias.shape != x.shape[-1:]):
        return {}
    if torch.equal(weight, torch.ones_like(weight)) and (bias is None or torch.equal(bias, torch.zeros_like(bias))):
        return {}
    return {"the formula is right but a new LayerNorm must start as the identity map: weight = ones, bias = zeros "
            "(torch.ones(ndim), torch.zeros(ndim))": F.layer_norm(x, x.shape[-1:], weight, bias, eps=eps)}


# --- RMSNorm ------------------------------------------------------------------------------------

RMS_NORM_CASES = [((5, 4), None, 2.0, 1.0), ((2, 3, 8), 0.1, 0.3, 0.2), ((2, 2, 3, 6), 1e-6, 1.0, -0.5)]


@points(2, hint="x / sqrt(mean(x ** 2) + eps) * weight, the mean over the last dim; no mean subtracted and no "
                "bias; weight starts at ones")
def test_rmsnorm_matches_torch(student, generator):
    for shape, eps, scale, shift in RMS_NORM_CASES:
        ndim = shape[-1]
        norm = student.block.RMSNorm(ndim) if eps is None else student.block.RMSNorm(ndim, eps=eps)
        eps = 1e-6 if eps is None else eps
        parameters = student.probe(norm_parameters, norm)
        with hint("RMSNorm has one parameter, `weight` of shape (ndim,), starting at ones, and no bias"):
            assert parameters["shapes"] == [(ndim,)], \
                f"expected parameter shapes [({ndim},)], got {parameters['shapes']}"
            expect_close(parameters["weight"], torch.ones(ndim), name="the initial weight")
        weight = 1 + 0.5 * torch.randn(ndim, generator=generator)
        student.probe(set_norm_parameters, norm, weight, None)
        reference = nn.RMSNorm(ndim, eps=eps)
        with torch.no_grad():
            reference.weight.copy_(weight)
            x = scale * torch.randn(*shape, generator=generator) + shift
            expected = reference(x)
        out = norm(x.clone())
        expect_close(out, expected, name=f"RMSNorm of a {shape} input, eps={eps}",
                     mistakes=rms_norm_mistakes(x, weight, eps))
        with hint(SAME_DTYPE):
            assert out.dtype == x.dtype, f"RMSNorm of a {x.dtype} input returned {out.dtype}"


@points(1, hint="write the norms yourself from mean, var (or x * x) and sqrt: no F.layer_norm, nn.LayerNorm, "
                "F.rms_norm, nn.RMSNorm or another normalisation layer (F.group_norm, F.instance_norm, "
                "F.batch_norm) inside them; keep the stub's check of x's last dim",
        builds_on={"LayerNorm": "test_layernorm_matches_torch", "RMSNorm": "test_rmsnorm_matches_torch"})
def test_norms_are_written_by_hand(student, generator):
    x = torch.randn(B, T, C, generator=generator)
    for name in ("LayerNorm", "RMSNorm"):
        norm = getattr(student.block, name)(C)
        observed = student.probe(torch_functions_of, norm, x)
        expected = (F.layer_norm(x, (C,), eps=1e-5) if name == "LayerNorm" else
                    x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + 1e-6))  # a new norm: weight 1, bias 0
        expect_close(observed["output"], expected, name=f"the output of a new {name}")
        used = [function for function in observed["functions"] if any(
            layer in function for layer in ("layer_norm", "rms_norm", "group_norm", "instance_norm", "batch_norm"))]
        assert not used, f"your {name} calls {used}"
        with hint(f"{name}(ndim) must refuse an input whose last dim is not ndim with a ValueError (the stub's check "
                  "does it: keep it), rather than broadcast or fail somewhere inside"):
            with pytest.raises(ValueError):
                norm(torch.randn(B, T, C + 1, generator=generator))


# --- the MLP ------------------------------------------------------------------------------------

@points(2, hint="the MLP widens to 4 * n_embd and comes back: fc = nn.Linear(n_embd, 4 * n_embd, bias=bias), "
                "proj = nn.Linear(4 * n_embd, n_embd, bias=bias)")
def test_mlp_widens_to_four_times_n_embd(student):
    for n_embd, bias in ((C, True), (C, False), (20, True)):  # 20: the width follows n_embd, it is no fixed 48
        mlp = student.block.MLP(n_embd, bias=bias)
        found = student.probe(linear_shapes, mlp, ("fc", "proj"))
        expected = {"fc": ((4 * n_embd, n_embd), (4 * n_embd,) if bias else None),
                    "proj": ((n_embd, 4 * n_embd), (n_embd,) if bias else None)}
        if found.get("fc", ((None,),))[0][0] == n_embd:
            with hint("the MLP does not widen: fc maps n_embd to 4 * n_embd (the 4x expansion) and proj maps "
                      "4 * n_embd back to n_embd"):
                raise AssertionError(f"fc and proj (weight, bias) shapes: {found}")
        assert found == expected, f"MLP({n_embd}, bias={bias}): expected (weight, bias) shapes {expected}, got {found}"
        with hint("fc and proj are the MLP's only parameters"):
            assert len(student.probe(parameter_shapes, mlp)) == (4 if bias else 2)


@points(3, hint="proj(activation(fc(x))): activation 'gelu' is F.gelu, 'relu' is F.relu, applied between the "
                "two Linear layers, for any number of leading dims",
        builds_on={"MLP.__init__": "test_mlp_widens_to_four_times_n_embd"})
def test_mlp_matches_its_definition(student, generator):
    for activation, bias in [("gelu", True), ("relu", True), ("gelu", False)]:
        mlp = student.block.MLP(C, activation, bias)
        w = student.probe(parameters_by_name, mlp)
        for x in (2 * torch.randn(B, T, C, generator=generator), 2 * torch.randn(5, C, generator=generator)):
            out = mlp(x.clone())
            if activation == "gelu" and close(out, mlp_variant(x, w, approximate="tanh")):
                continue  # GELU's tanh approximation is a GELU too
            expect_close(out, mlp_variant(x, w, activation), name=f"MLP output for a {tuple(x.shape)} input, "
                         f"activation={activation!r}, bias={bias}", mistakes=mlp_mistakes(x, w, activation))
    with hint("the default activation is 'gelu'"):
        mlp = student.block.MLP(C)
        x = torch.randn(B, T, C, generator=generator)
        w = student.probe(parameters_by_name, mlp)
        out = mlp(x.clone())
        assert close(out, mlp_variant(x, w)) or close(out, mlp_variant(x, w, approximate="tanh")), \
            "MLP(n_embd) does not compute proj(gelu(fc(x)))"
    with hint("an unknown activation must raise a ValueError (the stub's check does it: keep it)"):
        with pytest.raises(ValueError):
            student.block.MLP(C, "swish")


@points(1, hint="finish the MLP with nn.Dropout(dropout) on proj's output: in train mode it zeroes outputs at "
                "random and scales the rest by 1 / (1 - p); in eval mode (and with dropout=0) it does nothing",
        builds_on={"MLP.forward": "test_mlp_matches_its_definition"})
def test_mlp_dropout_on_its_output(student, generator):
    x = torch.randn(B, T, C, generator=generator)
    still = student.block.MLP(C, dropout=0.0)
    expect_close(still(x.clone()), still(x.clone()), name="two forward passes with dropout=0 in train mode")
    mlp = student.block.MLP(C, dropout=0.5)
    first, second = mlp(x.clone()), mlp(x.clone())  # a new module is in train mode
    mlp.eval()
    evaluated = mlp(x.clone())
    expect_close(mlp(x.clone()), evaluated, name="two forward passes in eval mode")
    assert not close(first, second), "with dropout=0.5 in train mode, two forward passes should differ: is there " \
                                     "a dropout, and is it an nn.Dropout that model.train() switches on?"
    dropped = first.abs() < 1e-7
    assert 0.2 < float(dropped.double().mean()) < 0.8, \
        f"with dropout=0.5, about half of the outputs should be exactly 0, got {int(dropped.sum())} of " \
        f"{dropped.numel()}: the dropout acts on proj's output, after the last Linear"
    expect_close(first[~dropped], 2 * evaluated[~dropped], name="the outputs that survived dropout=0.5",
                 mistakes={"the kept outputs are not scaled by 1 / (1 - p): use nn.Dropout, which does it":
                           evaluated[~dropped]})


# --- the block ---------------------------------------------------------------------------------

@points(1, hint="build the four documented parts under their names: ln_1 and ln_2 (your LayerNorm, or RMSNorm "
                "when norm='rmsnorm'), attn (your step 06 MultiHeadAttention) and mlp (your MLP); step 08 loads "
                "weights by these names")
def test_block_has_the_documented_parts(student):
    for bias, norm in [(True, "layernorm"), (False, "layernorm"), (True, "rmsnorm")]:
        block = student.block.Block(C, N_HEAD, BLOCK, bias=bias, norm=norm)
        kind = "LayerNorm" if norm == "layernorm" else "RMSNorm"
        parts = student.probe(part_classes, block)
        expected = {"ln_1": f"step07 {kind}", "attn": "step06 MultiHeadAttention", "ln_2": f"step07 {kind}",
                    "mlp": "step07 MLP"}
        if parts.get("ln_2") == "ln_1 itself":
            with hint("ln_2 is the same module as ln_1: build two norms, each with a weight of its own"):
                raise AssertionError(f"block.ln_2 is block.ln_1 (norm={norm!r})")
        assert parts == expected, f"with norm={norm!r}, the parts should be {expected}, got {parts}"
        found = student.probe(named_parameter_shapes, block)
        wanted = block_shapes(bias=bias, norm=norm)
        unexpected = set(found) - set(wanted)
        if not bias and unexpected and all(name.endswith(".bias") for name in unexpected):
            with hint("with bias=False no part has a bias: pass bias on to LayerNorm(n_embd, bias=bias), "
                      "MultiHeadAttention(..., bias=bias) and MLP(n_embd, activation, bias, dropout)"):
                raise AssertionError(f"bias=False, yet these biases exist: {sorted(unexpected)}")
        assert found == wanted, f"bias={bias}, norm={norm!r}: missing {sorted(set(wanted) - set(found))}, " \
                                f"unexpected {sorted(set(found) - set(wanted))}, shapes " \
                                f"{ {k: found[k] for k in found if k in wanted and found[k] != wanted[k]} }"
    with hint("an unknown norm must raise a ValueError (the stub's check does it: keep it)"):
        with pytest.raises(ValueError):
            student.block.Block(C, N_HEAD, BLOCK, norm="batchnorm")


@points(4, hint="pre-norm: x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x)); the norms see the input of each "
                "sub-layer, the residual pathway x is never normalised",
        builds_on={**STEP06, **PARTS, "LayerNorm": "test_layernorm_matches_torch",
                   "LayerNorm's weight and bias": "test_layernorm_scale_and_shift",
                   "MLP": "test_mlp_matches_its_definition"})
def test_block_matches_the_pre_norm_definition(student, generator):
    for activation, bias in [("gelu", True), ("relu", False)]:
        block, w = loaded_block(student, generator, bias=bias, activation=activation)
        x = torch.randn(B, T, C, generator=generator)
        expect_block(block(x.clone()), x, w, f"the block's output (activation={activation!r}, bias={bias})",
                     activation=activation)
    block, w = loaded_block(student, generator, block_size=LONG)
    x = torch.randn(1, LONG, C, generator=generator)
    with hint(f"Block(n_embd={C}, n_head, block_size={LONG}) fails on {LONG} tokens: the attention's context is "
              "the block's block_size argument, MultiHeadAttention(n_embd, n_head, block_size, bias=bias)"):
        out = block(x.clone())
    expect_block(out, x, w, f"the block's output for T = block_size = {LONG} (more than n_embd = {C})")
    with hint(f"Block(n_embd, n_head, block_size={LONG}) accepted {LONG + 1} tokens: hand the block's own block_size "
              "to MultiHeadAttention (not a fixed or larger one), whose check then refuses longer inputs"):
        with pytest.raises(ValueError):
            block(torch.randn(1, LONG + 1, C, generator=generator))
    block, w = loaded_block(student, generator)
    x = SMALL * torch.randn(B, T, C, generator=generator)
    with hint(EPS_HINT):
        expect_block(block(x.clone()), x, w, f"the block's output for inputs of scale {SMALL}")


@points(1, hint="norm='rmsnorm' builds ln_1 and ln_2 as your RMSNorm(n_embd) (default eps), and the block is "
                "otherwise the same pre-norm block",
        builds_on={"RMSNorm": "test_rmsnorm_matches_torch", **BLOCK_TEST})
def test_block_with_rmsnorm(student, generator):
    block = student.block.Block(C, N_HEAD, BLOCK, norm="rmsnorm")
    parts = student.probe(part_classes, block)
    with hint("norm='rmsnorm' must build ln_1 and ln_2 from your RMSNorm, not LayerNorm"):
        assert parts.get("ln_1") == parts.get("ln_2") == "step07 RMSNorm", parts
    block, w = loaded_block(student, generator, norm="rmsnorm")
    x = torch.randn(B, T, C, generator=generator)
    expect_block(block(x.clone()), x, w, "the output with norm='rmsnorm'", norm="rmsnorm")
    x = SMALL * torch.randn(B, T, C, generator=generator)
    with hint(EPS_HINT):
        expect_block(block(x.clone()), x, w, f"the output with norm='rmsnorm' for inputs of scale {SMALL}",
                     norm="rmsnorm")


@points(1, hint="residual=False is the experiment's switch: x = attn(ln_1(x)), then x = mlp(ln_2(x)), both "
                "`x +` gone (and only those)",
        builds_on=BLOCK_TEST)
def test_block_without_residuals(student, generator):
    block, w = loaded_block(student, generator, residual=False)
    x = torch.randn(B, T, C, generator=generator)
    expect_block(block(x.clone()), x, w, "the output with residual=False", expected_kind="no residuals", kinds={
        "pre-norm": "residual=False still adds x: drop both `x +` when self.residual is False",
        "no attention residual": "residual=False only drops the attention's `x +`: the MLP's goes too",
        "no mlp residual": "residual=False only drops the MLP's `x +`: the attention's goes too",
        "no norms": "with residual=False the norms stay: x = attn(ln_1(x)), then mlp(ln_2(x))",
        "no residuals, no norms": "with residual=False the norms stay: x = attn(ln_1(x)), then mlp(ln_2(x))",
    })


@points(2, hint="dropout acts once on each branch before it is added to x: the block's self.dropout on the "
                "attention's output, x + dropout(attn(ln_1(x))), and the MLP's own (MLP(..., dropout)) on its "
                "output; eval() switches both off",
        builds_on=BLOCK_TEST)
def test_block_dropout_on_both_branches(student, generator):
    block = student.block.Block(C, N_HEAD, BLOCK, dropout=0.5)
    weights = seeded_weights(block_shapes(), generator)
    weights["mlp.proj.weight"].zero_()  # the MLP adds exactly 0: what changes x is the attention branch alone
    weights["mlp.proj.bias"].zero_()
    student.probe(load_parameters, block, weights)
    x = torch.randn(B, T, C, generator=generator)
    branch = attention(normalise(x, weights, "ln_1", "layernorm"), weights, N_HEAD)
    added = block(x.clone()) - x  # train mode: dropout(attn(ln_1(x)))
    dropped = added.abs() < 1e-6
    assert 0.2 < float(dropped.double().mean()) < 0.8, \
        f"with dropout=0.5 in train mode about half of the attention branch should be zeroed, got " \
        f"{int(dropped.sum())} of {dropped.numel()}: apply self.dropout to attn(ln_1(x)) before adding it to x"
    expect_close(added[~dropped], 2 * branch[~dropped], name="what the attention branch added, where it was kept",
                 atol=1e-4)
    block.eval()
    expect_close(block(x.clone()) - x, branch, name="what the attention branch added in eval mode", atol=1e-4)

    # The other branch: the attention adds exactly 0, so what changes x is the MLP's output alone.
    block = student.block.Block(C, N_HEAD, BLOCK, dropout=0.5)
    weights = seeded_weights(block_shapes(), generator)
    weights["attn.out_proj.weight"].zero_()
    weights["attn.out_proj.bias"].zero_()
    student.probe(load_parameters, block, weights)
    added = block(x.clone()) - x  # train mode: the MLP's dropout(proj(...))
    block.eval()
    branch = block(x.clone()) - x  # eval mode: the MLP branch as it is
    dropped = added.abs() < 1e-6
    with hint("the MLP branch is never dropped out: pass dropout on to the MLP, MLP(n_embd, activation, bias, "
              "dropout)"):
        assert float(dropped.double().mean()) > 0.2, \
            f"with dropout=0.5 in train mode about half of the MLP branch should be zeroed, got " \
            f"{int(dropped.sum())} of {dropped.numel()}"
    expect_close(added[~dropped], 2 * branch[~dropped], name="what the MLP branch added, where it was kept",
                 atol=1e-4, mistakes={"the MLP's output goes through dropout twice (the MLP's own and the block's): "
                                      "the block's self.dropout is for the attention's output only":
                                      4 * branch[~dropped]})


@points(1, hint="position t of the block's output must not depend on positions after t: the attention must be "
                "causal (MultiHeadAttention with its mask), and nothing else may mix positions",
        builds_on={**STEP06, **PARTS})
def test_no_information_flows_from_the_future(student, generator):
    block, _ = loaded_block(student, generator)
    x = torch.randn(1, BLOCK, C, generator=generator)
    out = block(x.clone())
    for t in (0, 3, BLOCK - 2):
        changed = x.clone()
        changed[:, t + 1:] = torch.randn(1, BLOCK - t - 1, C, generator=generator)
        expect_close(block(changed)[:, : t + 1], out[:, : t + 1],
                     name=f"the outputs at 0..{t} after changing positions {t + 1}..{BLOCK - 1}", atol=1e-5)


# --- backward, and the caller's tensor ---------------------------------------------------------

def layer_norm_definition(x, w):
    return F.layer_norm(x, x.shape[-1:], w["weight"], w.get("bias"), eps=1e-5)


def rms_norm_definition(x, w):
    return x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + 1e-6) * w["weight"]


@points(2, hint="backpropagation must run through your norms, MLP and block exactly as through the formulas: "
                "every weight an nn.Parameter that gets its gradient, nothing detached, no torch.no_grad() in forward",
        builds_on={"LayerNorm": "test_layernorm_matches_torch", "RMSNorm": "test_rmsnorm_matches_torch",
                   "MLP": "test_mlp_matches_its_definition", **BLOCK_TEST})
def test_gradients_flow_through_your_code(student, generator):
    x = 2 * torch.randn(B, T, C, generator=generator) + 0.5
    weights = {"weight": 1 + 0.3 * torch.randn(C, generator=generator),
               "bias": 0.3 * torch.randn(C, generator=generator)}
    upstream = torch.randn(x.shape, generator=generator)  # d(loss)/d(output): any fixed direction will do
    expect_gradients(student, student.block.LayerNorm(C), weights, [layer_norm_definition], x, upstream,
                     name="LayerNorm")
    expect_gradients(student, student.block.RMSNorm(C), {"weight": weights["weight"]}, [rms_norm_definition], x,
                     upstream, name="RMSNorm")
    mlp_weights = seeded_weights({"fc.weight": (4 * C, C), "fc.bias": (4 * C,), "proj.weight": (C, 4 * C),
                                  "proj.bias": (C,)}, generator)
    expect_gradients(student, student.block.MLP(C), mlp_weights,
                     [lambda h, w: mlp_variant(h, w), lambda h, w: mlp_variant(h, w, approximate="tanh")], x,
                     upstream, name="MLP")
    block_weights = seeded_weights(block_shapes(), generator)
    expect_gradients(student, student.block.Block(C, N_HEAD, BLOCK), block_weights,
                     [lambda h, w: block_variant(h, w), lambda h, w: block_variant(h, w, approximate="tanh")], x,
                     upstream, name="Block")


@points(1, hint="a module must not write into the tensor it is given: the caller still holds x (a block's caller "
                "adds to it, the next block reads it). Compute new tensors, x = x - mean and x = x + attn(...), "
                "not x -= mean, x += ... or x.mul_(...)")
def test_your_modules_leave_their_input_unchanged(student, generator):
    for name, module in [("LayerNorm", student.block.LayerNorm(C)), ("RMSNorm", student.block.RMSNorm(C)),
                         ("MLP", student.block.MLP(C)), ("Block", student.block.Block(C, N_HEAD, BLOCK))]:
        x = torch.randn(B, T, C, generator=generator)
        before = x.clone()  # in-process the probe is handed x itself
        (after,) = student.probe(tensors_after_the_call, module, x)
        with hint(f"your {name} writes into its input x (an in-place x -= ..., x += ..., x.mul_(...)): compute a new "
                  "tensor instead"):
            expect_close(after, before, name=f"x after {name}(x)", atol=0)


# --- the residual experiment -------------------------------------------------------------------

@points(3, hint="at initialisation, a deep stack of pre-norm blocks WITH residuals stays close to the identity "
                "(its output still points along its input) and passes the gradient back to the first block; "
                "without them (residual=False) both are lost",
        builds_on={**PARTS, **BLOCK_TEST})
def test_residuals_carry_the_signal_and_the_gradient_through_a_deep_stack(student, generator, seed):
    x = torch.randn(2, DEEP_T, DEEP_C, generator=generator)
    target = torch.randn(2, DEEP_T, DEEP_C, generator=generator)
    kept = stack_measures(student.probe(deep_stack, student.block.Block, seed, True, x), x, target, residual=True)
    lost = stack_measures(student.probe(deep_stack, student.block.Block, seed, False, x), x, target, residual=False)
    summary = f"{DEPTH} blocks: cosine(output, input) {kept['cosine']:.3f} with residuals, " \
              f"{lost['cosine']:.3f} without; gradient norm at blocks[0].attn.query.weight " \
              f"{kept['gradient']:.3g} with, {lost['gradient']:.3g} without"
    with hint("residual=False must drop the `x +` of both sub-layers: the stack without residuals still keeps its "
              "input, so the switch changes nothing"):
        assert abs(lost["cosine"]) < 0.3, summary
    with hint("with residuals, each block must ADD its corrections to x (x = x + attn(ln_1(x)), x = x + "
              "mlp(ln_2(x))): the output of the stack has lost its input"):
        assert kept["cosine"] > 0.35, summary
    with hint("the gradient at the first block is not much larger with residuals than without: the `x +` is the "
              "path the gradient takes back through the stack, and residual=False must remove it"):
        assert kept["gradient"] > 100 * lost["gradient"], summary


@points(2, hint="the residual pathway is never normalised: block(100 * x) must be 100 * x plus corrections of "
                "size about 1. A post-norm block, ln(x + attn(x)), or one that replaces x by ln_1(x), squashes "
                "it to unit scale (and so does a block that drops an `x +`)",
        builds_on=BLOCK_TEST)
def test_the_residual_pathway_is_not_normalised(student, generator, seed):
    student.probe(seed_torch, seed)
    block = student.block.Block(C, N_HEAD, BLOCK)  # at initialisation
    x = 100 * torch.randn(B, T, C, generator=generator)
    out = block(x.clone()).detach()
    relative = float((out - x).norm() / x.norm())
    scale = float(out.std())
    assert relative < 0.1, f"block(100 * x) differs from 100 * x by {100 * relative:.0f}% of its size (the output's " \
                           f"standard deviation is {scale:.3g}, the input's {float(x.std()):.3g})"


# --- probes: trusted helpers that run next to your code ------------------------------

def seed_torch(seed):
    torch.manual_seed(seed)


def norm_parameters(norm):
    bias = getattr(norm, "bias", None)
    return {"shapes": [tuple(p.shape) for p in norm.parameters()], "weight": norm.weight.detach().clone(),
            "bias": None if bias is None else bias.detach().clone()}


@torch.no_grad()
def set_norm_parameters(norm, weight, bias):
    norm.weight.copy_(weight)
    if bias is not None:
        norm.bias.copy_(bias)


def part_classes(block):
    """The class of each documented part, as "stepNN ClassName" for your classes (None if missing)."""
    found = {}
    for name, step, module, classes in [("ln_1", "step07", "block", ("LayerNorm", "RMSNorm")),
                                        ("attn", "step06", "multi_head", ("MultiHeadAttention",)),
                                        ("ln_2", "step07", "block", ("LayerNorm", "RMSNorm")),
                                        ("mlp", "step07", "block", ("MLP",))]:
        part = getattr(block, name, None)
        found[name] = None if part is None else type(part).__name__
        if name == "ln_2" and part is not None and part is getattr(block, "ln_1", None):
            found[name] = "ln_1 itself"
            continue
        for cls in classes:
            if part is not None and isinstance(part, student_class(block, step, module, cls)):
                found[name] = f"{step} {cls}"
    return found


@torch.no_grad()
def deep_stack(Block, seed, residual, x):
    """A stack of DEPTH fresh blocks (seeded) run on x: each block's initial parameters, and the output."""
    torch.manual_seed(seed)
    blocks = [Block(x.shape[-1], DEEP_HEADS, x.shape[1], residual=residual) for _ in range(DEPTH)]
    h = x.clone()  # in-process the probe is handed x itself
    for block in blocks:
        h = block(h)
    return {"parameters": [{name: p.detach().clone() for name, p in block.named_parameters()} for block in blocks],
            "output": h}


# --- computed here, in the grading process, from what the probe returned ------------------------

def stack_measures(run: dict, x, target, residual: bool) -> dict:
    """Rebuild the stack from its blocks' initial parameters, check it gives the output your stack gave,
    and measure it: cosine(output, x), and the gradient norm at the first block's query weight for the
    mean squared error to ``target``."""
    right, wrong = ("pre-norm", "no residuals") if residual else ("no residuals", "pre-norm")
    first = run["parameters"][0]["attn.query.weight"].clone().requires_grad_()

    def stack(kind):
        h = x
        for i, weights in enumerate(run["parameters"]):
            h = block_variant(h, {**weights, "attn.query.weight": first} if i == 0 else weights, kind,
                              n_head=DEEP_HEADS)
        return h

    h = stack(right)
    mistake = ("residual=False still adds x: with residual=False the block is mlp(ln_2(attn(ln_1(x)))), no `x +`"
               if not residual else BLOCK_MISTAKES["no residuals"])
    expect_close(run["output"], h.detach(), name=f"the output of {DEPTH} blocks with residual={residual}",
                 atol=1e-3, rtol=1e-3, mistakes={mistake: stack(wrong).detach()})
    (gradient,) = torch.autograd.grad(F.mse_loss(h, target), first)
    return {"cosine": float(F.cosine_similarity(h.detach().flatten(), x.flatten(), dim=0)),
            "gradient": float(gradient.norm())}
