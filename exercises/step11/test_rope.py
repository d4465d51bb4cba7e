"""Grading suite for step 11a: rotary position embeddings (``rope.py``).

The angles and the rotation are compared with RoPE written here the way the paper writes
it: each pair of numbers is a complex number, and turning it by an angle is multiplying it
by e^(i * angle). The rotation is checked with cosines and sines made here, so a mistake
in ``rope_angles`` costs the points of ``rope_angles`` only. The last tests check what
RoPE is for, with your two functions together: a query and a key get the same score
wherever they sit, as long as the distance between them is the same.
"""

import torch

from grader import hint, points
from grader.checks import expect_close
from grader.probes import tensors_after_the_call

HS = 8  # head_size: four pairs, so that every frequency shows
T = 6


def angles_by_definition(positions: torch.Tensor, head_size: int, base: float = 10000.0,
                         exponent: str = "2i/d") -> torch.Tensor:
    """(T, head_size // 2) float64: the angle of pair i at each position, m * base ** (-2i / head_size).

    ``exponent`` names a known mistake instead: "i/d" (base ** (-i / head_size)), "+2i/d" (no minus sign)
    or "4i/d" (the 2 twice: i running over 0, 2, 4, ... and doubled again).
    """
    i = torch.arange(head_size // 2, dtype=torch.float64)
    power = {"2i/d": -2 * i / head_size, "i/d": -i / head_size, "+2i/d": 2 * i / head_size,
             "4i/d": -4 * i / head_size}[exponent]
    return positions.double()[:, None] * base ** power


def rotate_by_definition(x: torch.Tensor, angles: torch.Tensor, layout: str = "pairs") -> torch.Tensor:
    """x (..., T, hs) turned pair by pair as complex numbers; float64.

    ``layout="halves"`` pairs number i with number i + hs/2 instead (the GPT-NeoX convention, not this step's).
    """
    x = x.double()
    hs = x.shape[-1]
    if layout == "pairs":
        z = torch.view_as_complex(x.reshape(*x.shape[:-1], hs // 2, 2).contiguous())
    else:
        z = torch.complex(x[..., : hs // 2], x[..., hs // 2:])
    turned = z * torch.polar(torch.ones_like(angles), angles)  # multiply by e^(i * angle)
    if layout == "pairs":
        return torch.view_as_real(turned).flatten(-2)
    return torch.cat((turned.real, turned.imag), dim=-1)


def rotation_mistakes(x: torch.Tensor, angles: torch.Tensor) -> dict:
    return {
        "the pairs are (i, i + head_size/2), the GPT-NeoX / Hugging Face layout: this step pairs neighbours, "
        "(x[..., 2i], x[..., 2i + 1]), as the paper does": rotate_by_definition(x, angles, layout="halves"),
        "the pairs turn the wrong way: (a, b) becomes (a*cos - b*sin, a*sin + b*cos); the minus sign belongs to "
        "the first number": rotate_by_definition(x, -angles),
        "the pairs are (i, i + head_size/2), the GPT-NeoX layout, put back as neighbours: this step pairs "
        "neighbours throughout, a, b = x[..., 0::2], x[..., 1::2]": halves_read_as_pairs(x, angles),
        "x comes back unturned: every pair must be rotated by its position's angle": x.double(),
        "only the first number of each pair changes: both new numbers are computed from the OLD a and b (keep "
        "the originals, or compute both before writing either)": rotate_first_only(x, angles),
        "the turned pairs are read as neighbours but put back as two halves (torch.cat((new_a, new_b), -1)): "
        "put each pair back in its place, torch.stack((new_a, new_b), dim=-1).flatten(-2)":
            neighbours_put_back_as_halves(x, angles),
        "the second number has a minus: (a, b) becomes (a*cos - b*sin, a*sin + b*cos), a plus in the second":
            second_number_sign_slip(x, angles),
        "a and b are swapped: a is the first number of each pair, x[..., 0::2] (the even indices), and b the "
        "second, x[..., 1::2]": odd_and_even_swapped(x, angles),
    }


def odd_and_even_swapped(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """The mistake a, b = x[..., 1::2], x[..., 0::2], the turned pair then put back as (new a, new b)."""
    a, b = x.double()[..., 1::2], x.double()[..., 0::2]
    c, s = angles.cos(), angles.sin()
    return torch.stack((a * c - b * s, a * s + b * c), dim=-1).flatten(-2)


def halves_read_as_pairs(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """The mistake of taking the pairs (i, i + hs/2) and writing each turned pair back as neighbours."""
    hs = x.shape[-1]
    a, b = x.double()[..., : hs // 2], x.double()[..., hs // 2:]
    c, s = angles.cos(), angles.sin()
    return torch.stack((a * c - b * s, a * s + b * c), dim=-1).flatten(-2)


def neighbours_put_back_as_halves(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """The mistake of turning the right pairs and writing them back as [all new a, all new b]."""
    a, b = x.double()[..., 0::2], x.double()[..., 1::2]
    c, s = angles.cos(), angles.sin()
    return torch.cat((a * c - b * s, a * s + b * c), dim=-1)


def second_number_sign_slip(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """The mistake (a*cos - b*sin, b*cos - a*sin): not a rotation."""
    a, b = x.double()[..., 0::2], x.double()[..., 1::2]
    c, s = angles.cos(), angles.sin()
    return torch.stack((a * c - b * s, b * c - a * s), dim=-1).flatten(-2)


def rotate_first_only(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """The mistake of writing a back into x before b is computed from it."""
    a, b = x.double()[..., 0::2], x.double()[..., 1::2]
    c, s = angles.cos(), angles.sin()
    new_a = a * c - b * s
    return torch.stack((new_a, new_a * s + b * c), dim=-1).flatten(-2)


# --- the angles ------------------------------------------------------------------------------------

@points(3, hint="theta_i = base ** (-2 * i / head_size) for i = 0 .. head_size/2 - 1 (torch.arange(0, head_size, "
                "2) / head_size in the exponent), angle = position * theta_i with positions 0 .. seq_len - 1; "
                "return (angles.cos(), angles.sin()) as float32, shape (seq_len, head_size // 2)")
def test_angles_follow_the_definition(student):
    for seq_len, head_size, base in [(T, HS, 10000.0), (5, 6, 500.0), (1, 2, 10000.0)]:
        cos, sin = student.rope.rope_angles(seq_len, head_size, base)
        with hint("cos and sin are (seq_len, head_size // 2): a row per position, a column per PAIR (not "
                  "transposed; and repeating them to head_size columns belongs to the other layout, pairs i and "
                  "i + head_size/2, not to this step)"):
            for name, value in (("cos", cos), ("sin", sin)):
                assert tuple(value.shape) == (seq_len, head_size // 2), \
                    f"rope_angles({seq_len}, {head_size}): {name} has shape {tuple(value.shape)}"
        with hint("return float32 tensors (compute in float64 if you like, then .float())"):
            assert cos.dtype == sin.dtype == torch.float32, f"got {cos.dtype} and {sin.dtype}"
        positions = torch.arange(seq_len)
        angles = angles_by_definition(positions, head_size, base)
        wrong = {
            "theta_i = base ** (-i / head_size) goes only half way down: the exponent is -2i / head_size "
            "(torch.arange(0, head_size, 2) / head_size)": angles_by_definition(positions, head_size, base, "i/d"),
            "the exponent has lost its minus sign: theta_i = base ** (-2i / head_size) gets SMALLER with i, from "
            "1 down to about 1 / base": angles_by_definition(positions, head_size, base, "+2i/d"),
            "the 2 is counted twice: with i = torch.arange(0, head_size, 2) (0, 2, 4, ...) the exponent is "
            "-i / head_size; -2 * i / head_size only with i = 0, 1, 2, ...":
                angles_by_definition(positions, head_size, base, "4i/d"),
            "the positions start at 1: the first position is 0, where nothing turns":
                angles_by_definition(positions + 1, head_size, base),
        }
        if base != 10000.0:
            wrong[f"the base argument is not used: theta_i = base ** (...) with the base given (here {base:g}), "
                  "not a fixed 10000"] = angles_by_definition(positions, head_size)
        pairs = (("cos", cos, torch.cos, torch.sin), ("sin", sin, torch.sin, torch.cos))
        for name, got, take, other in pairs:
            mistakes = {message: take(value).float() for message, value in wrong.items()}
            mistakes["cos and sin are swapped: return (angles.cos(), angles.sin()), in that order"] = \
                other(angles).float()
            expect_close(got, take(angles).float(), name=f"{name} of rope_angles({seq_len}, {head_size}, {base})",
                         atol=1e-5, mistakes=mistakes)
    # A long table: position 4095 times theta_0 = 1 is an angle of about 4095 radians, where float32 keeps
    # only about 4 digits after the point.
    cos, sin = student.rope.rope_angles(4096, HS)
    angles = angles_by_definition(torch.arange(4096), HS)
    with hint("the angles lost digits: at position 4095 an angle of ~4095 radians in float32 is off by ~2e-4; "
              "compute positions x theta in float64 (torch.arange(..., dtype=torch.float64)), then .float()"):
        for name, got, take in (("cos", cos, torch.cos), ("sin", sin, torch.sin)):
            expect_close(got, take(angles).float(), name=f"{name} of rope_angles(4096, {HS})", atol=1e-5)


# --- the rotation ----------------------------------------------------------------------------------

@points(3, hint="a, b = x[..., 0::2], x[..., 1::2]; new pair = (a*cos - b*sin, a*sin + b*cos); put the pairs back "
                "in order with torch.stack((..., ...), dim=-1).flatten(-2)")
def test_rotation_follows_the_definition(student, generator):
    positions = torch.arange(3, 3 + T)  # rows of a table that does not start at 0: what a cache passes
    angles = angles_by_definition(positions, HS)
    cos, sin = angles.cos().float(), angles.sin().float()
    for shape in [(2, 3, T, HS), (T, HS)]:
        x = torch.randn(*shape, generator=generator)
        turned = student.rope.apply_rope(x.clone(), cos, sin)
        mistakes = {m: v.float() for m, v in rotation_mistakes(x, angles).items()}
        mistakes["apply_rope makes its own angles for positions 0, 1, ...: turn x with the cos and sin it is given, "
                 "whose rows may start at any position (with a cache they are rows start:start + T)"] = \
            rotate_by_definition(x, angles_by_definition(torch.arange(T), HS)).float()
        expect_close(turned, rotate_by_definition(x, angles).float(), name=f"apply_rope(x of shape {shape})",
                     atol=1e-5, mistakes=mistakes)


@points(1, hint="return a new tensor in x's dtype (cos.to(x.dtype)): a float32 cos times a bfloat16 x gives "
                "float32; and do not write into x (x[..., 0::2] = ... edits the caller's queries)",
        builds_on={"apply_rope": "test_rotation_follows_the_definition"})
def test_rotation_keeps_the_dtype_and_the_input(student, generator):
    angles = angles_by_definition(torch.arange(T), HS)
    cos, sin = angles.cos().float(), angles.sin().float()
    for dtype in (torch.float64, torch.bfloat16):
        x = torch.randn(2, T, HS, generator=generator).to(dtype)
        turned = student.rope.apply_rope(x.clone(), cos, sin)
        assert turned.dtype == dtype, f"apply_rope on a {dtype} x returned {turned.dtype}"
        expect_close(turned.double(), rotate_by_definition(x, angles), name=f"apply_rope on {dtype}",
                     atol=0.05 if dtype == torch.bfloat16 else 1e-6)
    x = torch.randn(2, T, HS, generator=generator)
    with hint("apply_rope changed its input: compute the turned pairs into a new tensor instead of writing them "
              "into x (x[..., 0::2] = ..., x.mul_)"):
        before = x.clone()  # in-process the probe is handed x itself
        x_after, _, _ = student.probe(tensors_after_the_call, student.rope.apply_rope, x, cos, sin)
        expect_close(x_after, before, name="x after apply_rope(x, ...)", atol=0)


# --- what RoPE is for ------------------------------------------------------------------------------

def scores_at(student, q: torch.Tensor, k: torch.Tensor, m: int, n: int, seq_len: int) -> float:
    """The dot product of q placed at position m and k placed at position n, with the student's RoPE."""
    cos, sin = student.rope.rope_angles(seq_len, q.shape[-1])
    # Copies: a function that writes into its input is graded by the test above, not again here.
    q_turned = student.rope.apply_rope(q[None].clone(), cos[m:m + 1], sin[m:m + 1])
    k_turned = student.rope.apply_rope(k[None].clone(), cos[n:n + 1], sin[n:n + 1])
    return float((q_turned * k_turned).sum())


@points(2, hint="the score of a query at m and a key at n must depend on m - n only; if it does not, the angles "
                "grow with the position in a way a rotation does not (check rope_angles: angle = position * "
                "theta_i), or the rotation is not a rotation",
        builds_on={"rope_angles": "test_angles_follow_the_definition",
                   "apply_rope": "test_rotation_follows_the_definition"})
def test_scores_depend_only_on_the_distance(student, generator):
    q, k = torch.randn(HS, generator=generator), torch.randn(HS, generator=generator)
    for distance in (0, 2, 5):
        scores = [scores_at(student, q, k, n + distance, n, 40) for n in (0, 3, 17, 30)]
        expect_close(torch.tensor(scores), torch.full((4,), scores[0]),
                     name=f"q·k with the query {distance} positions after the key, at keys 0, 3, 17, 30", atol=1e-4)
    near, far = scores_at(student, q, k, 1, 0, 40), scores_at(student, q, k, 30, 0, 40)
    assert abs(near - far) > 1e-3, f"the score is {near:.4f} at distance 1 and {far:.4f} at distance 30: the " \
                                   f"positions do not change the score at all"


@points(1, hint="at position 0 every angle is 0, so apply_rope leaves x as it is; at every position each pair "
                "keeps its length (a rotation only turns)",
        builds_on={"rope_angles": "test_angles_follow_the_definition",
                   "apply_rope": "test_rotation_follows_the_definition"})
def test_position_zero_stays_and_lengths_are_kept(student, generator):
    cos, sin = student.rope.rope_angles(10, HS)
    x = torch.randn(3, 10, HS, generator=generator)
    turned = student.rope.apply_rope(x.clone(), cos, sin)
    expect_close(turned[:, 0], x[:, 0], name="apply_rope at position 0", atol=1e-6)
    pair_lengths = lambda t: t.reshape(3, 10, HS // 2, 2).norm(dim=-1)  # noqa: E731
    expect_close(pair_lengths(turned), pair_lengths(x), name="the length of every pair after apply_rope", atol=1e-5)
