"""Grading suite for step 01a: the character tokenizer (``char_tokenizer.py``).

Run the whole step with ``pytest exercises/step01``. ``student.char_tokenizer`` is your
module; the tokenizer you build lives in the worker process and the test calls its methods.
"""

import pytest

from grader import hint, points

SENTENCE = "Café déjà vu, naïve señor: 🙂 and 日本!"


@points(2, hint="id 0 is reserved for [UNK]; the distinct characters get ids 1, 2, ... in sorted order")
def test_vocabulary_is_unk_then_sorted_characters(student):
    tokenizer = student.char_tokenizer.CharTokenizer("hello")
    # sorted distinct characters: e h l o -> ids 1 2 3 4, and [UNK] is 0
    with hint("vocab_size counts [UNK] too: the number of distinct characters + 1"):
        assert tokenizer.vocab_size == 5
    assert tokenizer.encode("hello") == [2, 1, 3, 3, 4]
    assert tokenizer.decode([1, 4]) == "eo"
    # Python's sorted() orders by code point: space < "!" < capitals < small letters < accented letters.
    tokenizer = student.char_tokenizer.CharTokenizer("bB a!Éz")
    with hint("sorted order is Python's sorted(set(text)), by code point: ' ' < '!' < 'B' < 'a' < 'b' < 'z' < 'É' "
              "(no case folding, no other key)"):
        assert tokenizer.encode(" !BabzÉ") == [1, 2, 3, 4, 5, 6, 7]


@points(2, hint="one id per character (accents and emoji are single characters); decode must undo encode")
def test_round_trip_with_accents_and_emoji(student):
    tokenizer = student.char_tokenizer.CharTokenizer(SENTENCE)
    ids = tokenizer.encode(SENTENCE)
    assert len(ids) == len(SENTENCE), "a character tokenizer makes exactly one token per character"
    assert 0 not in ids, "every character was seen at build time, so none is [UNK]"
    assert tokenizer.decode(ids) == SENTENCE
    assert tokenizer.vocab_size == len(set(SENTENCE)) + 1


@points(2, hint="[UNK] never used: a character unseen at build time must become unk_id (0), not vanish or crash")
def test_unseen_characters_become_unk(student):
    tokenizer = student.char_tokenizer.CharTokenizer("abc")
    assert tokenizer.encode("abzc🙂") == [1, 2, 0, 3, 0]
    with hint("decode turns unk_id (0) into the text \"[UNK]\", so that a lost character shows"):
        assert tokenizer.decode([1, 0, 3]) == "a[UNK]c"


@points(1, hint="decode must raise ValueError for an id outside [0, vocab_size)")
def test_decode_rejects_unknown_ids(student):
    tokenizer = student.char_tokenizer.CharTokenizer("abc")
    with pytest.raises(ValueError):
        tokenizer.decode([1, 99])
    with hint("the ids run from 0 to vocab_size - 1: vocab_size itself is outside (check id < vocab_size, not <=)"):
        with pytest.raises(ValueError):
            tokenizer.decode([tokenizer.vocab_size])
    with hint("a negative id silently picks a character from the end of a Python list: "
              "check 0 <= id < vocab_size yourself before looking anything up"):
        with pytest.raises(ValueError):
            tokenizer.decode([-1])
