"""Student code cannot change a verdict: hostile submissions graded in sandbox mode.

Each case is the reference step00 with one piece of hostile code appended. The appended
code redefines ``bigram_counts`` (or runs at import), so the rest of the suite still runs.
"""

import subprocess
import sys
import textwrap

import pytest

from grader.isolation import unavailable_reason
from helpers import REPO, STEPS, copy_solutions, passed_tests, run_suite

WRONG_COUNTS = "    return torch.zeros(vocab_size, vocab_size, dtype=torch.long)\n"

HOSTILE = {
    "patches_the_checks": (
        "import pytest, torch.testing\n"
        "torch.testing.assert_close = lambda *a, **k: None\n"
        "torch.equal = lambda *a, **k: True\n"
        "pytest.approx = lambda *a, **k: True\n"
        "def bigram_counts(ids, vocab_size):\n" + WRONG_COUNTS
    ),
    "prints_a_fake_score": (
        "print('step00: 24/24 points')\n"
        "def bigram_counts(ids, vocab_size):\n"
        "    print('step00: 24/24 points')\n" + WRONG_COUNTS
    ),
    "calls_sys_exit": "import sys\ndef bigram_counts(ids, vocab_size):\n    sys.exit(0)\n",
    "loops_forever": "def bigram_counts(ids, vocab_size):\n    while True:\n        pass\n",
    "allocates_too_much": (
        "def bigram_counts(ids, vocab_size):\n"
        "    return torch.ones(3 * 1024**3, dtype=torch.float32)\n"
    ),
    "sends_a_malicious_pickle": textwrap.dedent("""
        import os, pickle, sys
        class Payload:
            def __reduce__(self):
                return (os.system, ("touch {marker}",))
        # The worker module is grader.worker when forked and __main__ when spawned.
        for name in ("grader.worker", "__main__"):
            if hasattr(sys.modules.get(name), "dump_reply"):
                sys.modules[name].dump_reply = lambda reply: pickle.dumps(Payload())
    """),
}


# Appended to a student module: at import, before any test, it replaces the worker's probe lookup so
# that every probe answers what a perfect submission would. It knows the suites' probes by name, the
# way a student who read the test files would: losses of a perfect run without training, the model's
# own logits as the "expected" ones, a short source, flattering measurements and observations.
FORGES_EVERY_PROBE = textwrap.dedent("""
    import sys as _sys
    import torch as _torch

    def _forge(qualname, real):
        def forged(*args, **kwargs):
            if qualname in ("adam_steps", "train_full_batch"):  # a perfect run, and no training at all
                steps = kwargs.get("steps", args[3] if qualname == "adam_steps" else args[2])
                return [10.0] + [0.0] * (steps - 1)
            if qualname == "source_of":
                return "def scaled_dot_product_attention(q, k, v):\\n    pass\\n"
            if qualname == "recomputed_logits":  # the expected logits are whatever the model gives
                value = real(*args, **kwargs)
                return {**value, "right": args[0](args[1])[0].detach()}
            if qualname == "deep_stack":
                residual, x = args[2], args[3]
                if len(args) > 4:  # measurements made in the worker
                    return {"cosine": 0.9 if residual else 0.0, "gradient": 1.0 if residual else 0.0}
                value = real(*args, **kwargs)
                return {**value, "output": x.clone() if residual else _torch.zeros_like(x)}
            value = real(*args, **kwargs)
            if isinstance(value, dict):
                value = {**value, "operators": ["_softmax", "bmm", "mm", "tril"], "functions": [], "calls": 1,
                         "counts": {"bmm": 2, "_softmax": 1}}
            elif isinstance(value, bool):
                value = not qualname.endswith("requires_grad")
            return value
        return forged

    for _name in ("grader.worker", "__main__"):
        _worker = getattr(_sys.modules.get(_name), "Worker", None)
        if _worker is not None and not getattr(_worker, "_forged", False):
            def _probe(self, path, module_name, qualname, _real=_worker.probe):
                return _forge(qualname, _real(self, path, module_name, qualname))

            _worker.probe, _worker._forged = _probe, True
""")

# Wrong code for the forgery to pass off as right: step -> (module, [(old, new), ...]).
PADDING = "".join(f"    _unused_{i} = {i}\n" for i in range(30))
WRONG_CODE = {
    "step04": ("mlp_lm.py", [("layers += [nn.Linear(hidden, hidden), nn.ReLU()]",
                              "layers += [nn.Linear(hidden, hidden)]")]),
    "step05": ("attention.py", [("    d_k = q.shape[-1]\n", "    d_k = q.shape[-1]\n" + PADDING)]),
    "step07": ("block.py", [("x = x + attended if self.residual else attended", "x = x + attended"),
                            ("return x + thought if self.residual else thought", "return x + thought")]),
    "step08": ("gpt.py", [("logits = x @ self.token_embedding.weight.T",
                           "logits = 0.0 * (x @ self.token_embedding.weight.T)")]),
}


def hostile_root(tmp_path, code):
    root = copy_solutions(tmp_path)
    module = root / "step00" / "bigram.py"
    module.write_text(module.read_text() + "\n\n" + code)
    return root


def counts_tests(score):
    return [t for t in score["tests"] if "counts" in t["name"]]


@pytest.mark.parametrize("case", ["patches_the_checks", "prints_a_fake_score"])
def test_cheating_code_still_fails(case, tmp_path):
    score, output, _ = run_suite("step00", "--student-root", str(hostile_root(tmp_path, HOSTILE[case])))
    assert not any(t["passed"] for t in counts_tests(score))
    assert score["points"] == score["max_points"] - 4
    assert output.strip().splitlines()[-2] == f"step00: {score['points']}/{score['max_points']} points"


@pytest.mark.parametrize("step", sorted(WRONG_CODE))
def test_forged_probe_answers_earn_nothing(step, tmp_path):
    module, edits = WRONG_CODE[step]
    scores = {}
    for forged in (False, True):
        root = copy_solutions(tmp_path / ("forged" if forged else "plain"))
        path = root / step / module
        source = path.read_text()
        for old, new in edits:
            assert source.count(old) == 1, old
            source = source.replace(old, new)
        path.write_text(source + ("\n\n" + FORGES_EVERY_PROBE if forged else ""))
        score, output, _ = run_suite(step, "--student-root", str(root))
        assert score, output
        scores[forged] = score
    assert scores[False]["points"] < scores[False]["max_points"]
    # Test by test: a test the wrong code fails stays failed when every probe lies for it.
    passed = {forged: {name for name, ok in passed_tests(score).items() if ok} for forged, score in scores.items()}
    assert passed[True] <= passed[False], f"forging the probes passed {sorted(passed[True] - passed[False])}"


@pytest.mark.skipif(unavailable_reason() is not None, reason=f"bubblewrap cannot run here: {unavailable_reason()}")
def test_under_isolate_the_worker_writes_in_the_basetemp_and_nowhere_beside_it(tmp_path):
    # With --basetemp=.bt the folder beside it is the checkout itself: the worker must not write there.
    basetemp, beside = tmp_path / "bt", tmp_path / "beside.txt"
    code = (f"for _path in ({str(beside)!r}, {str(basetemp / 'inside.txt')!r}):\n"
            "    try:\n        open(_path, 'w').write('x')\n    except OSError:\n        pass\n")
    score, output, _ = run_suite("step00", "--student-root", str(hostile_root(tmp_path, code)), "--isolate",
                                 "--basetemp", str(basetemp))
    assert score["points"] == score["max_points"], output
    assert not beside.exists(), "the sandbox wrote beside the tests' scratch folder"
    assert (basetemp / "inside.txt").exists(), "the tests' scratch folder is not writable in the sandbox"


def test_sys_exit_is_a_clean_failure(tmp_path):
    score, output, _ = run_suite("step00", "--student-root", str(hostile_root(tmp_path, HOSTILE["calls_sys_exit"])))
    assert score["points"] == score["max_points"] - 4
    assert "your `bigram.bigram_counts` raised SystemExit at solutions/step00/bigram.py" in output


def test_endless_loop_times_out_and_the_rest_still_runs(tmp_path):
    root = hostile_root(tmp_path, HOSTILE["loops_forever"])
    score, output, _ = run_suite("step00", "--student-root", str(root), "--call-timeout", "2")
    assert "timed out after 2 s in `bigram.bigram_counts`" in output
    assert "the call ran out of time" in output  # the hint says a timeout may be the machine's
    assert score["points"] == score["max_points"] - 4


@pytest.mark.parametrize("backend", ["sandbox", "in-process"])
def test_a_probes_warm_up_does_not_count_against_its_time_limit(backend):
    # The operator probes' first dispatch mode imports torch._dynamo, seconds on a busy machine:
    # a probe names such a one-time cost as its warm_up, and the seam pays it before the timed call.
    import slow_warm_up_probe
    from grader.seam import InProcess, Sandbox

    if backend == "sandbox":
        seam = Sandbox(REPO / "solutions", timeout_s=1.0)
        try:
            assert seam.probe(slow_warm_up_probe.quick_probe, (), {}) == "answered"
        finally:
            seam.stop()
    else:
        seam = InProcess(REPO / "solutions")
        with seam.time_limit(1.0):
            assert seam.probe(slow_warm_up_probe.quick_probe, (), {}) == "answered"


def test_memory_limit_turns_a_huge_allocation_into_an_error(tmp_path):
    root = hostile_root(tmp_path, HOSTILE["allocates_too_much"])
    score, output, _ = run_suite("step00", "--student-root", str(root), "--worker-memory-mb", "2048")
    assert score["points"] == score["max_points"] - 4
    assert "your `bigram.bigram_counts` raised" in output


def test_exit_during_import_is_reported(tmp_path):
    root = hostile_root(tmp_path, "import os\nos._exit(0)\n")
    score, output, _ = run_suite("step00", "--student-root", str(root))
    assert score["points"] == 0
    assert "the worker exited with code 0 during import of step00/bigram.py" in output


def test_a_malicious_reply_is_refused_not_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    root = hostile_root(tmp_path, HOSTILE["sends_a_malicious_pickle"].replace("{marker}", str(marker)))
    score, output, _ = run_suite("step00", "--student-root", str(root))
    assert not marker.exists(), "the grading process ran code from the worker's reply"
    assert score["points"] == 0
    assert "was refused" in output


@pytest.mark.parametrize("step", STEPS)
def test_the_reference_passes_under_other_grading_seeds(step):
    for seed in ("1", "12345"):
        score, output, code = run_suite(step, "--solutions", "--grading-seed", seed)
        assert code == 0 and score["points"] == score["max_points"], output


def test_hard_coded_answers_fail_under_another_grading_seed(tmp_path):
    # A submission that memorised the default seed's expected merges passes by default only.
    root = copy_solutions(tmp_path)
    probe = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(f"""
            import random, sys
            sys.path.insert(0, {str(REPO)!r})
            import zlib
            from exercises.step01.test_bpe import random_text, reference_learn
            seed = zlib.crc32(b"0:test_train_matches_definition") % (2**31)
            rng = random.Random(seed)
            print([reference_learn({{random_text(rng, 120).encode(): 1}}, 30) for _ in range(3)])
        """)], capture_output=True, text=True, cwd=REPO, check=True)
    module = root / "step01" / "bpe.py"
    module.write_text(module.read_text() + textwrap.dedent(f"""

        _MEMORISED = iter({probe.stdout.strip()})
        def train(text, vocab_size):
            return next(_MEMORISED)
    """))
    default, _, _ = run_suite("step01", "--student-root", str(root), "-k", "train_matches_definition")
    other, _, _ = run_suite("step01", "--student-root", str(root), "-k", "train_matches_definition",
                            "--grading-seed", "7")
    assert default["points"] == default["max_points"]
    assert other["points"] == 0


def test_printed_output_is_shown_under_the_test_that_printed(tmp_path):
    root = hostile_root(tmp_path, "def bigram_counts(ids, vocab_size):\n    print('debugging: N =', len(ids))\n"
                                  + WRONG_COUNTS)
    _, output, _ = run_suite("step00", "--student-root", str(root), "-k", "counts_of_abab")
    captured = output.split("Captured stdout call")[1]
    assert "debugging: N = 12" in captured


@pytest.mark.parametrize("options", [(), ("--in-process",)])
def test_a_module_that_does_not_import_says_so(tmp_path, options):
    root = hostile_root(tmp_path, "def broken(:\n")
    score, output, _ = run_suite("step00", "--student-root", str(root), *options)
    assert score["points"] == 0
    assert "step00/bigram.py does not import: SyntaxError" in output
    assert all(t["hint"].startswith("fix this first") for t in score["tests"])


def test_a_module_that_does_not_import_is_one_headline(tmp_path):
    root = hostile_root(tmp_path, "def broken(:\n")
    score, output, _ = run_suite("step00", "--student-root", str(root))
    grade = output.split(" grade ")[1]
    assert grade.count("does not import") == 1, grade
    assert (f"fix this first: its {len(score['tests'])} tests ({score['max_points']} points) cannot pass "
            "until it imports") in grade
    # The full error appears twice: in the first failure and in the headline. (pytest's short summary may
    # repeat failure messages, untruncated on CI, so it is left out of the count.)
    failures = output.split("short test summary info")[0]
    assert failures.count("SyntaxError at solutions/step00/bigram.py:") == 1, failures
    assert grade.count("SyntaxError at solutions/step00/bigram.py:") == 1, grade


def test_a_leftover_breakpoint_is_skipped_with_a_note(tmp_path):
    root = copy_solutions(tmp_path)
    module = root / "step00" / "bigram.py"
    anchor = "    counts = torch.zeros(vocab_size, vocab_size, dtype=torch.long)\n"
    module.write_text(module.read_text().replace(anchor, "    breakpoint()\n" + anchor))
    score, output, _ = run_suite("step00", "--student-root", str(root))
    assert score["points"] == score["max_points"], "a leftover breakpoint() must not cost points"
    assert "note: breakpoint() at solutions/step00/bigram.py:" in output
    assert "run `pytest exercises/step00 --in-process`" in output


def test_an_error_inside_a_probe_points_at_the_student_line(tmp_path):
    root = copy_solutions(tmp_path)
    module = root / "step02" / "dataset.py"
    source = module.read_text() + (
        "\n\ndef _broken_item(self, index):\n"
        "    raise RuntimeError('index out of range, oops')\n"
        "NextTokenDataset.__getitem__ = _broken_item\n")
    module.write_text(source)
    raise_line = source.splitlines().index("    raise RuntimeError('index out of range, oops')") + 1
    _, output, _ = run_suite("step02", "--student-root", str(root), "-k", "dataloader")
    assert (f"your code raised RuntimeError at solutions/step02/dataset.py:{raise_line} while the test's probe "
            "`run_dataloader` used it") in output, output
    assert "test_dataset.py:1" not in output.split("hint:")[0].split("raised RuntimeError")[1].split("\n")[0]


def test_pytest_xdist_gives_the_same_grade(tmp_path):
    root = copy_solutions(tmp_path)
    module = root / "step01" / "bpe.py"
    module.write_text(module.read_text().replace("            i += 2", "            i += 1"))  # merges overlap
    alone, _, _ = run_suite("step01", "--student-root", str(root))
    spread, output, _ = run_suite("step01", "--student-root", str(root), "-n", "2")
    assert 0 < spread["points"] < spread["max_points"]
    assert passed_tests(spread) == passed_tests(alone)
    assert f"step01: {spread['points']}/{spread['max_points']} points" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("mode", [(), ("--in-process",)], ids=["sandbox", "in-process"])
def test_torch_not_implemented_is_not_an_unwritten_stub(mode, tmp_path):
    """torch raises NotImplementedError for an operator without a kernel for a dtype ("bincount_cpu" not
    implemented for 'Float'); the student's line calling it is not a stub. Both modes say the same."""
    root = copy_solutions(tmp_path)
    module = root / "step10" / "sampling.py"
    old = "    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)\n"
    source = module.read_text()
    assert source.count(old) == 1
    module.write_text(source.replace(old, "    torch.bincount(logits.flatten())\n" + old))
    score, output, _ = run_suite("step10/test_sampling.py", "--student-root", str(root), *mode)
    failed = [t for t in score["tests"] if not t["passed"]]
    assert failed, output
    stubs = [t["name"] for t in failed if t["hint"].startswith("not implemented yet")]
    assert not stubs, f"called unwritten stubs: {stubs}"
