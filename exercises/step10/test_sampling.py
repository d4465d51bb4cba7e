"""Grading suite for step 10: generation (``sampling.py``).

The filters are checked on small rows of logits whose answer the test works out from the
definition: which tokens survive, and that the others are exactly -inf. The sampler is
checked by drawing many tokens from identical rows in one call and comparing the counts
with the filtered distribution (Pearson's chi-square test: a correct sampler fails it
with a chance below 1 in 100 000; a token drawn that should have been removed, or a kept
token that never comes out, fails it at once). ``generate`` is
checked with stand-in models whose every prediction the test can work out by hand: they
are defined at the bottom of this file and run next to your code.

The tests hand your functions copies of their tensors (``logits.clone()``), so that a
function that edits its input in place fails only the test that checks for it.
"""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from grader import hint, points
from grader.checks import expect_close
from grader.probes import tensors_after_the_call

V = 8  # a small vocabulary keeps every row readable when a test fails
N_DRAWS = 20_000  # draws per distribution: enough to tell a removed token from a kept one of probability 0.01
INF = float("inf")
SHAPE = ("sample_next_token returns the drawn ids as a (B, 1) int64 tensor, as torch.multinomial(probs, 1) and "
         "argmax(dim=-1, keepdim=True) give them: do not squeeze them to (B,) or cast them")
ARGMAX = ("every draw is the most probable token: sample with torch.multinomial(probs, 1, generator=generator), "
          "do not take the argmax")


# --- the definitions, written the slow and obvious way ----------------------------------------------

def reference_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep a logit when fewer than k logits of its row are strictly larger (ties with the k-th stay)."""
    larger = (logits.unsqueeze(-2) > logits.unsqueeze(-1)).sum(dim=-1)  # (..., V): how many beat each token
    return logits.masked_fill(larger >= k, -INF)


def mass_above(logits: torch.Tensor, descending: bool = True) -> torch.Tensor:
    """For every token, the probability of the tokens ranked above it: the more probable ones
    (``descending=False``: the less probable ones, a ranking turned upside down)."""
    probs = F.softmax(logits.double(), dim=-1)
    if descending:
        above = probs.unsqueeze(-2) > probs.unsqueeze(-1)  # [..., i, j]: token j is more probable than token i
    else:
        above = probs.unsqueeze(-2) < probs.unsqueeze(-1)
    return (above * probs.unsqueeze(-2)).sum(dim=-1)  # (..., V)


def reference_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep a token when the tokens more probable than it hold less than p."""
    return logits.masked_fill(mass_above(logits) >= p, -INF)


def reference_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                    top_p: float | None = None) -> torch.Tensor:
    """The distribution sample_next_token draws from: temperature, then top-k, then top-p, then softmax."""
    logits = logits.double() / temperature
    if top_k is not None:
        logits = reference_top_k(logits, top_k)
    if top_p is not None:
        logits = reference_top_p(logits, top_p)
    return F.softmax(logits, dim=-1)


def zero_filled(expected: torch.Tensor) -> torch.Tensor:
    return expected.masked_fill(torch.isinf(expected), 0.0)


def expect_filtered(out, expected: torch.Tensor, name: str, mistakes: dict | None = None) -> None:
    """expect_close, after checking that removed logits are -inf and not a stand-in for it."""
    removed = torch.isinf(expected)
    if isinstance(out, torch.Tensor) and out.shape == expected.shape and removed.any():
        stand_in = out[removed]
        if bool((stand_in < -1e3).all()) and not bool(torch.isinf(stand_in).all()):
            with hint("removed logits must be float('-inf'), not a large negative number (-1e9, "
                      "torch.finfo(dtype).min, ...): -inf says 'impossible' exactly, whatever is done to it "
                      "later, and softmax turns it into a probability of exactly 0"):
                raise AssertionError(f"{name}: a removed logit is {float(stand_in.max()):g}, not -inf")
    expect_close(out, expected, name=name, mistakes={
        "removed logits are set to 0: set them to float('-inf'). A logit of 0 is an ordinary score (e^0 = 1), "
        "often one of the larger ones, so the 'removed' tokens can still be drawn": zero_filled(expected),
        **(mistakes or {}),
    })


def fits(counts: torch.Tensor, probs: torch.Tensor, alpha: float = 1e-5) -> bool:
    """Could ``counts`` be draws from ``probs``? No impossible token drawn, and Pearson's chi-square passes."""
    counts, probs = counts.double(), probs.double()
    if bool((counts[probs == 0] > 0).any()):
        return False
    possible = probs > 0
    expected = counts.sum() * probs[possible]
    statistic = ((counts[possible] - expected) ** 2 / expected).sum()
    degrees = int(possible.sum()) - 1
    if degrees == 0:
        return True
    p_value = torch.special.gammaincc(torch.tensor(degrees / 2, dtype=torch.float64), statistic / 2)
    return float(p_value) > alpha


def expect_draws_from(counts: torch.Tensor, probs: torch.Tensor, name: str, mistakes: dict | None = None) -> None:
    """Fail unless ``counts`` fit ``probs``; when they fit a known mistake's distribution instead, name it."""
    if fits(counts, probs):
        return
    for message, wrong in (mistakes or {}).items():
        if not torch.allclose(wrong.double(), probs.double(), atol=1e-3) and fits(counts, wrong):
            with hint(message):
                raise AssertionError(f"{name}: the counts {counts.tolist()} match a known mistake")
    expected = [round(x, 1) for x in (counts.sum() * probs.double()).tolist()]
    raise AssertionError(f"{name}: drew the tokens {counts.tolist()} times, expected about {expected}")


def draw_counts(student, row: torch.Tensor, seed: int, **options) -> torch.Tensor:
    """How often each token comes out of N_DRAWS identical rows, drawn in one call."""
    rows = row.float().expand(N_DRAWS, -1).clone()  # (N, V): N draws from one distribution
    tokens = student.sampling.sample_next_token(rows, generator=torch.Generator().manual_seed(seed), **options)
    with hint(SHAPE):
        assert isinstance(tokens, torch.Tensor) and tuple(tokens.shape) == (N_DRAWS, 1), \
            f"sample_next_token on logits {tuple(rows.shape)} should return ({N_DRAWS}, 1), got " \
            f"{tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__}"
        assert tokens.dtype == torch.int64, f"the tokens should be int64, got {tokens.dtype}"
    assert int(tokens.min()) >= 0 and int(tokens.max()) < row.shape[-1], "a drawn token is outside the vocabulary"
    counts = torch.bincount(tokens.flatten(), minlength=row.shape[-1])
    if options.get("temperature", 1.0) > 0 and float(reference_probs(row, **options).max()) < 0.99:
        with hint("all the rows drew the same token: draw one token per row, torch.multinomial on the (B, V) "
                  "probabilities with num_samples=1, not one draw (or one argmax) shared by the batch"):
            assert int((counts > 0).sum()) > 1, f"{N_DRAWS} rows drew token {int(tokens[0])}, every one of them"
    return counts


def wrong_length_hint(length: int | None, prompt_length: int, steps: int, block_size: int) -> str:
    """The mistake a sequence of ``length`` tokens points to (a prompt of ``prompt_length``, ``steps`` steps)."""
    # The crop's length first: where it equals one of the others, the other (a plainer mistake) is named.
    known = {block_size + 1: "the crop replaced idx, and the start of the prompt is lost: keep the whole sequence "
                             "in idx and crop into a separate variable, context = idx[:, -block_size:], for the "
                             "model only",
             steps: "generate returned only the new tokens: return the prompt followed by them, the whole of idx",
             prompt_length + steps - 1: "one new token is missing: the loop must run max_new_tokens times",
             prompt_length + steps + 1: "one token too many: the loop must run exactly max_new_tokens times"}
    return known.get(length, "generate returns (B, T + max_new_tokens): the prompt followed by the new tokens")


def row_with_a_clear_nucleus(generator, p: float, temperature: float = 1.0, top_k: int | None = None,
                             margin: float = 0.03, size: int = V) -> torch.Tensor:
    """Random logits (size,) whose running masses, after temperature and top-k, all stay ``margin`` away from p.

    Then the nucleus does not hinge on rounding, and it is a real choice: it keeps at least two
    tokens, and fewer than the filters before it left.
    """
    while True:
        row = 1.5 * torch.randn(size, generator=generator)
        probs = reference_probs(row, temperature, top_k)
        ranked = probs.sort(descending=True).values
        running = ranked.cumsum(0)  # the mass of the top 1, 2, 3, ... tokens
        kept = int((running - ranked < p).sum())
        if float((running - p).abs().min()) > margin * 8 / size and 2 <= kept < int((probs > 0).sum()):
            return row


# --- temperature ----------------------------------------------------------------------------------

@points(1, hint="apply_temperature divides: logits / temperature (T < 1 sharpens the distribution, T > 1 "
                "flattens it); it returns logits, not probabilities")
def test_temperature_divides_the_logits(student, generator):
    logits = 2 * torch.randn(3, V, generator=generator)
    for temperature in (0.5, 1.0, 2.0, 0.01):  # 0.01: a small temperature is divided by too, not clamped
        out = student.sampling.apply_temperature(logits.clone(), temperature)
        if temperature < 0.05 and isinstance(out, torch.Tensor) and out.shape == logits.shape and out.any():
            divisor = float((logits * out).sum() / (out * out).sum())  # the d for which logits / d is nearest out
            with hint("a small temperature is clamped: divide by the temperature as given, 0.01 included; only "
                      "temperature 0 is special, and sample_next_token handles it with an argmax"):
                assert not (divisor > 2 * temperature and torch.allclose(out, logits / divisor, rtol=1e-4)), \
                    f"apply_temperature(logits, {temperature}) divided the logits by {divisor:.3g}"
        expect_close(out, logits / temperature, name=f"apply_temperature(logits, {temperature})", mistakes={
            "the logits are multiplied by the temperature: divide them, so that a small temperature sharpens":
                logits * temperature,
            "apply_temperature returns probabilities: return logits / temperature, the softmax comes later":
                F.softmax(logits / temperature, dim=-1),
            **({"the temperature is ignored: the logits come back as they were; divide them by it": logits}
               if temperature != 1.0 else {}),
        })


# --- top-k -----------------------------------------------------------------------------------------

@points(2, hint="top_k_filter keeps the k LARGEST logits of each row (the last dimension) and sets the others to "
                "-inf")
def test_top_k_keeps_the_k_largest_of_each_row(student, generator):
    # Distinct values, so exactly k survive in each row; rows at different levels, so that a threshold
    # shared by the batch keeps too many tokens in one row and too few in another.
    logits = 2 * torch.randn(4, V, generator=generator) + torch.tensor([[6.0], [0.0], [-6.0], [3.0]])
    for k in (1, 3, V - 1):
        expected = reference_top_k(logits, k)
        kth = logits.sort(dim=-1, descending=True).values[:, k - 1:k]  # (4, 1)
        expect_filtered(student.sampling.top_k_filter(logits.clone(), k), expected,
                        name=f"top_k_filter(logits, k={k})", mistakes={
            "the k SMALLEST logits are kept: keep the largest (torch.topk's default, largest=True)":
                logits.masked_fill((logits.unsqueeze(-2) < logits.unsqueeze(-1)).sum(dim=-1) >= k, -INF),
            "the k-th largest logit itself is removed: keep every logit >= the k-th largest value, not only "
            "those > it": logits.masked_fill(logits <= kth, -INF),
            "one token too many is kept: the k-th largest value is topk(logits, k).values[..., -1] (index k - 1 "
            "of the sorted values, not index k)": reference_top_k(logits, k + 1),
            "one threshold for the whole batch: find the k-th largest value of each row (topk over dim=-1), "
            "every row is filtered on its own":
                logits.masked_fill(logits < logits.flatten().topk(k).values[-1], -INF),
            "one threshold for the whole batch (the smallest of the rows' k-th values): compare each row with "
            "its own k-th largest value, kth of shape (..., 1)": logits.masked_fill(logits < kth.min(), -INF),
        })
    with hint("top_k_filter must work on any (..., V) tensor, a row being the last dimension"):
        cube = logits.reshape(2, 2, V)
        expect_filtered(student.sampling.top_k_filter(cube.clone(), 3), reference_top_k(cube, 3),
                        name="top_k_filter on a (2, 2, V) tensor")
    with hint("top_k_filter must work for any vocabulary and any k: nothing in it may assume the vocabulary of "
              f"these small examples ({V} tokens)"):
        wide = 2 * torch.randn(3, 5 * V + 3, generator=generator)
        for k in (V + 5, 3 * V):
            expect_filtered(student.sampling.top_k_filter(wide.clone(), k), reference_top_k(wide, k),
                            name=f"top_k_filter(logits (3, {wide.shape[-1]}), k={k})")


@points(2, hint="tokens tied with the k-th largest logit were dropped: keep every logit >= the k-th largest VALUE "
                "(torch.topk(...).values[..., -1:]); the k indices topk returns pick only some of the tied ones",
        builds_on={"top_k_filter": "test_top_k_keeps_the_k_largest_of_each_row"})
def test_top_k_keeps_ties_with_the_kth_largest(student, generator):
    # Row: one winner, three tokens tied in second place, the rest below. For k = 2, 3 and 4 the k-th
    # largest value is the tie, so all four top tokens stay.
    base = torch.tensor([4.0, 2.5, 2.5, 2.5, 1.0, 0.0, -1.0, -2.0])
    logits = torch.stack([base[torch.randperm(V, generator=generator)] + torch.randn((), generator=generator)
                          for _ in range(3)])  # (3, V)
    for k in (2, 3, 4):
        expected = reference_top_k(logits, k)  # the winner and all three tied tokens: 4 per row
        out = student.sampling.top_k_filter(logits.clone(), k)
        kept = torch.isfinite(torch.as_tensor(out)).sum(dim=-1)
        if k < 4 and bool((kept == k).all()):
            raise AssertionError(f"top_k_filter(k={k}) keeps exactly {k} tokens per row, but three tokens share "
                                 f"the {k}-th largest value: the winner and all three must stay")
        expect_filtered(out, expected, name=f"top_k_filter(logits with a tie, k={k})")


@points(1, hint="k larger than the vocabulary must keep every token: clamp k to V first (k = min(k, V)); "
                "torch.topk raises for k > V",
        builds_on={"top_k_filter": "test_top_k_keeps_the_k_largest_of_each_row"})
def test_top_k_larger_than_the_vocabulary_keeps_everything(student, generator):
    logits = torch.randn(2, V, generator=generator)
    for k in (V, V + 1, 10 * V):
        expect_filtered(student.sampling.top_k_filter(logits.clone(), k), logits, name=f"top_k_filter(k={k}), V={V}")


# --- top-p -----------------------------------------------------------------------------------------

@points(2, hint="top_p_filter keeps a token when the tokens ranked ABOVE it (more probable) hold less than p: sort "
                "the probabilities in descending order, running mass minus the token's own probability, and put "
                "the decisions back in vocabulary order")
def test_top_p_keeps_the_smallest_set_reaching_p(student, generator):
    p = 0.75
    rows = [row_with_a_clear_nucleus(generator, p) for _ in range(4)]
    while len({int(torch.isfinite(reference_top_p(row, p)).sum()) for row in rows}) < 2:
        rows = rows[1:] + [row_with_a_clear_nucleus(generator, p)]  # until two rows keep different numbers of tokens
    logits = torch.stack(rows)  # (4, V), not sorted: the tokens sit in random places
    expected = reference_top_p(logits, p)
    probs = F.softmax(logits.double(), dim=-1)
    sorted_probs = probs.sort(dim=-1, descending=True).values
    sorted_mass_above = sorted_probs.cumsum(dim=-1) - sorted_probs
    expect_filtered(student.sampling.top_p_filter(logits.clone(), p), expected, name=f"top_p_filter(logits, p={p})",
                    mistakes={
        "the token whose probability crosses p is dropped: keep a token when the mass ranked ABOVE it is < p "
        "(running mass minus its own probability), so that the kept set reaches p":
            logits.masked_fill(mass_above(logits) + probs >= p, -INF),
        "the probabilities are sorted in ascending order: sort them descending, most probable first":
            logits.masked_fill(mass_above(logits, descending=False) >= p, -INF),
        "the mask is applied in sorted order: the decisions are made on the sorted probabilities, so scatter "
        "them back to each token's place in the vocabulary (with the indices the sort returned) before "
        "filling the logits": logits.masked_fill(sorted_mass_above >= p, -INF),
        "the decisions are put back with gather(-1, order), which applies the sort's permutation a second time "
        "instead of undoing it: scatter them back, remove.scatter(-1, order, remove_sorted)":
            logits.masked_fill((sorted_mass_above >= p).gather(-1, probs.sort(dim=-1, descending=True).indices),
                               -INF),
    })
    with hint("top_p_filter must work on any (..., V) tensor, each row (the last dimension) on its own"):
        cube = torch.stack(rows + [row_with_a_clear_nucleus(generator, p) for _ in range(2)]).reshape(2, 3, V)
        expect_filtered(student.sampling.top_p_filter(cube.clone(), p), reference_top_p(cube, p),
                        name="top_p_filter on a (2, 3, V) tensor")
    with hint(f"top_p_filter must work for any vocabulary, not only the {V} tokens of these small examples"):
        wide = torch.stack([row_with_a_clear_nucleus(generator, 0.9, size=5 * V + 3) for _ in range(2)])
        expect_filtered(student.sampling.top_p_filter(wide.clone(), 0.9), reference_top_p(wide, 0.9),
                        name=f"top_p_filter(logits (2, {wide.shape[-1]}), p=0.9)")


@points(1, hint="the most probable token must always stay: nothing ranks above it, so its mass above is 0 < p, "
                "however small p is; p = 1 keeps every token; a logit that is already -inf stays -inf",
        builds_on={"top_p_filter": "test_top_p_keeps_the_smallest_set_reaching_p"})
def test_top_p_extremes(student, generator):
    logits = 1.5 * torch.randn(3, V, generator=generator)
    greedy = logits.masked_fill(logits < logits.max(dim=-1, keepdim=True).values, -INF)
    expect_filtered(student.sampling.top_p_filter(logits.clone(), 1e-9), greedy, name="top_p_filter(p=1e-9)",
                    mistakes={
        "top_p_filter with a tiny p removes every token: the token that crosses p must stay (keep a token "
        "when the mass ranked ABOVE it is < p)": torch.full_like(logits, -INF),
    })
    expect_filtered(student.sampling.top_p_filter(logits.clone(), 1.0), logits, name="top_p_filter(p=1.0)")
    # After top-k: removed tokens have probability 0, and top-p measures the mass of the rest.
    after_top_k = reference_top_k(logits, 4)
    expect_filtered(student.sampling.top_p_filter(after_top_k.clone(), 0.6), reference_top_p(after_top_k, 0.6),
                    name="top_p_filter(p=0.6) on logits already filtered to the top 4")


@points(1, hint="a token whose mass ranked above it is exactly p is removed: the nucleus stops as soon as its mass "
                "reaches p, so keep a token while the mass above it is < p (not <= p)",
        builds_on={"top_p_filter": "test_top_p_keeps_the_smallest_set_reaching_p"})
def test_top_p_stops_where_the_mass_reaches_p(student, generator):
    # Four equal logits, the rest already removed: each of the four has probability exactly 1/4 in float32
    # (e^0 / 4), so the running masses 1/4, 1/2, 3/4 reach p exactly, with no rounding to decide.
    # Equal probabilities may be ranked in either order: any 1, 2 or 3 of the four are a right answer.
    logits = torch.full((3, V), -INF)
    for row in logits:
        row[torch.randperm(V, generator=generator)[:4]] = float(torch.randn((), generator=generator))
    for p, keep in ((0.25, 1), (0.5, 2), (0.75, 3)):
        out = torch.as_tensor(student.sampling.top_p_filter(logits.clone(), p))
        assert out.shape == logits.shape, f"top_p_filter returned shape {tuple(out.shape)}, not {tuple(logits.shape)}"
        kept = torch.isfinite(out)
        assert bool((kept <= torch.isfinite(logits)).all()), "a token that was already -inf came back"
        assert torch.equal(out[kept], logits[kept]), "a kept logit changed: keep its value as it was"
        counts = kept.sum(dim=-1).tolist()
        assert counts == [keep] * 3, f"four tokens of probability 1/4 each, p={p}: the nucleus is {keep} of them " \
                                     f"(their mass reaches p exactly), top_p_filter kept {counts}"


@points(1, hint="softmax written by hand as exp(x) / exp(x).sum() overflows for logits above about 88 (e^89 is inf in "
                "float32, and inf / inf is nan): use F.softmax(logits, dim=-1), which subtracts each row's maximum "
                "first and gives the same probabilities",
        builds_on={"apply_temperature": "test_temperature_divides_the_logits",
                   "top_p_filter": "test_top_p_keeps_the_smallest_set_reaching_p",
                   "sample_next_token": "test_draws_follow_the_filtered_distribution"})
def test_large_logits_give_the_same_choices(student, generator, seed):
    # Adding the same number to every logit of a row changes no probability. A trained model's logits
    # are rarely this large, but temperature 0.1 makes logits of 20 into 200.
    row = row_with_a_clear_nucleus(generator, 0.7)
    shifted = row + 300.0
    expect_filtered(student.sampling.top_p_filter(shifted.expand(2, -1).clone(), 0.7),
                    reference_top_p(shifted.expand(2, -1), 0.7), name="top_p_filter(logits + 300, p=0.7)")
    counts = draw_counts(student, shifted, seed)
    expect_draws_from(counts, reference_probs(shifted), name="sample_next_token(logits + 300)")
    sharp = row_with_a_clear_nucleus(generator, 0.7, temperature=0.5) + 300.0  # 600 and more once divided
    counts = draw_counts(student, sharp, seed + 1, temperature=0.5, top_p=0.7)
    expect_draws_from(counts, reference_probs(sharp, 0.5, top_p=0.7),
                      name="sample_next_token(logits + 300, temperature=0.5, top_p=0.7)")


# --- arguments ------------------------------------------------------------------------------------

@points(1, hint="raise ValueError for arguments that have no meaning: temperature <= 0 in apply_temperature "
                "(< 0 in sample_next_token), k < 1, p outside (0, 1]")
def test_out_of_range_arguments_raise_value_error(student, generator):
    logits = torch.randn(2, V, generator=generator)
    sampling = student.sampling
    with hint("apply_temperature(logits, t) must raise ValueError for t < 0, and for t = 0 (that is greedy "
              "decoding, which sample_next_token does with an argmax: dividing by 0 gives inf and nan)"):
        for temperature in (-1.0, -1e-3, 0.0):
            with pytest.raises(ValueError):
                sampling.apply_temperature(logits.clone(), temperature)
        sampling.apply_temperature(logits.clone(), 1e-3)  # small, but fine
    with hint("top_k_filter must raise ValueError for k < 1: keeping no token leaves nothing to draw"):
        for k in (0, -2):
            with pytest.raises(ValueError):
                sampling.top_k_filter(logits.clone(), k)
    with hint("top_p_filter must raise ValueError for p <= 0 or p > 1 (p = 1 is allowed: it keeps everything)"):
        for p in (0.0, -0.5, 1.5):
            with pytest.raises(ValueError):
                sampling.top_p_filter(logits.clone(), p)
    with hint("sample_next_token must raise ValueError for a negative temperature (only 0 means greedy), and for "
              "top_k < 1 or top_p outside (0, 1] (the filters raise it: call them)"):
        for options in ({"temperature": -0.5}, {"top_k": 0}, {"top_p": 1.5}):
            with pytest.raises(ValueError):
                sampling.sample_next_token(logits.clone(), generator=torch.Generator().manual_seed(0), **options)


# --- sample_next_token -----------------------------------------------------------------------------

@points(2, hint="temperature 0 means greedy: return logits.argmax(dim=-1, keepdim=True), (B, 1) int64, before "
                "dividing by the temperature; top_k=1 and a tiny top_p leave only the argmax to draw",
        builds_on={"top_k_filter": "test_top_k_keeps_the_k_largest_of_each_row",
                   "top_p_filter": "test_top_p_extremes"})
def test_temperature_zero_top_k_1_and_tiny_top_p_are_greedy(student, generator):
    logits = 2 * torch.randn(6, V, generator=generator)
    greedy = logits.argmax(dim=-1, keepdim=True)  # (6, 1)
    for options in ({"temperature": 0.0}, {"temperature": 0.0, "top_k": 3, "top_p": 0.9},
                    {"top_k": 1}, {"top_p": 1e-9}, {"temperature": 2.0, "top_k": 1}):
        out = student.sampling.sample_next_token(logits.clone(), generator=torch.Generator().manual_seed(1),
                                                 **options)
        with hint(SHAPE):
            assert isinstance(out, torch.Tensor) and out.dtype == torch.int64, \
                f"sample_next_token should return an int64 tensor, got {getattr(out, 'dtype', type(out).__name__)}"
            assert tuple(out.shape) == (6, 1), f"sample_next_token on (6, {V}) logits returned {tuple(out.shape)}"
        expect_close(out, greedy, name=f"sample_next_token(logits (6, {V}), {options})")


@points(3, hint="the draws do not follow softmax of the filtered logits: temperature, then top-k, then top-p, "
                "then softmax, then torch.multinomial(probs, num_samples=1, generator=generator)",
        builds_on={"apply_temperature": "test_temperature_divides_the_logits",
                   "top_k_filter": "test_top_k_keeps_the_k_largest_of_each_row",
                   "top_p_filter": "test_top_p_keeps_the_smallest_set_reaching_p"})
def test_draws_follow_the_filtered_distribution(student, generator, seed):
    row = 1.5 * torch.randn(V, generator=generator)
    cases = [({"temperature": 1.0}, row),
             ({"temperature": 0.6, "top_k": 3}, row),
             ({"temperature": 1.5, "top_p": 0.7}, row_with_a_clear_nucleus(generator, 0.7, 1.5)),
             ({"temperature": 0.8, "top_k": 5, "top_p": 0.8}, row_with_a_clear_nucleus(generator, 0.8, 0.8, 5))]
    for i, (options, logits) in enumerate(cases):
        counts = draw_counts(student, logits, seed + i, **options)
        t = options["temperature"]
        unfiltered = reference_probs(logits, t)
        expect_draws_from(counts, reference_probs(logits, **options), name=f"sample_next_token with {options}",
                          mistakes={
            ARGMAX: F.one_hot(logits.argmax(), V).double(),
            "the temperature multiplies the logits: divide them by it":
                reference_probs(logits * t * t, **options),
            "the temperature is ignored: divide the logits by it before filtering": reference_probs(logits, 1.0, **{
                k: v for k, v in options.items() if k != "temperature"}),
            "top_k / top_p are ignored: filter the logits before the softmax when they are not None": unfiltered,
            "every kept token comes out equally often: the softmax is taken over the wrong dimension (dim=0 mixes "
            "the rows of the batch); take it over the vocabulary, dim=-1":
                F.softmax(torch.isfinite(reference_top_p(reference_top_k(logits, options.get("top_k", V)),
                                                         options.get("top_p", 1.0))).double().log(), dim=-1),
        })


@points(2, hint="the order is temperature -> top-k -> top-p: top-p measures the mass of the distribution that "
                "temperature reshaped and top-k left",
        builds_on={"apply_temperature": "test_temperature_divides_the_logits",
                   "top_k_filter": "test_top_k_keeps_the_k_largest_of_each_row",
                   "top_p_filter": "test_top_p_keeps_the_smallest_set_reaching_p"})
def test_temperature_then_top_k_then_top_p(student, generator, seed):
    # Temperature 3 flattens [3, 2, 1, 0]: the nucleus of 0.75 grows from 2 tokens to 3.
    order = torch.randperm(4, generator=generator)
    logits = torch.tensor([3.0, 2.0, 1.0, 0.0])[order] + torch.randn((), generator=generator)
    counts = draw_counts(student, logits, seed, temperature=3.0, top_p=0.75)
    expect_draws_from(counts, reference_probs(logits, 3.0, top_p=0.75), name="temperature 3, top_p 0.75", mistakes={
        "top-p was applied before the temperature: divide by the temperature first, it changes the mass that "
        "top-p measures": F.softmax(reference_top_p(logits, 0.75).double() / 3.0, dim=-1),
        ARGMAX: F.one_hot(logits.argmax(), 4).double(),
    })
    # Top-k first leaves [0.4, 0.3] -> [0.57, 0.43], and 0.57 alone reaches p = 0.5; top-p first would keep two.
    order = torch.randperm(4, generator=generator)
    logits = torch.tensor([0.4, 0.3, 0.2, 0.1]).log()[order] + torch.randn((), generator=generator)
    counts = draw_counts(student, logits, seed + 1, top_k=2, top_p=0.5)
    expect_draws_from(counts, reference_probs(logits, top_k=2, top_p=0.5), name="top_k 2, top_p 0.5", mistakes={
        "top-p was applied before top-k, or skipped because top_k was given: apply both, top-k first, then "
        "top-p measures the mass of what top-k left (renormalised)":
            F.softmax(reference_top_k(reference_top_p(logits, 0.5), 2).double(), dim=-1),
    })


@points(1, hint="pass the generator to torch.multinomial(..., generator=generator): the same seed must give the "
                "same tokens, another seed other tokens")
def test_seeded_draws_are_reproducible(student, generator, seed):
    logits = 0.5 * torch.randn(64, V, generator=generator)  # 64 rows of spread-out probabilities
    draw = student.sampling.sample_next_token
    first = draw(logits.clone(), generator=torch.Generator().manual_seed(seed))
    again = draw(logits.clone(), generator=torch.Generator().manual_seed(seed))
    other = draw(logits.clone(), generator=torch.Generator().manual_seed(seed + 1))
    expect_close(again, first, name="a second draw with the same seed")
    with hint("every row got the same token: draw one token per row, torch.multinomial on the (B, V) "
              "probabilities (not one draw shared by the batch)"):
        assert len(set(torch.as_tensor(first).flatten().tolist())) > 1, "all 64 rows drew the same token"
    with hint(ARGMAX):
        assert not torch.equal(torch.as_tensor(first), logits.argmax(dim=-1, keepdim=True)), \
            "all 64 tokens are the argmax of their row"
    assert not torch.equal(torch.as_tensor(other), torch.as_tensor(first)), \
        "two different seeds gave the same 64 tokens: the generator is not used"


# --- generate --------------------------------------------------------------------------------------

@points(1, hint="generate returns the prompt followed by the new tokens: shape (B, T + max_new_tokens), int64, "
                "the prompt unchanged in front (max_new_tokens = 0 returns the prompt)")
def test_generate_returns_the_prompt_and_the_new_tokens(student, generator):
    model = student.probe(new_prefix_sum_lm, block_size=10, peak=1.0)  # 4 + 6 tokens: no crop needed
    prompt = torch.randint(0, V, (3, 4), generator=generator)
    try:
        out = student.sampling.generate(model, prompt.clone(), 6, block_size=10,
                                        generator=torch.Generator().manual_seed(0))
    except (TypeError, AttributeError) as error:
        if "tuple" not in str(error):
            raise
        with hint("a model's forward returns a pair (logits, loss), like every model of this course: unpack it, "
                  "logits, _ = model(context), before taking logits[:, -1, :]"):
            raise AssertionError(f"generate used the model's (logits, loss) pair as the logits: {error}") from None
    assert isinstance(out, torch.Tensor), f"generate should return a tensor, got {type(out).__name__}"
    with hint(wrong_length_hint(out.shape[-1] if out.dim() == 2 else None, prompt_length=4, steps=6, block_size=10)):
        assert tuple(out.shape) == (3, 10), f"generate(prompt (3, 4), 6) should return (3, 10), got {tuple(out.shape)}"
    assert out.dtype == torch.int64, f"the tokens should be int64, got {out.dtype}"
    expect_close(out[:, :4], prompt, name="the first 4 tokens (the prompt)")
    assert int(out.min()) >= 0 and int(out.max()) < V, "a new token is outside the vocabulary"
    expect_close(student.sampling.generate(model, prompt.clone(), 0, block_size=10), prompt,
                 name="generate(prompt, max_new_tokens=0)")


@points(2, hint="each new token must be appended and read back in: the next step's context is the prompt plus every "
                "token chosen so far (its last block_size tokens), and the choice is made from the logits at the "
                "LAST position",
        builds_on={"sample_next_token": "test_temperature_zero_top_k_1_and_tiny_top_p_are_greedy",
                   "the crop in generate": "test_generate_crops_the_context_to_block_size"})
def test_generate_reads_its_own_tokens_back(student, generator):
    # The stand-in model predicts (sum of its context) % V at the last position: greedy decoding is checkable.
    block_size, steps = 6, 12
    model = student.probe(new_prefix_sum_lm, block_size=block_size)
    prompt = torch.randint(0, V, (3, 4), generator=generator)
    out = student.sampling.generate(model, prompt.clone(), steps, block_size=block_size, temperature=0.0)

    def greedy(context_of, next_of):
        sequence = prompt
        for _ in range(steps):
            sequence = torch.cat([sequence, next_of(context_of(sequence)).unsqueeze(1)], dim=1)
        return sequence

    last, total = (lambda s: s[:, -block_size:]), (lambda c: c.sum(dim=1) % V)
    expect_close(out, greedy(last, total), name="the greedy continuation", mistakes={
        "the next token comes from the logits of the FIRST position: take logits[:, -1, :]":
            greedy(last, lambda c: c[:, 0] % V),
        "the context is the FIRST block_size tokens: crop to the last ones, idx[:, -block_size:]":
            greedy(lambda s: s[:, :block_size], total),
        "the new tokens are not read back: every step runs the model on the prompt only; append each new token "
        "to idx and run the model on the grown sequence": greedy(lambda s: prompt[:, -block_size:], total),
        "every row continues with row 0's tokens: choose the next token of each row from that row's logits, "
        "logits[:, -1, :] of shape (B, V)": greedy(last, lambda c: total(c)[:1].expand(len(c))),
    })


@points(2, hint="crop the context to its LAST block_size tokens before each forward pass: context = "
                "idx[:, -block_size:] (the model refuses longer inputs; the prompt itself may be longer)",
        builds_on={"sample_next_token": "test_temperature_zero_top_k_1_and_tiny_top_p_are_greedy"})
def test_generate_crops_the_context_to_block_size(student, generator):
    block_size = 4
    # The third model accepts 8 tokens, but generate is told 4: the argument decides, not the model.
    for prompt_length, steps, model_limit in ((2, 6, 4), (7, 4, 4), (5, 3, 8)):
        model = student.probe(new_prefix_sum_lm, block_size=model_limit, peak=1.0)
        prompt = torch.randint(0, V, (2, prompt_length), generator=generator)
        out = torch.as_tensor(student.sampling.generate(model, prompt.clone(), steps, block_size=block_size,
                                                        generator=torch.Generator().manual_seed(prompt_length)))
        length = out.shape[-1] if out.dim() == 2 else None
        with hint(wrong_length_hint(length, prompt_length, steps, block_size)):
            assert tuple(out.shape) == (2, prompt_length + steps), \
                f"a prompt of {prompt_length} and {steps} new tokens make {prompt_length + steps} tokens, got " \
                f"{tuple(out.shape)}"
        seen = student.probe(recorded, model)["contexts"]
        assert len(seen) == steps, f"{steps} new tokens should take {steps} forward passes, the model saw {len(seen)}"
        with hint("every forward pass saw the same context: the new tokens are not read back; append each one to "
                  "idx and crop the grown sequence, context = idx[:, -block_size:]"):
            assert not all(torch.equal(context, seen[0]) for context in seen[1:]), \
                f"the model saw {tuple(seen[0].shape)} contexts that never changed over {steps} steps"
        widest = max(context.shape[-1] for context in seen)
        with hint(f"generate cropped to {widest} tokens, more than the block_size={block_size} it was given: crop "
                  "to the block_size argument (the caller's limit), not to model.block_size or a config the model "
                  "may or may not have"):
            assert widest <= block_size, "a context was longer than block_size"
        for i, context in enumerate(seen):
            expect_close(context, out[:, : prompt_length + i][:, -block_size:],
                         name=f"the context of step {i + 1} (prompt of {prompt_length}, block_size {block_size})")


@points(2, hint="generate must pass temperature, top_k, top_p and the generator on to sample_next_token",
        builds_on={"sample_next_token": "test_draws_follow_the_filtered_distribution"})
def test_generate_passes_the_sampling_options_on(student, generator, seed):
    for options, row in [({"temperature": 0.7, "top_k": 3}, 1.5 * torch.randn(V, generator=generator)),
                         ({"temperature": 1.3, "top_p": 0.6}, row_with_a_clear_nucleus(generator, 0.6, 1.3))]:
        model = student.probe(new_fixed_lm, row)
        prompt = torch.zeros(N_DRAWS, 1, dtype=torch.long)
        out = torch.as_tensor(student.sampling.generate(model, prompt.clone(), 1, block_size=4,
                                                        generator=torch.Generator().manual_seed(seed), **options))
        with hint("generate returns token ids, an int64 tensor (B, T + max_new_tokens): build it from the prompt "
                  "and sample_next_token's int64 ids with torch.cat, not into a float tensor"):
            assert out.dtype == torch.int64 and out.dim() == 2, f"generate returned a {out.dtype} tensor of shape " \
                                                                f"{tuple(out.shape)}"
        counts = torch.bincount(out[:, -1], minlength=V)
        expect_draws_from(counts, reference_probs(row, **options), name=f"generate with {options}", mistakes={
            "the options are not passed on: generate must call sample_next_token(logits[:, -1, :], temperature, "
            "top_k, top_p, generator)": reference_probs(row),
        })
    model = student.probe(new_fixed_lm, 0.3 * torch.randn(V, generator=generator))
    prompt = torch.zeros(4, 1, dtype=torch.long)
    with hint("pass the generator on to sample_next_token: the same seed must give the same tokens"):
        first, again = (student.sampling.generate(model, prompt.clone(), 20, block_size=4,
                                                  generator=torch.Generator().manual_seed(seed)) for _ in range(2))
        expect_close(again, first, name="a second generate with the same seed")
    # One call, many draws: the generator's state must carry on from token to token.
    model = student.probe(new_fixed_lm, torch.zeros(V))  # every token equally likely at every step
    out = student.sampling.generate(model, torch.zeros(4, 1, dtype=torch.long), 30, block_size=4,
                                    generator=torch.Generator().manual_seed(seed))
    with hint("each step must draw new random numbers: pass the same generator object to every draw, so its state "
              "moves on (a new torch.Generator seeded from it at each step repeats the same draw)"):
        distinct = [len(set(row[1:].tolist())) for row in torch.as_tensor(out)]
        assert min(distinct) >= 3, f"30 draws from a uniform distribution over {V} tokens gave only {distinct} " \
                                   "different tokens per row"


@points(1, hint="generate runs the model in eval mode (dropout off) under torch.no_grad(), then puts it back in the "
                "mode it found: remember model.training, and restore it with model.train(was_training)")
def test_generate_runs_in_eval_mode_without_gradients(student, generator):
    prompt = torch.randint(0, V, (2, 3), generator=generator)
    for training in (True, False):
        model = student.probe(new_prefix_sum_lm, block_size=8)
        model.train(training)
        student.sampling.generate(model, prompt.clone(), 3, block_size=8, generator=torch.Generator().manual_seed(0))
        seen = student.probe(recorded, model)
        with hint("the model must be in eval mode while generate runs it (model.eval()), so that dropout is off"):
            assert not any(seen["training"]), f"the model ran in training mode: {seen['training']}"
        with hint("setting model.training = False switches only the outer module, and the dropout inside the blocks "
                  "stays in training mode: call model.eval() (and model.train(was_training) after), which set every "
                  "submodule"):
            assert not any(seen["inner_training"]), "the model's submodules ran in training mode"
        with hint("run the loop under torch.no_grad(): nothing is trained here, and the graph would grow with "
                  "every token"):
            assert not any(seen["grad"]), "gradients were enabled while the model ran"
        with hint(f"after generate the model must be back in the mode it was in (training={training}): remember "
                  "model.training before, and call model.train(was_training) after"):
            assert model.training == training, f"the model was in training={training}, generate left it {not training}"
            assert seen["inner_training_now"] == training, \
                f"the model's submodules were in training={training}, generate left them {not training}"
        with hint("after generate, gradients must be on again for the code that follows (training): use a "
                  "`with torch.no_grad():` block or the @torch.no_grad() decorator, not torch.set_grad_enabled(False) "
                  "on its own"):
            assert student.probe(gradients_were_enabled), "gradients stayed off after generate returned"


@points(1, hint="a function changed the caller's tensor: return a new tensor (logits / t, masked_fill, torch.cat) "
                "instead of editing the input in place (/=, masked_fill_, x[...] = ...)")
def test_inputs_are_left_unchanged(student, generator):
    logits = 2 * torch.randn(4, V, generator=generator)
    sampling = student.sampling
    calls = {
        "apply_temperature": (sampling.apply_temperature, (logits, 0.5), {}),
        "top_k_filter": (sampling.top_k_filter, (logits, 3), {}),
        "top_p_filter": (sampling.top_p_filter, (logits, 0.5), {}),
        "sample_next_token": (sampling.sample_next_token, (logits,),
                              {"temperature": 0.5, "top_k": 3, "top_p": 0.5,
                               "generator": torch.Generator().manual_seed(0)}),
        # At temperature 1 dividing changes nothing, and a shortcut may hand the caller's logits to the filters.
        "sample_next_token at temperature 1": (sampling.sample_next_token, (logits,),
                                               {"temperature": 1.0, "top_k": 3, "top_p": 0.5,
                                                "generator": torch.Generator().manual_seed(0)}),
    }
    for name, (function, args, kwargs) in calls.items():
        function_name = name.split()[0]  # "sample_next_token at temperature 1" is sample_next_token too
        with hint(f"`{function_name}` changed the logits it was given: return a new tensor instead of editing the "
                  "input in place (/=, masked_fill_, logits[...] = ...)"):
            before = [a.clone() for a in args if isinstance(a, torch.Tensor)]  # our own copy, whatever the call does
            after = student.probe(tensors_after_the_call, function, *args, **kwargs)
            assert all(torch.equal(a, b) for a, b in zip(after, before)), f"{name} changed its input"
    model = student.probe(new_prefix_sum_lm, block_size=4)
    prompt = torch.randint(0, V, (2, 6), generator=generator)
    with hint("`generate` changed the prompt it was given: build the output with torch.cat, a new tensor"):
        before = prompt.clone()
        (after,) = student.probe(tensors_after_the_call, sampling.generate, model, prompt, 3, block_size=4,
                                 temperature=0.0)
        assert torch.equal(after, before), "generate changed its prompt"


# --- probes: trusted helpers that run next to your code ------------------------------

class PrefixSumLM(nn.Module):
    """A stand-in language model whose every prediction the test can work out by hand.

    At position t it predicts (idx[:, 0] + ... + idx[:, t]) % V: that token gets the logit
    ``peak``, every other token 0. Like the GPT of step 08 it refuses more than block_size
    tokens. It writes down every context it is given, whether it was in training mode and
    whether gradients were on.
    """

    def __init__(self, block_size: int, peak: float):
        super().__init__()
        self.block_size = block_size
        self.peak = nn.Parameter(torch.tensor(peak))  # a parameter, so that a gradient could flow
        self.dropout = nn.Dropout(0.0)  # a submodule, as a GPT's dropout sits in its blocks (p = 0: no effect)
        self.contexts, self.training_flags, self.grad_flags, self.inner_training_flags = [], [], [], []

    def forward(self, idx, targets=None):
        if idx.dim() != 2 or idx.shape[1] > self.block_size:
            raise ValueError(f"the model got an input of shape {tuple(idx.shape)}: it reads (B, T) with T <= "
                             f"block_size={self.block_size}")
        self.contexts.append(idx.clone())
        self.training_flags.append(self.training)
        self.inner_training_flags.append(self.dropout.training)
        self.grad_flags.append(torch.is_grad_enabled())
        predicted = idx.cumsum(dim=1) % V  # (B, T)
        return self.peak * F.one_hot(predicted, V).float(), None  # (B, T, V)


class FixedLM(nn.Module):
    """A stand-in language model that gives the same logits (V,) at every position of every sequence."""

    def __init__(self, row: torch.Tensor):
        super().__init__()
        self.row = nn.Parameter(row.float())

    def forward(self, idx, targets=None):
        B, T = idx.shape
        return self.row.expand(B, T, -1).clone(), None  # (B, T, V), a new tensor like any model's output


def new_prefix_sum_lm(block_size: int, peak: float = 10.0) -> PrefixSumLM:
    return PrefixSumLM(block_size, peak)


def new_fixed_lm(row: torch.Tensor) -> FixedLM:
    return FixedLM(row)


def gradients_were_enabled() -> bool:
    """Whether autograd is on (turning it back on): code after generate trains."""
    enabled = torch.is_grad_enabled()
    torch.set_grad_enabled(True)
    return enabled


def recorded(model: PrefixSumLM) -> dict:
    return {"contexts": model.contexts, "training": model.training_flags, "grad": model.grad_flags,
            "inner_training": model.inner_training_flags, "inner_training_now": model.dropout.training}
