"""Grading suite for step 01b: byte-level BPE (``bpe.py``).

Your merges are compared with a slow reference written straight from the definition
(below): count every pair, take the most frequent (ties: the smallest pair), replace it
everywhere, repeat. Inputs are random text drawn from this test's seed, so a solution
that only handles the examples here will not pass when graded with another seed.
"""

import random
from collections import Counter

import pytest

from grader import hint, points
from grader.probes import arguments_after_the_call

# A small alphabet with accents and emoji: short texts then have many repeated pairs.
ALPHABET = ["a", "b", "c", "d", " ", "é", "ü", "🙂", "日"]


def random_text(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(length))


# --- the definition, slow and simple --------------------------------------------------

def reference_merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if ids[i:i + 2] == list(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def reference_learn(chunks: dict, num_merges: int) -> list:
    pieces = [(list(chunk), count) for chunk, count in chunks.items()]
    merges = []
    for new_id in range(256, 256 + num_merges):
        counts = Counter()
        for piece, count in pieces:
            for pair in zip(piece, piece[1:]):
                counts[pair] += count
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        pieces = [(reference_merge(piece, best, new_id), count) for piece, count in pieces]
    return merges


def reference_encode(data: bytes, merges) -> list:
    ids = list(data)
    for i, pair in enumerate(merges):  # replaying merges in order = lowest rank first
        ids = reference_merge(ids, pair, 256 + i)
    return ids


def as_pairs(merges):
    return [tuple(pair) for pair in merges]


# --- the building blocks ----------------------------------------------------------------

@points(2, hint="count every adjacent pair (ids[i], ids[i+1]), including overlapping ones")
def test_pair_counts(student, seed):
    rng = random.Random(seed)
    ids = [rng.randrange(5) for _ in range(60)]
    counts = student.bpe.pair_counts(ids)
    with hint("the last pair (ids[-2], ids[-1]) is missing: a list of n ids has n - 1 pairs, "
              "so i runs over range(len(ids) - 1)"):
        assert counts != dict(Counter(zip(ids[:-1], ids[1:-1])))
    assert student.bpe.pair_counts([1, 2, 1, 2]) == {(1, 2): 2, (2, 1): 1}
    assert counts == dict(Counter(zip(ids, ids[1:])))
    assert student.bpe.pair_counts([3]) == {}


@points(2, hint="after merging a pair, skip both of its ids: occurrences cannot overlap ([7, 7, 7] -> [Z, 7])")
def test_merge_pair(student, seed):
    for ids, merged in (([1, 2, 3], [256, 3]), ([5], [5])):
        result = student.bpe.merge_pair(ids, (1, 2), 256)
        if result == merged[:-1]:
            with hint("the last id is dropped when it is not part of a merge: keep scanning until i reaches "
                      "len(ids), not len(ids) - 1"):
                assert result == merged
    assert student.bpe.merge_pair([7, 7, 7], (7, 7), 300) == [300, 7]
    assert student.bpe.merge_pair([1, 2, 3, 1, 2], (1, 2), 256) == [256, 3, 256]
    rng = random.Random(seed)
    for _ in range(20):
        ids = [rng.randrange(3) for _ in range(30)]
        pair = (rng.randrange(3), rng.randrange(3))
        assert student.bpe.merge_pair(ids, pair, 99) == reference_merge(ids, pair, 99)
    with hint("merge_pair returns a NEW list and leaves ids as it was (no ids[i:i + 2] = [new_id], no del): "
              "the caller may still need the old ids"):
        ids = [1, 2, 3, 1, 2]
        after, _, _ = student.probe(arguments_after_the_call, student.bpe.merge_pair, list(ids), (1, 2), 256)
        assert after == ids, f"after merge_pair(ids, (1, 2), 256), ids is {after}"


def reference_most_frequent(counts: dict):
    best = max(counts.values())
    return min(pair for pair, count in counts.items() if count == best)


@points(2, hint="ties between equally frequent pairs go to the smallest pair (a, b): compare a first, then b")
def test_most_frequent_pair_and_ties(student, seed):
    with hint("return the pair with the HIGHEST count; the order of the pairs only breaks ties"):
        assert student.bpe.most_frequent_pair({(9, 9): 5, (1, 2): 3, (0, 4): 1}) == (9, 9)
        assert student.bpe.most_frequent_pair({(0, 9): 7, (5, 1): 2, (3, 3): 1}) == (0, 9)
    assert student.bpe.most_frequent_pair({(256, 97): 2, (97, 98): 2, (98, 99): 1}) == (97, 98)
    assert student.bpe.most_frequent_pair({(4, 9): 3, (4, 2): 3, (7, 0): 3}) == (4, 2)
    rng = random.Random(seed)
    for _ in range(10):
        counts = {(rng.randrange(6), rng.randrange(6)): rng.randrange(1, 5) for _ in range(12)}
        assert student.bpe.most_frequent_pair(counts) == reference_most_frequent(counts)


# --- training ------------------------------------------------------------------------------

# Training is built from the three functions above: when one of them fails its own test,
# the training tests say to fix it first instead of showing a confusing list of merges.
BUILDING_BLOCKS = {"pair_counts": "test_pair_counts", "merge_pair": "test_merge_pair",
                   "most_frequent_pair": "test_most_frequent_pair_and_ties"}

@points(2, hint="the classic example: (a, a) -> 256, then the tie between (256, a) and (a, b) goes to "
                "the smaller pair (a, b) -> 257, then (256, 257)", builds_on=BUILDING_BLOCKS)
def test_classic_aaabdaaabac(student):
    merges = student.bpe.train("aaabdaaabac", 259)
    a, b = ord("a"), ord("b")
    if as_pairs(merges)[:2] == [(a, a), (a, b)] and len(merges) == 3:
        with hint("merge i creates the id 256 + i: the first merge is 256, the second 257 (0-255 are the bytes)"):
            assert as_pairs(merges)[2] == (256, 257), f"the third merge joins {as_pairs(merges)[2]}"
    assert as_pairs(merges) == [(a, a), (a, b), (256, 257)]


@points(3, hint="each round merges the most frequent pair of the CURRENT ids (recount after every merge), "
                "ties to the smallest pair", builds_on=BUILDING_BLOCKS)
def test_train_matches_definition(student, seed):
    rng = random.Random(seed)
    for _ in range(3):
        text = random_text(rng, 120)
        expected = reference_learn({text.encode("utf-8"): 1}, 30)
        assert as_pairs(student.bpe.train(text, 256 + 30)) == expected


@points(2, hint="a chunk that occurs n times counts n times, and pairs are counted inside a chunk only", builds_on=BUILDING_BLOCKS)
def test_learn_merges_weighs_chunks(student, seed):
    rng = random.Random(seed)
    chunks = {random_text(rng, rng.randrange(2, 8)).encode("utf-8"): rng.randrange(1, 6) for _ in range(25)}
    assert as_pairs(student.bpe.learn_merges(chunks, 20)) == reference_learn(chunks, 20)


@points(1, hint="learn exactly num_merges merges, stopping early only when no pair is left", builds_on=BUILDING_BLOCKS)
def test_number_of_merges(student):
    assert len(student.bpe.learn_merges({b"abcabcabd": 1}, 4)) == 4
    with hint("stop when no pair occurs any more: a pair whose count fell to 0 after a merge is not a pair left "
              "(drop zero counts, or recount the current ids)"):
        # "xy" can be merged once; after that no pair is left anywhere.
        assert as_pairs(student.bpe.learn_merges({b"xy": 3}, 5)) == [(ord("x"), ord("y"))]
        # "abab" -> [256, 256] -> [257]: two merges, then nothing is left, although counts of 0 may linger.
        assert as_pairs(student.bpe.learn_merges({b"abab": 1}, 5)) == [(97, 98), (256, 256)]


# --- the tokenizer ----------------------------------------------------------------------------

@points(2, hint="the bytes of merged id 256 + i are the bytes of its first part followed by those of its second")
def test_vocabulary_from_merges(student):
    a, b, c = ord("a"), ord("b"), ord("c")
    tokenizer = student.bpe.BPETokenizer([(a, b), (256, c), (c, 257)])
    with hint("vocab_size = 256 + len(merges): the 256 single bytes, then one id per merge"):
        assert tokenizer.vocab_size == 259
    assert tokenizer.decode([256]) == "ab"
    assert tokenizer.decode([257]) == "abc"
    assert tokenizer.decode([258, 97]) == "cabca"


@points(1, hint="decode raises ValueError for any id outside [0, vocab_size)")
def test_decode_rejects_ids_outside_the_vocabulary(student):
    tokenizer = student.bpe.BPETokenizer([(ord("a"), ord("b"))])  # vocab_size 257
    for bad in (257, 1000):
        with pytest.raises(ValueError):
            tokenizer.decode([97, bad])
    with hint("a negative id silently picks a token from the end of a Python list (vocab[-1]): "
              "check 0 <= id < vocab_size yourself and raise ValueError"):
        for bad in (-1, -257):
            with pytest.raises(ValueError):
                tokenizer.decode([bad])


@points(3, hint="merges are applied in the order learned (lowest merge index first), not by frequency at encode time",
        builds_on={"merge_pair": "test_merge_pair"})
def test_encode_applies_merges_in_learned_order(student, seed):
    a, b, c = ord("a"), ord("b"), ord("c")
    # "bc" was learned before "ab", although "ab" is more frequent in the text below.
    merges = [(b, c), (a, b)]
    tokenizer = student.bpe.BPETokenizer(merges)
    assert tokenizer.encode("abcabab") == [a, 256, 257, 257]
    with hint("short texts are encoded too: encode('') is [], one byte stays as it is, and the single pair of a "
              "2-byte text is merged (loop while there are at least 2 ids)"):
        assert tokenizer.encode("") == [] and tokenizer.encode("a") == [a] and tokenizer.encode("ab") == [257]
    rng = random.Random(seed)
    trained = reference_learn({random_text(rng, 200).encode(): 1}, 25)
    tokenizer = student.bpe.BPETokenizer(trained)
    for _ in range(5):
        text = random_text(rng, 60)
        assert tokenizer.encode(text) == reference_encode(text.encode(), trained)


@points(3, hint="decode joins the bytes of all ids first, then decodes UTF-8 once with errors='replace': "
                "one token can hold part of a character",
        builds_on={"merge_pair": "test_merge_pair", "BPETokenizer's vocabulary": "test_vocabulary_from_merges",
                   "encode_bytes": "test_encode_applies_merges_in_learned_order"})
def test_round_trip_any_unicode(student, seed):
    rng = random.Random(seed)
    merges = reference_learn({random_text(rng, 300).encode(): 1}, 40)
    tokenizer = student.bpe.BPETokenizer(merges)
    unseen = "Ωmega ñ 🚀🚀 こんにちは \t\n end"  # none of these characters was in training
    for text in [unseen, random_text(rng, 80), ""]:
        assert tokenizer.decode(tokenizer.encode(text)) == text
    with hint("a lone byte of a multi-byte character decodes to the replacement character U+FFFD"):
        first_byte_of_emoji = "🙂".encode()[0]
        assert tokenizer.decode([first_byte_of_emoji]) == "\ufffd"
