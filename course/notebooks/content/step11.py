"""Step 11 notebook: modern pieces, RoPE, the KV cache and grouped-query attention."""

from course.notebooks.build import Code, Experiment, Markdown, Notebook, Numeric, Question

NOTEBOOK = Notebook("step11", "Modern pieces: RoPE, KV cache, GQA", [
    Markdown("""
        # Step 11: modern pieces, RoPE, the KV cache, grouped-query attention

        Today's open models keep GPT-2's blocks and change their attention in three places. RoPE turns
        queries and keys by angles that grow with the position, so a score sees the distance between two
        tokens rather than where they sit. A KV cache keeps the keys and values of the positions already
        generated, so a new token costs one position's work. Grouped-query attention lets groups of query
        heads share a key/value head, so the cache is several times smaller.
    """),
    Code("""
        import time
        import torch
        from course.lab import load, whose_code

        rope, kv_cache, gqa = load("step11.rope"), load("step11.kv_cache"), load("step11.gqa")
        print("running", whose_code())
        torch.set_printoptions(precision=3, sci_mode=False)
    """),
    Experiment("RoPE: the score of a query and a key depends on their distance only.", """
        The same query and key, placed at different positions. Rows: the key's position; columns: how many
        positions after it the query sits. Each column should hold one number.
    """, """
        torch.manual_seed(0)
        q, k = torch.randn(16), torch.randn(16)
        cos, sin = rope.rope_angles(64, 16)

        def score(m, n):
            q_m = rope.apply_rope(q[None], cos[m:m + 1], sin[m:m + 1])
            k_n = rope.apply_rope(k[None], cos[n:n + 1], sin[n:n + 1])
            return float((q_m * k_n).sum())

        print("key at   distance 0   1      2      8      32")
        for n in (0, 5, 20):
            print(f"{n:>6}  " + "  ".join(f"{score(n + d, n):6.2f}" for d in (0, 1, 2, 8, 32)))
    """),
    Experiment("The cache gives the same outputs as the whole sequence, token by token.", """
        Feed a sequence through one layer all at once, then one position at a time with a cache.
    """, """
        torch.manual_seed(0)
        layer = gqa.GroupedQueryAttention(64, 8, 2, block_size=128)
        x = torch.randn(1, 40, 64)
        whole = layer(x)
        cache = kv_cache.KVCache(128)
        pieces = torch.cat([layer(x[:, t:t + 1], cache) for t in range(40)], dim=1)
        print("largest difference:", float((whole - pieces).abs().max()))
        print("the cache holds keys of shape", tuple(cache.keys.shape), "(B, n_kv_head, positions, head_size)")
    """),
    Experiment("What the cache saves: time per new token with and without it.", """
        A stack of 4 layers generating 120 positions: without a cache each step reruns every earlier
        position; with one, each step runs one position. How do the two times grow with the length?
    """, """
        torch.manual_seed(0)
        layers = [gqa.GroupedQueryAttention(128, 8, 2, block_size=128) for _ in range(4)]

        def run(x, caches=None):
            for i, layer in enumerate(layers):
                x = x + layer(x, None if caches is None else caches[i])
            return x

        x = torch.randn(1, 120, 128)
        with torch.no_grad():
            start = time.perf_counter()
            for t in range(1, 121):
                run(x[:, :t])  # no cache: the whole prefix, every step
            without = time.perf_counter() - start
            caches = [kv_cache.KVCache(128) for _ in layers]
            start = time.perf_counter()
            for t in range(120):
                run(x[:, t:t + 1], caches)  # with a cache: one new position per step
            with_cache = time.perf_counter() - start
        print(f"120 steps without a cache {without:.2f} s, with one {with_cache:.2f} s")
    """),
    Experiment("GQA: the cache of a large model with 64, 8 and 1 key/value heads.", """
        A model the size of Llama 2 70B: 80 layers, 64 query heads of size 128, a context of 4096 tokens,
        numbers in bfloat16 (2 bytes). How big is its cache per sequence, and what does the layer cost?
    """, """
        for n_kv_head in (64, 8, 1):
            numbers = kv_cache.kv_cache_size(80, n_kv_head, 128, 4096)
            parameters = gqa.gqa_parameter_count(8192, 64, n_kv_head)
            print(f"n_kv_head {n_kv_head:>2}: cache {numbers * 2 / 2**30:6.2f} GiB per sequence, "
                  f"attention layer {parameters / 1e6:.0f} M parameters")
    """),
    Question("step11-kv-cache", 2, """
        In three sentences: what does a KV cache do during generation, and what does it cost?
    """, """
        Without a cache, every new token reruns the model on the whole context, recomputing keys and values of
        all earlier positions that have not changed. A KV cache stores each layer's keys and values of the
        positions done so far, so each step only computes the new position's query, key and value and
        attends to the stored ones. The projections and MLPs then run once per token instead of once per
        token per step (attention over the cache still grows with the length), at the cost of memory that
        grows with layers x key/value heads x context length.
    """),
    Question("step11-gqa", 2, """
        In three sentences: what does grouped-query attention (GQA) change, and why?
    """, """
        In GQA several query heads share one key and value head: for example 64 query heads in 8 groups with
        8 key/value heads. The KV cache, which dominates memory and memory traffic when generating long texts,
        shrinks by the group size. Quality stays close to full multi-head attention, which is why Llama 2 70B
        and many later models use it (multi-query attention is the extreme of one shared key/value head).
    """),
    Question("step11-relative", 2, """
        Why does the score of a query at position m and a key at position n depend on m - n only, once both
        are turned by RoPE?
    """, """
        RoPE turns each pair of the query by m * theta_i and the same pair of the key by n * theta_i. The dot
        product of two pairs is |q||k| cos(angle between them), and turning both changes that angle by
        m * theta_i - n * theta_i = (m - n) * theta_i. So every pair's contribution, and their sum, depends on
        the vectors and on m - n, not on m and n themselves.
    """),
    Question("step11-values", 1, """
        RoPE turns the queries and the keys but not the values. Why would turning the values be wrong?
    """, """
        Position matters for deciding where to look, which is what queries and keys compute. The values are
        what gets passed on; turning them would mix the position into the content itself, so the same word
        would carry different information depending on where it sits, and the relative-position property
        (which holds for dot products) does not hold for a weighted sum of turned values.
    """),
    Question("step11-causal", 1, """
        The cache stores keys and values once and never updates them. Why is that correct in a causal model,
        and why would it be wrong for an encoder that attends in both directions?
    """, """
        In a causal model the key and value of position t depend only on positions 0..t (every layer only looks
        back), so tokens appended later cannot change them. In a bidirectional encoder every position's
        representation depends on the whole sequence, so each new token would change all earlier keys and
        values and they would have to be recomputed.
    """),
    Numeric("step11-cache-gib", 1, """
        A model has 80 layers, 8 key/value heads of size 128, and keeps its cache in bfloat16 (2 bytes per
        number). How many GiB (2^30 bytes) does the cache of one sequence of 4096 tokens take?
    """, "cache_gib", """
        cache_gib = 2 * 80 * 8 * 128 * 4096 * 2 / 2**30  # keys and values, layers, heads, head size, positions, bytes
    """, """
        assert isinstance(cache_gib, float), "cache_gib must be a float"
    """, """
        assert abs(cache_gib - 1.25) < 0.01, cache_gib
    """),
    Numeric("step11-key-parameters", 1, """
        n_embd = 4096, 32 query heads, 8 key/value heads, no biases. How many parameters does the key
        projection have?
    """, "key_parameters", """
        key_parameters = 4096 * 8 * (4096 // 32)  # n_embd inputs, n_kv_head * head_size outputs
    """, """
        assert isinstance(key_parameters, int), "key_parameters must be a whole number"
    """, """
        assert key_parameters == 4_194_304, key_parameters
    """),
    Markdown("""
        **What to take away.** A modern decoder is GPT-2 with its attention rethought for generation: position
        as a rotation the scores can read, keys and values computed once and kept, and fewer of them kept.
    """),
])
