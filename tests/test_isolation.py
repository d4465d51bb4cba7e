"""A fault in one student function costs only the tests that call it, in both modes.

The reference step02 gets one broken function, ``num_examples``: it loops forever, or it
ends its process with ``os._exit``. Every test that fails in the full run must also fail
when run alone; equivalently, every test that passes alone passes in the full run, so
no correct function loses points to a neighbour's timeout or crash.
"""

import subprocess
import sys

import pytest

from helpers import REPO, copy_solutions, run_suite

MODES = {"sandbox": (), "in-process": ("--in-process",)}

FAULTS = {
    "endless_loop": "    while True:\n        pass\n",
    "crash": "    import os\n    os._exit(3)\n",
}

# The tests that call num_examples, directly or through NextTokenDataset.__len__.
CALLERS = {"test_num_examples", "test_dataset_len_and_items", "test_dataset_works_with_a_dataloader"}


def faulty_root(tmp_path, body):
    root = copy_solutions(tmp_path)
    module = root / "step02" / "dataset.py"
    module.write_text(module.read_text() + "\n\ndef num_examples(num_tokens, block_size):\n" + body)
    return root


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_costs_only_the_tests_that_reach_it(fault, mode, tmp_path):
    root = faulty_root(tmp_path, FAULTS[fault])
    options = ("--student-root", str(root), "--call-timeout", "1", *MODES[mode])
    score, output, _ = run_suite("step02", *options)
    failed = {t["name"].split("::")[1] for t in score["tests"] if not t["passed"]}
    assert failed == CALLERS, output
    for name in failed:  # each of them fails on its own too: the failure is its own
        alone, alone_output, _ = run_suite("step02", *options, "-k", name)
        assert alone["points"] == 0, alone_output
    if fault == "endless_loop":
        assert "timed out after 1 s in `" in output and "num_examples" in output
    else:
        assert "os._exit(3)" in output or "exited with code 3" in output


def test_in_process_timeout_names_the_function(tmp_path):
    root = faulty_root(tmp_path, FAULTS["endless_loop"])
    _, output, _ = run_suite("step02", "--student-root", str(root), "--call-timeout", "1", "--in-process",
                             "-k", "test_num_examples")
    assert "timed out after 1 s in `dataset.num_examples`" in output


def test_in_process_code_that_swallows_the_timeout_ends_the_run_with_a_message(tmp_path):
    body = ("    while True:\n"
            "        try:\n"
            "            while True:\n"
            "                pass\n"
            "        except BaseException:\n"
            "            pass\n")
    root = faulty_root(tmp_path, body)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "exercises/step02", "-q", "-p", "no:cacheprovider", "--in-process",
         "--student-root", str(root), "--call-timeout", "1", "-k", "test_num_examples"],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "`dataset.num_examples` kept running after its 1 s limit and swallowed the timeout" in result.stderr
