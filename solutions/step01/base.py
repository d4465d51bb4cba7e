"""The part every tokenizer of step 01 shares (given, not graded).

A tokenizer is a pair of maps between text and lists of integer ids: ``encode`` and
``decode``. The base class also gives two ways to *look* at a tokenization, which the
step's experiments use to compare tokenizers on the same text.
"""

from __future__ import annotations


class Tokenizer:
    """Base class: subclasses implement ``encode``, ``decode`` and ``vocab_size``."""

    def encode(self, text: str) -> list[int]:
        """Text -> token ids."""
        raise NotImplementedError

    def decode(self, ids: list[int]) -> str:
        """Token ids -> text."""
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        """How many distinct ids the tokenizer can produce."""
        raise NotImplementedError

    def pieces(self, text: str) -> list[str]:
        """How ``text`` is split: the text of each token (a token that holds part of a
        multi-byte character shows as the replacement character U+FFFD)."""
        return [self.decode([i]) for i in self.encode(text)]

    def token_stats(self, text: str) -> dict[str, float]:
        """Characters, UTF-8 bytes and tokens in ``text``, and bytes per token."""
        n_tokens = len(self.encode(text))
        n_bytes = len(text.encode("utf-8"))
        return {"characters": len(text), "bytes": n_bytes, "tokens": n_tokens,
                "bytes_per_token": n_bytes / n_tokens if n_tokens else 0.0}
