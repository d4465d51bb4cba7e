"""Grading suite for step 11b: the KV cache (``kv_cache.py``).

A cache is checked by what it holds: after appending pieces of known keys and values, it
must hand back exactly all of them, oldest first. Whether your attention layer uses the
cache correctly is checked in ``test_gqa.py``.
"""

import torch

from grader import hint, points
from grader.checks import expect_close

B, N_KV, HS = 2, 3, 4
PIECES = (3, 1, 1, 2)  # a prompt of 3 tokens, then one token at a time, then 2: what generation does


def pieces_of(generator, lengths=PIECES):
    """Keys and values (B, N_KV, t, HS) for each piece length; every number distinct, so a mix-up shows."""
    keys = [torch.randn(B, N_KV, t, HS, generator=generator) for t in lengths]
    values = [torch.randn(B, N_KV, t, HS, generator=generator) for t in lengths]
    return keys, values


@points(1, hint="a new cache holds nothing: keys and values are None and length is 0")
def test_a_new_cache_is_empty(student):
    cache = student.kv_cache.KVCache(8)
    assert cache.length == 0, f"a new cache has length {cache.length!r}"
    assert cache.keys is None and cache.values is None, "a new cache should hold no keys and no values (None)"


@points(3, hint="append: the first time, keep k and v; afterwards torch.cat((self.keys, k), dim=2) and the same for "
                "the values (dim 2 is the positions), then return (self.keys, self.values); length is keys.shape[2]",
        builds_on={"a new KVCache": "test_a_new_cache_is_empty"})
def test_append_keeps_every_position_in_order(student, generator):
    cache = student.kv_cache.KVCache(16)
    keys, values = pieces_of(generator)
    for count in range(1, len(PIECES) + 1):
        held_keys, held_values = cache.append(keys[count - 1], values[count - 1])
        expected_keys, expected_values = torch.cat(keys[:count], dim=2), torch.cat(values[:count], dim=2)
        where = f"after appending pieces of {list(PIECES[:count])} positions"
        mistakes = {
            "append hands back only the new positions: keep the old ones too (torch.cat((self.keys, k), dim=2), "
            "not self.keys = k) and return everything the cache holds, since the new queries attend to the old "
            "keys as well": keys[count - 1],
            "the new positions go before the old ones: torch.cat((self.keys, k), dim=2), oldest first":
                torch.cat(keys[:count][::-1], dim=2),
        }
        expect_close(held_keys, expected_keys, name=f"the keys append returns {where}", mistakes=mistakes)
        with hint("the values must follow the same rule as the keys (the values returned are not the values "
                  "appended so far, in order)"):
            expect_close(held_values, expected_values, name=f"the values append returns {where}")
        with hint("store what you return in self.keys and self.values: the next append builds on them"):
            expect_close(cache.keys, expected_keys, name=f"cache.keys {where}")
            expect_close(cache.values, expected_values, name=f"cache.values {where}")
        assert cache.length == sum(PIECES[:count]), f"length is {cache.length} {where}"
    with hint("length is a Python int (self.keys.shape[2] is one), not a tensor: it is used as a slice bound"):
        assert isinstance(cache.length, int), f"length is a {type(cache.length).__name__}"


@points(1, hint="one cache per layer, used by one batch: a second cache must start empty and must not see the "
                "first one's keys (keep them on self, not in a class attribute or a default argument)",
        builds_on={"KVCache.append": "test_append_keeps_every_position_in_order"})
def test_caches_do_not_share_their_store(student, generator):
    first, second = student.kv_cache.KVCache(16), student.kv_cache.KVCache(16)
    keys, values = pieces_of(generator, (2, 3))
    first.append(keys[0], values[0])
    assert second.length == 0, f"a second, untouched cache has length {second.length}"
    held, _ = second.append(keys[1], values[1])
    expect_close(held, keys[1], name="the keys of the second cache after its first append")
    assert first.length == 2, f"the first cache has length {first.length} after the second one was used"


@points(2, hint="two tensors (keys AND values) per layer, each batch_size x n_kv_head x seq_len x head_size: "
                "2 * n_layer * batch_size * n_kv_head * seq_len * head_size")
def test_cache_size(student):
    for n_layer, n_kv_head, head_size, seq_len, batch in [(4, 4, 32, 128, 1), (32, 8, 128, 4096, 1),
                                                           (2, 1, 16, 10, 3), (80, 8, 128, 4096, 8)]:
        counted = student.kv_cache.kv_cache_size(n_layer, n_kv_head, head_size, seq_len, batch)
        per_tensor = batch * n_kv_head * seq_len * head_size
        with hint("return a Python int: the cache holds a whole number of numbers (int(...) around anything "
                  "computed in floats or tensors)"):
            assert isinstance(counted, int) and not isinstance(counted, bool), \
                f"kv_cache_size should return an int, got {type(counted).__name__}"
        expect_close(torch.tensor(counted), torch.tensor(2 * n_layer * per_tensor),
                     name=f"kv_cache_size({n_layer}, {n_kv_head}, {head_size}, {seq_len}, {batch})", mistakes={
                         "only the keys are counted: the cache holds the values too (a factor 2)":
                             torch.tensor(n_layer * per_tensor),
                         "one layer only: every layer keeps its own cache": torch.tensor(2 * per_tensor),
                         "the batch is left out: each sequence of the batch has its own keys and values":
                             torch.tensor(2 * n_layer * n_kv_head * seq_len * head_size),
                     })
