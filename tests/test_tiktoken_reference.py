"""The reference rank tokenizer reproduces OpenAI's tiktoken (GPT-4, cl100k_base) exactly.

The grading suite checks students on a handful of texts; this checks the reference on many
more, including random Unicode, so the suite's expectations are themselves trustworthy.
"""

import random

import pytest
import tiktoken

from course.data import cl100k_ranks_path, shakespeare
from solutions.step01.regex_bpe import GPT4_SPLIT_PATTERN, RankTokenizer, load_tiktoken_ranks


@pytest.fixture(scope="module")
def tokenizers():
    ranks = load_tiktoken_ranks(cl100k_ranks_path())
    reference = tiktoken.Encoding("cl100k_from_file", pat_str=GPT4_SPLIT_PATTERN, mergeable_ranks=ranks,
                                  special_tokens={})
    return RankTokenizer(ranks), reference


def test_same_as_the_packaged_cl100k_encoding(tokenizers):
    ours, reference = tokenizers
    assert len(ours.ranks) == reference.n_vocab == 100256


def random_unicode(rng: random.Random, length: int) -> str:
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x4E00, 0x4FFF), (0x3040, 0x30FF),
              (0xAC00, 0xAD00), (0x1F300, 0x1F6FF), (0x9, 0xD)]
    out = []
    for _ in range(length):
        low, high = rng.choice(blocks)
        out.append(chr(rng.randint(low, high)))
    return "".join(out)


def test_random_unicode_matches(tokenizers):
    ours, reference = tokenizers
    rng = random.Random(2024)
    for _ in range(300):
        text = random_unicode(rng, rng.randint(1, 60))
        assert ours.encode(text) == reference.encode_ordinary(text), repr(text)
        assert ours.decode(ours.encode(text)) == text


def test_shakespeare_excerpt_matches(tokenizers):
    ours, reference = tokenizers
    text = shakespeare()[:20_000]
    assert ours.encode(text) == reference.encode_ordinary(text)
