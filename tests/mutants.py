"""The mutation catalogue: plausible student mistakes, one edit of a reference module each.

A grading suite earns its keep only if it catches wrong code. Every mutant below is the
reference solution with one mistake a student might well make; ``tests/test_mutants.py``
grades each one and requires that it loses points *and* that a failing test's hint names
the mistake (``hint`` must appear in one of the hints shown).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Mutant:
    step: str
    name: str
    module: str  # file name inside solutions/<step>/
    old: str  # text replaced (must occur exactly once)
    new: str
    hint: str  # words the hint shown for the failure must contain

    @property
    def id(self) -> str:
        return f"{self.step}-{self.name}"


MUTANTS = [
    # ---- step00: bigram ---------------------------------------------------------------
    Mutant("step00", "counts_transposed", "bigram.py",
           "counts.index_put_((current, following)", "counts.index_put_((following, current)",
           "rows are the current token"),
    Mutant("step00", "counts_pair_with_itself", "bigram.py",
           "current, following = ids[:-1], ids[1:]", "current, following = ids[:-1], ids[:-1]",
           "pair ids[t] with ids[t + 1]"),
    Mutant("step00", "probs_not_normalised", "bigram.py",
           "return smoothed / smoothed.sum(dim=1, keepdim=True)", "return smoothed / smoothed.sum()",
           "probabilities not normalised"),
    Mutant("step00", "smoothing_only_in_numerator", "bigram.py",
           "return smoothed / smoothed.sum(dim=1, keepdim=True)",
           "return smoothed / counts.float().sum(dim=1, keepdim=True).clamp(min=1)",
           "k * V"),
    Mutant("step00", "loss_without_softmax", "bigram.py",
           "loss = F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T))",
           "loss = -logits.reshape(B * T, V).gather(1, targets.reshape(B * T, 1)).mean()",
           "cross-entropy"),
    Mutant("step00", "loss_targets_misaligned", "bigram.py",
           "targets.reshape(B * T))", "targets.t().reshape(B * T))",
           "in the same order"),
    Mutant("step00", "generate_argmax", "bigram.py",
           "next_token = torch.multinomial(probs, num_samples=1, generator=generator)",
           "next_token = probs.argmax(dim=-1, keepdim=True)",
           "not take the argmax"),
    Mutant("step00", "generate_first_position", "bigram.py",
           "probs = F.softmax(logits[:, -1, :], dim=-1)", "probs = F.softmax(logits[:, 0, :], dim=-1)",
           "LAST position"),
    Mutant("step00", "generate_drops_prompt", "bigram.py",
           "        return idx\n        ### END SOLUTION",
           "        return idx[:, -max_new_tokens:]\n        ### END SOLUTION",
           "prompt followed by"),
    Mutant("step00", "generate_ignores_generator", "bigram.py",
           "next_token = torch.multinomial(probs, num_samples=1, generator=generator)",
           "next_token = torch.multinomial(probs, num_samples=1)",
           "the same seed must give"),
    Mutant("step00", "probs_normalised_by_column", "bigram.py",
           "return smoothed / smoothed.sum(dim=1, keepdim=True)", "return smoothed / smoothed.sum(dim=0, keepdim=True)",
           "divide each row by its own total"),
    Mutant("step00", "loss_on_softmax_probabilities", "bigram.py",
           "loss = F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T))",
           "loss = F.cross_entropy(F.softmax(logits.reshape(B * T, V), dim=-1), targets.reshape(B * T))",
           "softmax applied before cross_entropy"),
    Mutant("step00", "counts_advanced_index_plus_equals", "bigram.py",
           "counts.index_put_((current, following), torch.ones_like(current), accumulate=True)",
           "counts[current, following] += 1",
           "does not accumulate"),
    Mutant("step00", "table_starts_random", "bigram.py",
           "self.logits_table = nn.Parameter(torch.zeros(vocab_size, vocab_size))",
           "self.logits_table = nn.Parameter(torch.randn(vocab_size, vocab_size))",
           "start the table at zeros"),
    Mutant("step00", "loss_summed", "bigram.py",
           "loss = F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T))",
           "loss = F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T), reduction='sum')",
           "summed, not averaged"),
    # ---- step01: tokenizers -----------------------------------------------------------
    Mutant("step01", "vocab_in_order_of_appearance", "char_tokenizer.py",
           "self.id_to_char = [UNK] + sorted(set(text))", "self.id_to_char = [UNK] + list(dict.fromkeys(text))",
           "in sorted order"),
    Mutant("step01", "pair_counts_skip_overlaps", "bpe.py",
           "    for pair in zip(ids, ids[1:]):\n        counts[pair] += 1",
           "    for pair in zip(ids[::2], ids[1::2]):\n        counts[pair] += 1",
           "including overlapping ones"),
    Mutant("step01", "unk_never_used", "char_tokenizer.py",
           "return [self.char_to_id.get(ch, self.unk_id) for ch in text]",
           "return [self.char_to_id[ch] for ch in text if ch in self.char_to_id]",
           "[UNK] never used"),
    Mutant("step01", "no_id_reserved_for_unk", "char_tokenizer.py",
           "self.id_to_char = [UNK] + sorted(set(text))", "self.id_to_char = sorted(set(text)) + [UNK]",
           "id 0 is reserved for [UNK]"),
    Mutant("step01", "merge_overlaps", "bpe.py",
           "            out.append(new_id)\n            i += 2", "            out.append(new_id)\n            i += 1",
           "skip both of its ids"),
    Mutant("step01", "ties_first_seen", "bpe.py",
           "return min(counts, key=lambda pair: (-counts[pair], pair))", "return max(counts, key=counts.get)",
           "ties between equally frequent pairs"),
    Mutant("step01", "chunk_weights_ignored", "bpe.py",
           "            counts[pair] += weight\n            holders[pair].add(index)",
           "            counts[pair] += 1\n            holders[pair].add(index)",
           "occurs n times counts n times"),
    Mutant("step01", "one_merge_too_many", "bpe.py",
           "while len(merges) < num_merges and heap:", "while len(merges) <= num_merges and heap:",
           "exactly num_merges"),
    Mutant("step01", "encode_by_frequency", "bpe.py",
           "pair = min(set(zip(ids, ids[1:])), key=lambda p: self.rank.get(p, len(self.rank)))",
           "present = [p for p in zip(ids, ids[1:]) if p in self.rank] or [(-1, -1)]\n"
           "            pair = max(set(present), key=present.count)",
           "order learned"),
    Mutant("step01", "vocab_bytes_swapped", "bpe.py",
           "self.vocab.append(self.vocab[a] + self.vocab[b])", "self.vocab.append(self.vocab[b] + self.vocab[a])",
           "first part followed by"),
    Mutant("step01", "decode_token_by_token", "bpe.py",
           'return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")',
           'return "".join(self.vocab[i].decode("utf-8", errors="replace") for i in ids)',
           "decodes UTF-8 once"),
    Mutant("step01", "merges_cross_chunks", "regex_bpe.py",
           "return learn_merges(dict(chunk_counts), vocab_size - 256)",
           'return learn_merges({text.encode("utf-8"): 1}, vocab_size - 256)',
           "never cross chunk boundaries"),
    Mutant("step01", "regex_encode_whole_text", "regex_bpe.py",
           "        for chunk in split_chunks(text, self.pattern):\n"
           "            ids.extend(self.encode_bytes(chunk.encode(\"utf-8\")))",
           "        ids.extend(self.encode_bytes(text.encode(\"utf-8\")))",
           "each regex chunk on its own"),
    Mutant("step01", "rank_leftmost_not_lowest", "regex_bpe.py",
           "_, i = min(candidates)", "_, i = min(candidates, key=lambda c: c[1])",
           "LOWEST rank"),
    Mutant("step01", "most_frequent_is_smallest", "bpe.py",
           "return min(counts, key=lambda pair: (-counts[pair], pair))", "return min(counts)",
           "HIGHEST count"),
    Mutant("step01", "pair_counts_miss_last_pair", "bpe.py",
           "    for pair in zip(ids, ids[1:]):\n        counts[pair] += 1",
           "    for pair in zip(ids, ids[1:-1]):\n        counts[pair] += 1",
           "last pair (ids[-2], ids[-1]) is missing"),
    Mutant("step01", "merge_pair_drops_last_id", "bpe.py",
           "    while i < len(ids):\n        if i + 1 < len(ids)", "    while i < len(ids) - 1:\n        if i + 1 < len(ids)",
           "last id is dropped"),
    Mutant("step01", "bpe_decode_negative_ids", "bpe.py",
           "            if not 0 <= i < len(self.vocab):", "            if not i < len(self.vocab):",
           "negative id silently picks"),
    Mutant("step01", "bpe_decode_index_error", "bpe.py",
           "            if not 0 <= i < len(self.vocab):", "            if not 0 <= i <= len(self.vocab):",
           "raises ValueError for any id outside"),
    Mutant("step01", "char_decode_negative_ids", "char_tokenizer.py",
           "            if not 0 <= i < len(self.id_to_char):", "            if not i < len(self.id_to_char):",
           "negative id silently picks"),
    Mutant("step01", "rank_decode_strict_utf8", "regex_bpe.py",
           'return b"".join(self.bytes_of[i] for i in ids).decode("utf-8", errors="replace")',
           'return b"".join(self.bytes_of[i] for i in ids).decode("utf-8")',
           "becomes U+FFFD"),
    Mutant("step01", "rank_greedy_longest_match", "regex_bpe.py",
           "        parts = [bytes([b]) for b in chunk]\n        while len(parts) >= 2:",
           "        ids, start = [], 0\n"
           "        while start < len(chunk):\n"
           "            end = max(e for e in range(start + 1, len(chunk) + 1) if chunk[start:e] in self.ranks)\n"
           "            ids.append(self.ranks[chunk[start:end]])\n"
           "            start = end\n"
           "        return ids\n"
           "        parts = [bytes([b]) for b in chunk]\n        while len(parts) >= 2:",
           "those of greedy longest-match"),
    # ---- step02: dataset --------------------------------------------------------------
    Mutant("step02", "targets_not_shifted", "dataset.py",
           "y = ids[start + 1:start + block_size + 1]", "y = ids[start:start + block_size]",
           "shifted left by one"),
    Mutant("step02", "targets_rolled_from_x", "dataset.py",
           "y = ids[starts[:, None] + offsets + 1]", "y = torch.roll(x, -1, dims=1)",
           "build row b like shift_pair"),
    Mutant("step02", "num_examples_off_by_one", "dataset.py",
           "return max(num_tokens - block_size, 0)", "return max(num_tokens - block_size + 1, 0)",
           "N - T windows"),
    Mutant("step02", "num_examples_negative", "dataset.py",
           "return max(num_tokens - block_size, 0)", "return num_tokens - block_size",
           "not a negative number"),
    Mutant("step02", "batch_misses_last_window", "dataset.py",
           "starts = torch.randint(0, ids.numel() - block_size, (batch_size,), generator=generator)",
           "starts = torch.randint(0, ids.numel() - block_size - 1, (batch_size,), generator=generator)",
           "the last window starts at N - T - 1"),
    Mutant("step02", "batch_ignores_generator", "dataset.py",
           "starts = torch.randint(0, ids.numel() - block_size, (batch_size,), generator=generator)",
           "starts = torch.randint(0, ids.numel() - block_size, (batch_size,))",
           "use the generator you are given"),
    Mutant("step02", "batch_ignores_device", "dataset.py",
           "return x.to(device), y.to(device)", "return x, y",
           "requested device"),
    Mutant("step02", "split_shuffled", "dataset.py",
           "return ids[:cut], ids[cut:]",
           "order = torch.randperm(ids.numel(), generator=torch.Generator().manual_seed(0))\n"
           "    return ids[order[:cut]], ids[order[cut:]]",
           "split contiguously"),
    Mutant("step02", "dataset_len_off_by_one", "dataset.py",
           "return num_examples(self.ids.numel(), self.block_size)",
           "return self.ids.numel() - self.block_size + 1",
           "number of windows"),
    Mutant("step02", "format_ascii_arrows", "dataset.py",
           'return " → ".join(str(int(i)) for i in ids)', 'return " -> ".join(str(int(i)) for i in ids)',
           "joined by ' → '"),
]
