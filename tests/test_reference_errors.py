"""Bad input to the reference code gives a clear error, never a silent wrong answer."""

import pytest
import torch

from solutions.step00 import bigram
from solutions.step01 import bpe, char_tokenizer, regex_bpe
from solutions.step02 import dataset
from solutions.step11 import gqa, kv_cache, rope


@pytest.mark.parametrize("call,message", [
    (lambda: bigram.bigram_counts(torch.zeros(2, 3, dtype=torch.long), 4), r"ids must be 1-D \(N,\), got shape \(2, 3\)"),
    (lambda: bigram.bigram_counts(torch.tensor([0, 5]), 4), r"ids must lie in \[0, 4\)"),
    (lambda: bigram.bigram_probs(torch.zeros(2, 2, dtype=torch.long), k=-1), "k must be >= 0"),
    (lambda: bigram.bigram_probs(torch.tensor([[1, 0], [0, 0]]), k=0), "use k > 0"),
    (lambda: bigram.BigramLM(0), "vocab_size must be positive"),
    (lambda: bigram.train(bigram.BigramLM(3), torch.tensor([0, 1]), block_size=8), "need more than block_size=8"),
    (lambda: char_tokenizer.CharTokenizer(""), "empty text"),
    (lambda: char_tokenizer.CharTokenizer("ab").decode([7]), r"id 7 is not in the vocabulary \[0, 3\)"),
    (lambda: bpe.train("", 300), "empty text"),
    (lambda: bpe.train("abc", 100), "vocab_size must be at least 256"),
    (lambda: bpe.BPETokenizer([]).decode([256]), r"id 256 is not in the vocabulary \[0, 256\)"),
    (lambda: bpe.most_frequent_pair({}), "no pairs"),
    (lambda: regex_bpe.train_regex("", 300), "empty text"),
    (lambda: regex_bpe.RankTokenizer({}), "rank table is empty"),
    (lambda: regex_bpe.RankTokenizer({b"a": 0}).decode([5]), "id 5 is not in the rank table"),
    (lambda: dataset.shift_pair(torch.arange(5), 2, 3), r"start must lie in \[0, 2\)"),
    (lambda: dataset.get_batch(torch.arange(4), 2, 4), "need more than block_size=4 tokens"),
    (lambda: dataset.get_batch(torch.zeros(3, 9, dtype=torch.long), 2, 4), "ids must be a 1-D tensor"),
    (lambda: dataset.train_val_split(torch.arange(10), 1.5), "val_fraction must lie strictly between 0 and 1"),
    (lambda: dataset.NextTokenDataset(torch.arange(10), 0), "block_size must be at least 1"),
    (lambda: dataset.num_examples(-1, 3), "num_tokens >= 0"),
    (lambda: rope.rope_angles(8, 7), "head_size must be even"),
    (lambda: rope.apply_rope(torch.zeros(2, 5, 8), *rope.rope_angles(4, 8)), r"needs cos and sin of shape \(T, "),
    (lambda: kv_cache.KVCache(2).append(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4)), "at most 2 positions"),
    (lambda: kv_cache.KVCache(8).append(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 5)), "must both be"),
    (lambda: gqa.GroupedQueryAttention(32, 4, 3, 8), "n_head=4 is not a multiple of n_kv_head=3"),
    (lambda: gqa.GroupedQueryAttention(15, 5, 5, 8), "head_size = n_embd // n_head = 3 must be even"),
    (lambda: gqa.GroupedQueryAttention(32, 4, 2, 8)(torch.zeros(1, 9, 32)), "pass block_size 8"),
    (lambda: gqa.GroupedQueryAttention(32, 4, 2, 8)(torch.zeros(1, 3, 16)), r"x must have shape \(B, T, 32\)"),
])
def test_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_dataset_index_out_of_range_is_an_index_error():
    with pytest.raises(IndexError, match=r"window 6 out of range \[0, 6\)"):
        dataset.NextTokenDataset(torch.arange(10), 4)[6]


def test_fixed_seeds_give_identical_results():
    ids = torch.randint(0, 5, (300,), generator=torch.Generator().manual_seed(0))
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        model = bigram.BigramLM(5)
        losses = bigram.train(model, ids, steps=20, seed=3)
        sample = model.generate(torch.zeros(1, 1, dtype=torch.long), 20, generator=torch.Generator().manual_seed(4))
        runs.append((losses, sample.tolist()))
    assert runs[0] == runs[1]
