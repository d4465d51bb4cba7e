"""The course demo: what the finished steps do, end to end (run with `make demo`).

It uses the reference solutions when they are present (the instructor copy) and your own
code otherwise, so in the student copy each part appears as soon as you implement it.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path

import torch

from course.data import CorpusError, shakespeare
from grader.status import CommandError

REPO = Path(__file__).resolve().parent.parent
ACCENTED = "Café déjà vu, naïve señor 🙂 — ¿qué tal?"
# The end-to-end run: about a minute on two CPU cores (the project's test of the demo runs fewer).
DEMO_STEPS = int(os.environ.get("COURSE_DEMO_STEPS", 1500))
# Step 08's 2-vs-4-layer comparison: 400 steps each, or fewer when the whole demo is shortened.
COMPARE_STEPS = min(400, DEMO_STEPS)


def implementation() -> str:
    return "solutions" if (REPO / "solutions").is_dir() else "exercises"


def load(step: str, module: str):
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    return importlib.import_module(f"{implementation()}.{step}.{module}")


def section(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 70 - len(title)))


def demo_status() -> None:
    from grader.status import format_status, run_all_suites

    section("your points (course status)")
    scores, _ = run_all_suites([])
    print(format_status(scores))


def encode_characters(text: str):
    """Shakespeare as character ids, with the step 01 character tokenizer."""
    tokenizer = load("step01", "char_tokenizer").CharTokenizer(text)
    return tokenizer, torch.tensor(tokenizer.encode(text))


def demo_bigram(text: str) -> None:
    section("step00: a bigram model of Shakespeare")
    bigram = load("step00", "bigram")
    tokenizer, ids = encode_characters(text)
    probs = bigram.bigram_probs(bigram.bigram_counts(ids, tokenizer.vocab_size), k=1.0)
    nll = -probs[ids[:-1], ids[1:]].log().mean().item()
    print(f"{len(text):,} characters, vocabulary of {tokenizer.vocab_size} (with [UNK])")
    print(f"counting: average negative log-likelihood {nll:.3f} nats per character")
    torch.manual_seed(0)
    model = bigram.BigramLM(tokenizer.vocab_size)
    start = time.perf_counter()
    losses = bigram.train(model, ids, steps=300, batch_size=64, block_size=32, lr=0.3, seed=0)
    print(f"learned table: loss {losses[0]:.3f} -> {losses[-1]:.3f} in 300 AdamW steps "
          f"({time.perf_counter() - start:.1f} s)")
    prompt = torch.tensor([tokenizer.encode("\n")])
    sample = model.generate(prompt, 250, generator=torch.Generator().manual_seed(0))
    print("sample (one character of context at a time):")
    print("  " + tokenizer.decode(sample[0].tolist()).strip().replace("\n", "\n  "))


def demo_bpe(text: str) -> None:
    section("step01: byte-level BPE trained on Shakespeare")
    regex_bpe = load("step01", "regex_bpe")
    start = time.perf_counter()
    merges = regex_bpe.train_regex(text, 512)
    tokenizer = regex_bpe.RegexBPETokenizer(merges)
    print(f"256 merges learned in {time.perf_counter() - start:.2f} s; the first ten:")
    for i, (a, b) in enumerate(merges[:10]):
        print(f"  {256 + i}: {tokenizer.decode([a])!r} + {tokenizer.decode([b])!r} -> {tokenizer.decode([256 + i])!r}")
    print(f"\n{ACCENTED!r} becomes {len(tokenizer.encode(ACCENTED))} tokens "
          f"from {len(ACCENTED.encode())} bytes:")
    print("  " + " | ".join(repr(piece)[1:-1] for piece in tokenizer.pieces(ACCENTED)))
    print("  (� marks a token that holds only part of a character's bytes)")
    sentence = "To be, or not to be, that is the question."
    print(f"\n{sentence!r}: {tokenizer.token_stats(sentence)['tokens']} tokens for {len(sentence)} characters")


def demo_dataset(text: str) -> None:
    section("step02: (x, y) pairs by shifting")
    dataset = load("step02", "dataset")
    tokenizer, ids = encode_characters(text)
    train, val = dataset.train_val_split(ids)
    print(f"train {len(train):,} tokens, val {len(val):,} tokens; "
          f"{dataset.num_examples(len(train), 8):,} training windows of 8")
    x, y = dataset.get_batch(train, 4, 8, generator=torch.Generator().manual_seed(0))
    print(dataset.format_pair(x[0], y[0]))
    print(f"as text: {tokenizer.decode(x[0].tolist())!r} -> {tokenizer.decode(y[0].tolist())!r}")


def demo_embeddings(text: str) -> None:
    section("step03: token ids become vectors; positions are added")
    embedding, positional = load("step03", "embedding"), load("step03", "positional")
    tokenizer, ids = encode_characters(text)
    torch.manual_seed(0)
    table = embedding.Embedding(tokenizer.vocab_size, 8)
    a, b = tokenizer.encode("a")[0], tokenizer.encode("b")[0]
    with torch.no_grad():
        vectors = table(torch.tensor([a, b]))
    for char, token, vector in (("a", a, vectors[0]), ("b", b, vectors[1])):
        print(f"  {char!r} = id {token:2d} -> [{', '.join(f'{v:+.2f}' for v in vector.tolist())}]")
    print(f"ids {a} and {b} are neighbours, their vectors are not: distance "
          f"{(vectors[0] - vectors[1]).norm():.2f} (two random rows are {2 ** 0.5 * 8 ** 0.5:.1f} apart on average)")
    print("\nthe sinusoidal position table, positions 0-23 down, dims 0-31 across (-1 ' ' .. '@' +1):")
    pe = positional.sinusoidal_encoding(24, 32)
    shades = " .:-=+*#%@"
    for t in range(24):
        row = "".join(shades[min(int((value + 1) / 2 * len(shades)), len(shades) - 1)] for value in pe[t].tolist())
        print(f"  {t:2d} {row}")
    print("  (the first dims turn fast, the last ones hardly move: together they tell every position apart)")


def demo_mlp(text: str) -> None:
    section("step04: an MLP language model sees one token")
    mlp_lm, bigram = load("step04", "mlp_lm"), load("step00", "bigram")
    tokenizer, ids = encode_characters(text)
    for depth in (2, 4):
        torch.manual_seed(0)
        model = mlp_lm.FeedForwardLM(tokenizer.vocab_size, 32, depth)
        start = time.perf_counter()
        losses = bigram.train(model, ids, steps=250, batch_size=32, block_size=32, lr=0.01, seed=0)
        print(f"depth {depth}: {mlp_lm.parameter_count(tokenizer.vocab_size, 32, depth):,} parameters, loss "
              f"{losses[0]:.3f} -> {sum(losses[-20:]) / 20:.3f} in 250 steps ({time.perf_counter() - start:.1f} s)")
    probs = bigram.bigram_probs(bigram.bigram_counts(ids, tokenizer.vocab_size), k=1.0)
    print(f"the floor for any model that sees one character: {-probs[ids[:-1], ids[1:]].log().mean().item():.3f} "
          "(step00's counts); depth cannot go below it")
    sample = model.generate(torch.tensor([tokenizer.encode("\n")]), 200, generator=torch.Generator().manual_seed(0))
    print("sample (still one character of context: compare with step00's):")
    print("  " + tokenizer.decode(sample[0].tolist()).strip().replace("\n", "\n  "))


def demo_attention(text: str) -> None:
    section("step05: one head of attention, att[0] after training")
    attention, positional, bigram = load("step05", "attention"), load("step03", "positional"), load("step00", "bigram")
    tokenizer, ids = encode_characters(text)
    block = 12

    class OneHeadLM(torch.nn.Module):
        """Token + position vectors, one causal head, a linear read-out: the smallest attention LM."""

        def __init__(self, vocab_size: int, n_embd: int = 32):
            super().__init__()
            self.inputs = positional.TokenAndPositionEmbedding(vocab_size, block, n_embd)
            self.head = attention.CausalSelfAttentionHead(n_embd, n_embd, block)
            self.read_out = torch.nn.Linear(n_embd, vocab_size)

        def forward(self, idx, targets=None):
            logits = self.read_out(self.head(self.inputs(idx)))  # (B, T, V)
            if targets is None:
                return logits, None
            return logits, torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())

    torch.manual_seed(0)
    model = OneHeadLM(tokenizer.vocab_size)
    losses = bigram.train(model, ids, steps=300, batch_size=32, block_size=block, lr=0.01, seed=0)
    print(f"loss {losses[0]:.3f} -> {sum(losses[-20:]) / 20:.3f} in 300 steps")
    prompt = "To be, or no"
    with torch.no_grad():
        model(torch.tensor([tokenizer.encode(prompt)]))
    att = model.head.last_attention[0]  # (T, T)
    print("row t: how much position t takes from each position s <= t (blank: masked)")
    print("        " + "".join(f"{char!r:>5}" for char in prompt) + "   sum")
    for t, char in enumerate(prompt):
        cells = "".join(f"{att[t, s].item():5.2f}" if s <= t else "     " for s in range(len(prompt)))
        print(f"  {char!r:>5} {cells}  {att[t].sum().item():.2f}")


def demo_multi_head(text: str) -> None:
    section("step06: multi-head attention, shape by shape")
    multi_head = load("step06", "multi_head")
    torch.manual_seed(0)
    layer = multi_head.MultiHeadAttention(32, 4, 8)
    x = torch.randn(2, 8, 32)
    q = layer.split_heads(layer.query(x))
    scores = q @ layer.split_heads(layer.key(x)).transpose(-2, -1)
    heads = torch.softmax(scores, dim=-1) @ layer.split_heads(layer.value(x))
    merged = layer.merge_heads(heads)
    for label, tensor in [("x", x), ("query(x)", layer.query(x)), ("split_heads(query(x))", q),
                          ("scores q @ k^T", scores), ("weights @ v", heads), ("merge_heads", merged),
                          ("out_proj(...)", layer(x))]:
        print(f"  {label:<24} {tuple(tensor.shape)}")
    print(f"  (B, T, C) -> (B, n_head, T, head_size) -> back; loop and batched agree to "
          f"{(layer(x) - layer.forward_loop(x)).abs().max().item():.1e}")
    for n_head in (4, 1):
        layer = multi_head.MultiHeadAttention(32, n_head, 8)
        count = sum(p.numel() for p in layer.parameters())
        print(f"  {n_head} head(s): output {tuple(layer(x).shape)}, {count} parameters, "
              f"last_attention {tuple(layer.last_attention.shape)}")


def demo_block(text: str) -> None:
    section("step07: residuals keep deep stacks trainable")
    block = load("step07", "block")
    print("gradient norm at the first block's query weight, at initialisation (C=32, 4 heads, T=16):")
    for depth in (2, 8):
        norms = {}
        for residual in (True, False):
            torch.manual_seed(0)
            stack = torch.nn.Sequential(*[block.Block(32, 4, 16, residual=residual) for _ in range(depth)])
            x = torch.randn(4, 16, 32)
            out = stack(x)
            ((out - torch.randn(out.shape, generator=torch.Generator().manual_seed(1))) ** 2).mean().backward()
            norms[residual] = stack[0].attn.query.weight.grad.norm().item()
        print(f"  {depth} blocks: with residuals {norms[True]:.2e}, without {norms[False]:.2e} "
              f"({norms[True] / norms[False]:.0f}x smaller without)")


def demo_gpt(text: str) -> None:
    section("step08: the full GPT, 2 vs 4 layers on Shakespeare")
    gpt, bigram = load("step08", "gpt"), load("step00", "bigram")
    tokenizer, ids = encode_characters(text)
    models = {}
    for n_layer in (2, 4):
        config = gpt.GPTConfig(vocab_size=tokenizer.vocab_size, block_size=32, n_layer=n_layer, n_head=4, n_embd=64)
        torch.manual_seed(0)
        model = gpt.GPT(config)
        start = time.perf_counter()
        losses = bigram.train(model, ids, steps=COMPARE_STEPS, batch_size=16, block_size=32, lr=3e-3,
                              seed=0)
        seconds = (time.perf_counter() - start) / COMPARE_STEPS
        print(f"  {n_layer} layers: {gpt.gpt_parameter_count(config)} parameters, {seconds * 1000:.0f} ms per step, "
              f"loss {losses[0]:.3f} -> {sum(losses[-20:]) / 20:.3f} in {COMPARE_STEPS} steps")
        models[n_layer] = model
    model = models[4].eval()
    prompt = torch.tensor([tokenizer.encode("ROMEO:")])
    sample = model.generate(prompt, 150, generator=torch.Generator().manual_seed(0))
    print(f"sample from the 4-layer model ({COMPARE_STEPS} steps of training; step 09 trains for real):")
    print(tokenizer.decode(sample[0].tolist()))


def demo_training(text: str) -> None:
    section("step09: training for real, with `course train`'s machinery")
    from course import runs

    out = REPO / "runs" / "demo"
    use_solutions = implementation() == "solutions"
    summary = runs.train_run("transformer", "shakespeare", "small", {"steps": DEMO_STEPS}, out,
                             use_solutions=use_solutions, progress=True)
    final = summary["final"]
    print(f"{summary['steps']} steps in {summary['seconds']:.0f} s ({summary['tokens_per_second']:,.0f} tokens/s), "
          f"{summary['parameters']:,} parameters")
    print(f"validation (every character of the last 10% once): loss {final['val_loss']:.3f}, perplexity "
          f"{final['perplexity']:.2f}, {final['bits_per_token']:.2f} bits per character")
    demo_training.checkpoint = summary["checkpoint"]


def demo_generation(text: str) -> None:
    section("step10: the same model, sampled five ways")
    from course import inspection, runs

    checkpoint = getattr(demo_training, "checkpoint", None)
    if checkpoint is None:
        print("(needs the model of the step09 section)")
        return
    use_solutions = implementation() == "solutions"
    run = runs.load_run(checkpoint, use_solutions)
    for label, options in [("greedy (temperature 0)", {"temperature": 0.0}),
                           ("temperature 0.5", {"temperature": 0.5}), ("temperature 1.0", {"temperature": 1.0}),
                           ("temperature 1.5", {"temperature": 1.5}), ("top-p 0.9", {"top_p": 0.9})]:
        sample = runs.sample_text(run, "ROMEO:", 160, seed=0, use_solutions=use_solutions, **options)
        print(f"--- {label}\n{sample}")
    idx = runs.encode_prompt(run, "To be, or not to be")
    maps = inspection.attention_maps(run.model, idx)
    labels = [inspection.show(ch) for ch in "To be, or not to be"]
    inspection.plot_attention(maps, labels, checkpoint.parent / "attention.png", "attention on 'To be, or not to be'")
    print(f"\nfiles of this run in {checkpoint.parent}/: checkpoint.pt, metrics.csv, loss.png (the curves), "
          "attention.png (every head)")
    print(f"sample more: course sample --checkpoint {checkpoint} --prompt \"ROMEO:\" --temperature 0.8")


def demo_modern(text: str) -> None:
    section("step11: RoPE, a KV cache and grouped-query attention")
    rope, kv_cache, gqa = load("step11", "rope"), load("step11", "kv_cache"), load("step11", "gqa")
    torch.manual_seed(0)
    q, k = torch.randn(16), torch.randn(16)
    cos, sin = rope.rope_angles(64, 16)

    def score(m: int, n: int) -> float:
        turned_q = rope.apply_rope(q[None], cos[m:m + 1], sin[m:m + 1])
        return float((turned_q * rope.apply_rope(k[None], cos[n:n + 1], sin[n:n + 1])).sum())

    print("  RoPE: q·k with the query 3 positions after the key, keys at 0, 10, 40: "
          + ", ".join(f"{score(n + 3, n):.3f}" for n in (0, 10, 40)) + " (the distance counts, not the place)")
    layer = gqa.GroupedQueryAttention(64, 8, 2, block_size=64)
    x = torch.randn(1, 24, 64)
    cache = kv_cache.KVCache(64)
    with torch.no_grad():
        pieces = torch.cat([layer(x[:, t:t + 1], cache) for t in range(24)], dim=1)
        print(f"  KV cache: 24 tokens one at a time vs all at once, largest difference "
              f"{(pieces - layer(x)).abs().max().item():.1e}; the cache holds {tuple(cache.keys.shape)}")
    for n_kv_head in (64, 8, 1):
        gib = kv_cache.kv_cache_size(80, n_kv_head, 128, 4096) * 2 / 2**30
        print(f"  GQA: 80 layers, 64 query heads, {n_kv_head:>2} key/value heads -> {gib:5.2f} GiB of cache per "
              "4096-token sequence (bfloat16)")


def main() -> int:
    torch.manual_seed(0)
    print(f"Build a GPT from scratch: demo, using {implementation()}/")
    demo_status()
    text = shakespeare()
    for part in (demo_bigram, demo_bpe, demo_dataset, demo_embeddings, demo_mlp, demo_attention,
                 demo_multi_head, demo_block, demo_gpt, demo_training, demo_generation, demo_modern):
        try:
            part(text)
        except NotImplementedError:
            print(f"(not implemented yet: finish the step's stubs to see {part.__name__[5:]} here)")
        except CommandError as err:
            print(f"({err})")
    print()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CorpusError as err:
        print(f"demo: {err}", file=sys.stderr)
        sys.exit(2)
