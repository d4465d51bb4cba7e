"""Every step's suite: full points on the solutions, zero on the untouched stubs, in both modes.

Every test passing in both modes (solutions) and every test failing in both (stubs) is the two
modes agreeing test by test on those; tests/test_mutants.py checks that they agree on wrong code.
"""

import re

import pytest

from helpers import REPO, STEPS, copy_solutions, readme_points, run_suite

MODES = {"sandbox": (), "in-process": ("--in-process",)}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("step", STEPS)
def test_solutions_score_full_points(step, mode):
    score, output, code = run_suite(step, "--solutions", *MODES[mode])
    assert code == 0, output
    assert score["step"] == step
    assert score["max_points"] > 0
    assert score["points"] == score["max_points"], output
    assert f"{step}: {score['max_points']}/{score['max_points']} points" in output
    assert readme_points(step) == score["max_points"], "README's step table is out of date"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("step", STEPS)
def test_stubs_score_zero_with_not_implemented_failures(step, mode):
    score, output, code = run_suite(step, *MODES[mode])
    assert code == 1, output
    assert score["points"] == 0, output
    for test in score["tests"]:
        assert not test["passed"]
        # Either this step's stub, or (all stubs being unfinished) an earlier step it builds on.
        assert re.match(r"not implemented yet: `|step\d\d builds on your step\d\d `.+`, which is not implemented yet",
                        test["hint"]), test
    assert f"{step}: 0/{score['max_points']} points" in output
    assert readme_points(step) == score["max_points"], \
        "the stubs are graded out of other points than the README's step table (and the solutions)"
    # Failures are one clean message each, never a traceback through the framework.
    assert "grader/" not in output and "Traceback" not in output, output
    assert "error" not in output.strip().splitlines()[-1], "a stub must fail its tests, not error in setup"


def test_score_line_comes_right_before_the_summary_line():
    score, output, _ = run_suite("step00")
    lines = output.strip().splitlines()
    assert lines[-2] == f"step00: 0/{score['max_points']} points"
    assert "failed" in lines[-1]


def test_score_json_format():
    score, _, _ = run_suite("step02", "--solutions")
    assert set(score) == {"step", "points", "max_points", "tests"}
    for test in score["tests"]:
        assert set(test) == {"name", "points", "max_points", "passed", "hint"}
        assert test["name"].startswith("test_dataset.py::test_")
        assert test["points"] == test["max_points"] and test["hint"] is None


def test_attention_longer_than_30_logical_lines_loses_its_points(tmp_path):
    root = copy_solutions(tmp_path)
    module = root / "step05" / "attention.py"
    anchor = "    d_k = q.shape[-1]\n"
    padding = "".join(f"    unused_{i} = {i}  # padding\n" for i in range(24))
    module.write_text(module.read_text().replace(anchor, padding + anchor))
    score, output, _ = run_suite("step05", "--student-root", str(root), "-k", "30_lines")
    assert score["points"] == 0, output
    assert "has 31 logical lines (max 30)" in output, output


# Correct code written differently from the reference must keep every point (found by a
# student run-through): (step, module, old text, new text).
CORRECT_VARIANTS = {
    "in_place_tril": ("step05", "attention.py", "return torch.tril(torch.ones(T, T, dtype=torch.bool))",
                      "return torch.ones(T, T, dtype=torch.bool).tril_()"),
    "attention_under_another_name": ("step05", "attention.py",
                                     "out, weights = scaled_dot_product_attention(q, k, v, mask=self.mask[:T, :T])",
                                     "attend = scaled_dot_product_attention\n"
                                     "        out, weights = attend(q, k, v, mask=self.mask[:T, :T])"),
    "position_table_with_a_batch_dim": ("step03", "positional.py",
                                        "x = x + self.position_table[: idx.shape[1]]",
                                        "x = x + self.position_table.unsqueeze(0)[:, : idx.shape[1]]"),
    "batched_heads_through_step05_attention": (
        "step06", "multi_head.py",
        "scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_size)  # (B, nh, T, T): all heads in one matmul\n"
        "        if self.causal:\n"
        "            scores = scores.masked_fill(~self.mask[:T, :T], float(\"-inf\"))\n"
        "        weights = F.softmax(scores, dim=-1)  # (B, nh, T, T)\n"
        "        self.last_attention = weights.detach()\n"
        "        return self.out_proj(self.merge_heads(weights @ v))",
        "out, weights = scaled_dot_product_attention(q, k, v, self.mask[:T, :T] if self.causal else None)\n"
        "        self.last_attention = weights.detach()\n"
        "        return self.out_proj(self.merge_heads(out))"),
    "tanh_gelu": ("step07", "block.py", "h = F.gelu(h) if", "h = F.gelu(h, approximate=\"tanh\") if"),
    "variance_by_hand": ("step07", "block.py", "var = x.var(dim=-1, keepdim=True, unbiased=False)  # (..., 1)",
                         "var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)"),
    "blocks_in_a_sequential": ("step08", "gpt.py",
                               "self.blocks = nn.ModuleList(\n            Block(C, config.n_head, config.block_size, "
                               "config.dropout, config.bias) for _ in range(config.n_layer))",
                               "self.blocks = nn.Sequential(*[Block(C, config.n_head, config.block_size, "
                               "config.dropout, config.bias)\n                                      "
                               "for _ in range(config.n_layer)])"),
}


@pytest.mark.parametrize("variant", CORRECT_VARIANTS)
def test_a_correct_variant_keeps_every_point(variant, tmp_path):
    step, name, old, new = CORRECT_VARIANTS[variant]
    root = copy_solutions(tmp_path)
    module = root / step / name
    assert module.read_text().count(old) == 1
    module.write_text(module.read_text().replace(old, new))
    score, output, _ = run_suite(step, "--student-root", str(root))
    assert score["points"] == score["max_points"], output


@pytest.mark.parametrize("step", STEPS)
def test_step_readme_points_add_up(step):
    """A step README's table of pieces adds up to the step's points (the main README's, checked above)."""
    text = (REPO / "exercises" / step / "README.md").read_text()
    header = re.search(r"^\|.*\| points \|$\n^\|[-|]+\|$\n((?:^\|.*\|$\n?)+)", text, re.M)
    assert header, f"{step}/README.md has no table with a points column"
    rows = []
    for row in header.group(1).strip().splitlines():
        points = re.search(r"\| (\d+) \|$", row)
        assert points, f"{step}/README.md: a row of the points table ends without a number: {row}"
        rows.append(int(points.group(1)))
    assert sum(rows) == readme_points(step), f"{step}/README.md: the rows add up to {sum(rows)}"
    stated = re.search(rf"pytest exercises/{step}` \((\d+) points\)", text)
    assert stated is None or int(stated.group(1)) == readme_points(step), f"{step}/README.md states other points"
