"""Step 01c: split before you merge, and read a real tokenizer's rank table.

Plain BPE happily learns merges such as "e t" across the space between two words, or
"dog." with its full stop, so the same word ends up with many different tokenizations.
GPT-2 and later split the text into *chunks* with a regular expression first: letters
with at most one leading space, groups of up to three digits, punctuation runs, runs of
whitespace. Merges are then learned and applied inside a chunk only, never across two.

A trained BPE tokenizer is really a *ranking* of byte strings: a merge learned earlier
has a lower rank. OpenAI publishes its tokenizers in exactly that form, one
``base64(bytes) rank`` line per token. ``RankTokenizer`` encodes with such a table: in
each chunk, start from single bytes and keep merging the adjacent pair whose joined bytes
have the lowest rank. With GPT-4's table and split pattern this reproduces the ids of
OpenAI's own ``tiktoken`` exactly.
"""

from __future__ import annotations

from collections import Counter

import regex

from .base import Tokenizer
from .bpe import BPETokenizer, Pair, learn_merges

# GPT-4's split pattern (cl100k_base). Needs the `regex` module: \p{L} is "any letter",
# \p{N} "any digit", and ?+ ++ are possessive quantifiers.
GPT4_SPLIT_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)


def split_chunks(text: str, pattern: str = GPT4_SPLIT_PATTERN) -> list[str]:
    """Split ``text`` into the chunks that ``pattern`` matches, in order.

    With the default pattern the chunks always join back into ``text`` exactly.
    """
    raise NotImplementedError("not implemented yet")


def train_regex(text: str, vocab_size: int, pattern: str = GPT4_SPLIT_PATTERN) -> list[Pair]:
    """Learn ``vocab_size - 256`` merges from ``text`` without ever merging across two chunks.

    Hint: identical chunks ("the", " the") occur many times; count them once with their
    number of occurrences and hand those counts to ``learn_merges``.
    """
    if not text:
        raise ValueError("cannot train a tokenizer on empty text")
    if vocab_size < 256:
        raise ValueError(f"vocab_size must be at least 256 (the byte values), got {vocab_size}")
    raise NotImplementedError("not implemented yet")


class RegexBPETokenizer(BPETokenizer):
    """A BPE tokenizer that splits text into chunks first and encodes each chunk on its own."""

    def __init__(self, merges: list[Pair], pattern: str = GPT4_SPLIT_PATTERN):
        super().__init__(merges)
        self.pattern = pattern

    def encode(self, text: str) -> list[int]:
        """Encode every chunk of ``text`` with ``encode_bytes`` and concatenate the ids."""
        raise NotImplementedError("not implemented yet")


class RankTokenizer(Tokenizer):
    """A tokenizer given as a rank table: byte string -> id, lower id = merged earlier."""

    def __init__(self, ranks: dict[bytes, int], pattern: str = GPT4_SPLIT_PATTERN):
        """Keep the table and build the reverse map id -> bytes for decoding."""
        if not ranks:
            raise ValueError("the rank table is empty")
        self.ranks = ranks
        self.pattern = pattern
        raise NotImplementedError("not implemented yet")

    @property
    def vocab_size(self) -> int:
        """One more than the largest rank."""
        raise NotImplementedError("not implemented yet")

    def encode_chunk(self, chunk: bytes) -> list[int]:
        """Encode one chunk: start from single bytes and merge, while possible, the adjacent
        pair whose joined bytes have the lowest rank (its leftmost occurrence when it occurs
        more than once, as in "aaa"); return the rank of each final part."""
        raise NotImplementedError("not implemented yet")

    def encode(self, text: str) -> list[int]:
        """Split ``text`` into chunks and encode each with ``encode_chunk``."""
        raise NotImplementedError("not implemented yet")

    def decode(self, ids: list[int]) -> str:
        """Join the bytes of every id and decode UTF-8 once (invalid bytes become U+FFFD).

        Raises:
            ValueError: for an id that is not in the table.
        """
        raise NotImplementedError("not implemented yet")


def load_tiktoken_ranks(path: str) -> dict[bytes, int]:
    """Read a ``.tiktoken`` file (optionally gzipped): one ``base64-token rank`` per line."""
    import base64
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    ranks = {}
    with opener(path, "rb") as handle:
        for line in handle:
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    return ranks
