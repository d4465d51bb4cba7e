"""Benchmark: training byte-level BPE on the Shakespeare corpus, three ways, in one run.

1. naive: after every merge, count every pair of every chunk again (what a first
   implementation does);
2. reference: the course's solution, which keeps pair counts up to date incrementally and
   counts each distinct chunk once;
3. HF tokenizers: Hugging Face's Rust trainer with the same split pattern.

All three split the text with GPT-4's pattern and learn vocab_size - 256 merges. The naive
and reference trainers use the same tie rule, so their merges must be identical (checked).

    python bench/bpe.py                  # print the figures
    python bench/bpe.py --write-readme   # also put them in README.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from course.data import shakespeare  # noqa: E402
from readme import fill_readme  # noqa: E402
from solutions.step01.bpe import merge_pair  # noqa: E402
from solutions.step01.regex_bpe import GPT4_SPLIT_PATTERN, split_chunks, train_regex  # noqa: E402


def naive_train(text: str, vocab_size: int) -> list[tuple[int, int]]:
    """Recount every pair of every chunk occurrence after each merge."""
    pieces = [list(chunk.encode("utf-8")) for chunk in split_chunks(text)]
    merges = []
    for new_id in range(256, vocab_size):
        counts: dict[tuple[int, int], int] = defaultdict(int)
        for piece in pieces:
            for pair in zip(piece, piece[1:]):
                counts[pair] += 1
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        pieces = [merge_pair(piece, best, new_id) if len(piece) > 1 else piece for piece in pieces]
    return merges


def hf_train(text: str, vocab_size: int) -> int:
    """Train Hugging Face's BPE with the same split; return the number of merges learned."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GPT4_SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False, min_frequency=0)
    tokenizer.train_from_iterator([text], trainer=trainer)
    return vocab_size - 256


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--skip-naive", action="store_true", help="skip the slow naive trainer (minutes)")
    parser.add_argument("--write-readme", action="store_true", help="replace the BPE figures in README.md")
    args = parser.parse_args()

    text = shakespeare()
    print(f"corpus: Shakespeare, {len(text):,} characters, {len(text.encode()):,} bytes; "
          f"vocab {args.vocab_size} ({args.vocab_size - 256} merges)")
    reference, t_reference = timed(train_regex, text, args.vocab_size)
    print(f"reference (incremental): {t_reference:8.2f} s")
    _, t_hf = timed(hf_train, text, args.vocab_size)
    print(f"HF tokenizers (Rust):    {t_hf:8.2f} s")
    rows = [("course reference (incremental counts)", t_reference), ("HF `tokenizers` (Rust)", t_hf)]
    if not args.skip_naive:
        naive, t_naive = timed(naive_train, text, args.vocab_size)
        print(f"naive (recount):         {t_naive:8.2f} s")
        assert naive == reference, "naive and reference merges differ"
        print("naive and reference learned identical merges")
        rows.insert(0, ("naive recount", t_naive))
    print(f"reference vs HF: {t_reference / t_hf:.2f}x the time of HF tokenizers")
    if not args.skip_naive:
        print(f"reference vs naive: {t_naive / t_reference:.0f}x faster")

    if args.write_readme:
        machine = f"{os.cpu_count()} cores, Python {platform.python_version()}"
        lines = [f"Training byte-level BPE on the Shakespeare corpus ({len(text.encode()):,} bytes) to vocab "
                 f"{args.vocab_size}, GPT-4 split pattern, {machine} (`python bench/bpe.py`):", "",
                 "| trainer | time (s) | relative to reference |", "|---|---|---|"]
        for name, seconds in rows:
            lines.append(f"| {name} | {seconds:.2f} | {seconds / t_reference:.2f}x |")
        fill_readme("bpe", "\n".join(lines))
        print("README.md updated")


if __name__ == "__main__":
    main()
