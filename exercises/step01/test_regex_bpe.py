"""Grading suite for step 01c: regex pre-tokenization and rank tables (``regex_bpe.py``).

The last tests load GPT-4's real rank table (cl100k_base, shipped by the package
``bpe-openai``) and compare your ``RankTokenizer`` with OpenAI's ``tiktoken`` built from
the same table: your ids must be exactly theirs.
"""

import random
from collections import Counter

import pytest
import regex

from course.data import cl100k_ranks_path
from grader import hint, points

OTHER_PATTERN = r"\s+|\S+"  # words and runs of spaces: not the default, so a pattern argument that is ignored shows
PATTERN_HINT = ("use the `pattern` you are given (split_chunks(text, pattern), self.pattern): the GPT-4 pattern is "
                "only the default")

from .test_bpe import random_text, reference_encode, reference_learn

GPT4_SPLIT_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)

# Text that exercises every branch of the split pattern.
VARIED_TEXTS = [
    "Hello world! It's 2024, and we've 1234567 reasons.",
    "  leading spaces,   runs   of   spaces\tand\ttabs  \n\n\nnew lines\r\n",
    "Café déjà vu, naïve señor. Ünïcödé: ÅÄÖ åäö ß",
    "emoji 🙂👍🏽 👩‍💻 flags 🇫🇷 and CJK 日本語のテキスト 中文 한국어",
    "def f(x):\n    return {'a': x**2, \"b\": [1, 2, 3]}  # code\n",
    "I'LL SHOUT, you'd whisper; they're here... 3.14159 $100 @user #tag",
]


def words_text(rng: random.Random, n_words: int) -> str:
    """Words separated by runs of one to three spaces: the pattern puts a run's last space
    in front of the next word, so a space pair occurs both inside chunks and across them."""
    words = ["the", "cat", "sat", "on", "mat", "and", "dog", "ran", "déjà", "vu", "🙂"]
    text = rng.choice(words)
    for _ in range(n_words - 1):
        text += rng.choice([" ", "  ", "   "]) + rng.choice(words)
    return text + "."


# --- splitting ---------------------------------------------------------------------------------

@points(2, hint="split with regex.findall and the GPT-4 pattern (the `regex` module: `re` has no \\p{L})")
def test_split_chunks(student):
    for text in VARIED_TEXTS:
        chunks = student.regex_bpe.split_chunks(text)
        assert chunks == regex.findall(GPT4_SPLIT_PATTERN, text)
        assert "".join(chunks) == text
    with hint(PATTERN_HINT):
        assert student.regex_bpe.split_chunks(VARIED_TEXTS[0], OTHER_PATTERN) == \
            regex.findall(OTHER_PATTERN, VARIED_TEXTS[0])


# --- training and encoding inside chunks -----------------------------------------------------------

@points(3, hint="merges never cross chunk boundaries: count pairs inside each regex chunk, "
                "and count a repeated chunk once per occurrence",
        builds_on={"split_chunks": "test_split_chunks", "learn_merges": "test_learn_merges_weighs_chunks",
                   "merge_pair": "test_merge_pair"})
def test_train_never_merges_across_chunks(student, seed):
    rng = random.Random(seed)
    text = words_text(rng, 150)
    chunk_counts = Counter(chunk.encode() for chunk in regex.findall(GPT4_SPLIT_PATTERN, text))
    expected = reference_learn(dict(chunk_counts), 30)
    merges = [tuple(pair) for pair in student.regex_bpe.train_regex(text, 256 + 30)]
    with hint("train_regex(text, vocab_size) learns vocab_size - 256 merges: the 256 bytes are in the vocabulary "
              "already"):
        assert len(merges) == len(expected), f"train_regex(text, 286) learned {len(merges)} merges"
    assert merges == expected
    with hint(PATTERN_HINT):
        other = reference_learn(dict(Counter(chunk.encode() for chunk in regex.findall(OTHER_PATTERN, text))), 10)
        assert [tuple(pair) for pair in student.regex_bpe.train_regex(text, 256 + 10, OTHER_PATTERN)] == other


@points(2, hint="encode each regex chunk on its own with encode_bytes, then concatenate the ids",
        builds_on={"split_chunks": "test_split_chunks", "encode_bytes": "test_encode_applies_merges_in_learned_order"})
def test_encode_chunk_by_chunk(student, seed):
    rng = random.Random(seed)
    training = words_text(rng, 200)
    merges = reference_learn(dict(Counter(c.encode() for c in regex.findall(GPT4_SPLIT_PATTERN, training))), 40)
    tokenizer = student.regex_bpe.RegexBPETokenizer(merges)
    for text in [words_text(rng, 20), VARIED_TEXTS[0]]:
        expected = [i for chunk in regex.findall(GPT4_SPLIT_PATTERN, text) for i in reference_encode(chunk.encode(), merges)]
        assert tokenizer.encode(text) == expected
        assert tokenizer.decode(tokenizer.encode(text)) == text
    with hint(PATTERN_HINT):
        tokenizer = student.regex_bpe.RegexBPETokenizer(merges, OTHER_PATTERN)
        text = VARIED_TEXTS[0]
        assert tokenizer.encode(text) == [i for chunk in regex.findall(OTHER_PATTERN, text)
                                          for i in reference_encode(chunk.encode(), merges)]


# --- rank tables ----------------------------------------------------------------------------------------

def ranks_from_merges(merges) -> dict:
    """A rank table equivalent to ``merges``: byte i has rank i, merge k has rank 256 + k."""
    vocab = {i: bytes([i]) for i in range(256)}
    for k, (a, b) in enumerate(merges):
        vocab[256 + k] = vocab[a] + vocab[b]
    return {token: rank for rank, token in vocab.items()}


def greedy_longest_match(chunk: bytes, ranks: dict) -> list:
    """A tempting shortcut that is NOT byte-pair encoding: take the longest known prefix, repeat."""
    ids, start = [], 0
    while start < len(chunk):
        end = max(e for e in range(start + 1, len(chunk) + 1) if chunk[start:e] in ranks)
        ids.append(ranks[chunk[start:end]])
        start = end
    return ids


@points(3, hint="in a chunk, merge the adjacent pair whose joined bytes have the LOWEST rank, "
                "and repeat until no joined pair is in the table",
        builds_on={"split_chunks": "test_split_chunks"})
def test_rank_tokenizer_on_a_small_table(student, seed):
    # "aa" occurs twice, overlapping, in "aaa": the leftmost is merged, as merging left to right does.
    a = ord("a")
    table = {**{bytes([i]): i for i in range(256)}, b"aa": 256}
    with hint("when the lowest-rank pair occurs more than once, merge its LEFTMOST occurrence first: "
              "'aaa' -> 'aa' + 'a' (min over (rank, position))"):
        assert student.regex_bpe.RankTokenizer(table).encode("aaa") == [256, a]
    rng = random.Random(seed)
    merges = reference_learn({random_text(rng, 300).encode(): 1}, 40)
    ranks = ranks_from_merges(merges)
    tokenizer = student.regex_bpe.RankTokenizer(ranks)
    for _ in range(6):
        text = random_text(rng, 50)
        chunks = [chunk.encode() for chunk in regex.findall(GPT4_SPLIT_PATTERN, text)]
        expected = [i for chunk in chunks for i in reference_encode(chunk, merges)]
        ids = tokenizer.encode(text)
        greedy = [i for chunk in chunks for i in greedy_longest_match(chunk, ranks)]
        if ids != expected and ids == greedy:
            with hint("your ids are those of greedy longest-match (longest known prefix first), which is not "
                      "BPE: merge the adjacent pair with the LOWEST rank first, again and again"):
                assert ids == expected
        assert ids == expected
    with hint("decode joins the bytes of every id and decodes UTF-8 once with errors='replace': "
              "a lone byte of a multi-byte character becomes U+FFFD, it does not raise"):
        first_byte_of_emoji = "🙂".encode()[0]
        assert tokenizer.decode([first_byte_of_emoji]) == "\ufffd"
        assert tokenizer.decode([ord("a"), first_byte_of_emoji, ord("b")]) == "a\ufffdb"
    with hint("vocab_size is one more than the largest rank"):
        assert tokenizer.vocab_size == max(ranks.values()) + 1
    with hint("decode raises ValueError for an id that is not in the table"):
        with pytest.raises(ValueError):
            tokenizer.decode([max(ranks.values()) + 5])
    # A table with a gap in its ranks (a tokenizer's table may skip ids, e.g. those kept for special tokens).
    gapped = student.regex_bpe.RankTokenizer({**{bytes([i]): i for i in range(256)}, b"aa": 300})
    with hint("vocab_size is one more than the LARGEST rank, not the number of entries: a table may skip ids"):
        assert gapped.vocab_size == 301, f"a table of ranks 0..255 and 300 has vocab_size {gapped.vocab_size}"
    with hint("decode raises ValueError for an id that is not in the table: a negative id, or one in a gap of "
              "the ranks, as well as one past the end (a KeyError or a wrap-around is not that)"):
        for missing in (-1, 280):
            with pytest.raises(ValueError):
                gapped.decode([97, missing])
    with hint(PATTERN_HINT):
        tokenizer = student.regex_bpe.RankTokenizer(ranks, OTHER_PATTERN)
        text = random_text(rng, 50)
        assert tokenizer.encode(text) == [i for chunk in regex.findall(OTHER_PATTERN, text)
                                          for i in reference_encode(chunk.encode(), merges)]


def load_cl100k() -> dict:
    import base64
    import gzip

    with gzip.open(cl100k_ranks_path(), "rb") as handle:
        return {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in handle if line.strip())}


@points(4, hint="with GPT-4's rank table your ids must equal tiktoken's: split with the GPT-4 pattern, "
                "then in each chunk merge the lowest-rank pair first", timeout=60,
        builds_on={"split_chunks": "test_split_chunks"})
def test_matches_tiktoken_cl100k(student):
    import tiktoken  # installed by `make setup` (the course's test extras)

    ranks = load_cl100k()
    reference = tiktoken.Encoding("cl100k_from_file", pat_str=GPT4_SPLIT_PATTERN, mergeable_ranks=ranks,
                                  special_tokens={})
    tokenizer = student.regex_bpe.RankTokenizer(ranks)
    for text in VARIED_TEXTS:
        assert tokenizer.encode(text) == reference.encode_ordinary(text), f"ids differ on {text!r}"
    with hint("decode joins the bytes of every id and decodes UTF-8 once"):
        for text in VARIED_TEXTS:
            assert tokenizer.decode(reference.encode_ordinary(text)) == text
