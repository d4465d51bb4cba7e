"""Step 01a: a character tokenizer, the simplest map from text to ids.

Every distinct character seen when the vocabulary is built gets an id. Python strings
are sequences of Unicode code points, so "é" and "🙂" are one character each; an emoji
made of several code points (a family, a flag) is several.

A character that was not in the text at build time has no id of its own. Rather than
crash or silently drop it, the tokenizer maps it to a reserved id, ``[UNK]``
("unknown"): the model then at least knows *something* was there.
"""

from __future__ import annotations

from .base import Tokenizer

UNK = "[UNK]"


class CharTokenizer(Tokenizer):
    """Character-level tokenizer with an ``[UNK]`` id for characters unseen at build time."""

    unk_id = 0  # [UNK] is always id 0

    def __init__(self, text: str):
        """Build the vocabulary from ``text``.

        Id 0 is ``[UNK]``; ids 1, 2, ... go to the distinct characters of ``text`` in
        sorted order, so the same text always gives the same ids.
        """
        if not text:
            raise ValueError("cannot build a vocabulary from empty text")
        ### BEGIN SOLUTION
        self.id_to_char = [UNK] + sorted(set(text))
        self.char_to_id = {ch: i for i, ch in enumerate(self.id_to_char)}
        ### END SOLUTION

    @property
    def vocab_size(self) -> int:
        """The number of ids: the distinct characters plus one for ``[UNK]``."""
        ### BEGIN SOLUTION
        return len(self.id_to_char)
        ### END SOLUTION

    def encode(self, text: str) -> list[int]:
        """One id per character of ``text``; ``unk_id`` for characters not in the vocabulary."""
        ### BEGIN SOLUTION
        return [self.char_to_id.get(ch, self.unk_id) for ch in text]
        ### END SOLUTION

    def decode(self, ids: list[int]) -> str:
        """The characters of ``ids`` joined into a string; ``unk_id`` becomes the text "[UNK]".

        Raises:
            ValueError: for an id outside [0, vocab_size).
        """
        ### BEGIN SOLUTION
        for i in ids:
            if not 0 <= i < len(self.id_to_char):
                raise ValueError(f"id {i} is not in the vocabulary [0, {len(self.id_to_char)})")
        return "".join(self.id_to_char[i] for i in ids)
        ### END SOLUTION
