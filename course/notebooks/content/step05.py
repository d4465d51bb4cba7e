"""Step 05 notebook: attention."""

from course.notebooks.build import Code, Experiment, Markdown, Notebook, Numeric, Question

NOTEBOOK = Notebook("step05", "Attention", [
    Markdown("""
        # Step 05: attention, tokens talk to each other

        Attention lets each position gather information from the others. Every position makes a *query*
        (what am I looking for?), a *key* (what do I hold?) and a *value* (what do I pass on if chosen?).
        The match between a query and every key, `q k^T / sqrt(d_k)`, goes through a softmax, and the
        result weights an average of the values. The weights are computed from the content, so the
        "wiring" between positions changes with the text.

        In a language model position t must not see the tokens after it; the causal mask sets those scores
        to -inf before the softmax, so their weights are exactly 0. Because of the mask, one forward pass
        trains all T predictions of a window at once, each seeing exactly its own past.
    """),
    Code("""
        import torch
        from course.lab import load, whose_code

        attention = load("step05.attention")
        print("running", whose_code())
        torch.set_printoptions(precision=3, sci_mode=False)
    """),
    Experiment("Print the attention matrix `att[0]` and check that its rows sum to 1.", """
        Build one head, feed it a random batch, and print the weights of the first sequence. Everything above
        the diagonal should be 0.
    """, """
        torch.manual_seed(0)
        head = attention.CausalSelfAttentionHead(n_embd=32, head_size=16, block_size=8)
        out = head(torch.randn(1, 8, 32))
        att = head.last_attention
        print(att[0])
        print("row sums:", att[0].sum(dim=-1))
        print("zero above the diagonal:", bool((att[0].triu(diagonal=1) == 0).all()))
    """),
    Experiment("Compare with the averaging baseline, and remove the softmax.", """
        With all scores equal, attention is the plain average of the past: `average_previous_softmax`. Without
        the softmax (masked scores used as weights, 0 for the future) the rows no longer sum to 1 and can be
        negative.
    """, """
        T = 5
        equal = torch.softmax(torch.zeros(T, T).masked_fill(~attention.causal_mask(T), float("-inf")), dim=-1)
        print("equal scores:\\n", equal)
        q, k = torch.randn(T, 16), torch.randn(T, 16)
        scores = (q @ k.T / 16 ** 0.5).masked_fill(~attention.causal_mask(T), 0.0)
        print("no softmax, row sums:", scores.sum(dim=-1))
    """),
    Experiment("Take the mask away and watch the future leak in.", """
        Change the last token of a sequence and compare the outputs at the earlier positions. With the mask
        they stay the same (position t only sees 0..t); without it every position changes: the model would
        be reading the answer it is supposed to predict.
    """, """
        torch.manual_seed(0)
        x = torch.randn(1, 6, 16)
        changed = x.clone()
        changed[0, -1] = torch.randn(16)
        for mask in (attention.causal_mask(6), None):
            before, _ = attention.scaled_dot_product_attention(x, x, x, mask)
            after, _ = attention.scaled_dot_product_attention(changed, changed, changed, mask)
            moved = (before - after)[0, :-1].abs().max().item()
            print(f"mask={'causal' if mask is not None else 'none':6s}: earlier positions moved by {moved:.3f}")
    """),
    Experiment("Why divide by sqrt(d_k)? Watch the rows become one-hot without it.", """
        For random unit-variance q and k, the dot product has a standard deviation of sqrt(d_k). Compare the
        largest weight of each row with and without the scaling for d_k = 256.
    """, """
        d_k = 256
        q, k = torch.randn(8, d_k), torch.randn(8, d_k)
        print("std of q.k:", (q @ k.T).std().item(), "~ sqrt(d_k) =", d_k ** 0.5)
        for name, scores in [("scaled", q @ k.T / d_k ** 0.5), ("unscaled", q @ k.T)]:
            print(f"{name:9s} largest weight per row:", torch.softmax(scores, dim=-1).max(dim=-1).values)
    """),
    Question("step05-row", 1, """
        What does one row of the attention matrix represent?
    """, """
        Row t is how position t divides its attention among positions 0..t: a probability distribution over
        the keys it may see. The output at position t is the average of their values weighted by that row.
    """),
    Question("step05-no-softmax", 2, """
        What would happen if the softmax were removed? And with the mask applied after the softmax instead
        of before?
    """, """
        Without the softmax the weights are raw scores: unbounded, possibly negative, not summing to 1, so the
        output is no longer an average and its size grows with the scores and the length; training becomes
        unstable and masking with -inf would give nan. Masking after the softmax zeroes the future weights but
        the rows were normalised including the future: they no longer sum to 1, and the future keys still
        changed the weights of the past ones through the normaliser, which is a leak.
    """),
    Question("step05-sqrt", 2, """
        Why scale by sqrt(d_k)?
    """, """
        The dot product of two random vectors with unit-variance entries has variance d_k. Large scores make
        the softmax saturate: one weight near 1, the others near 0, and the gradients through the softmax
        vanish. Dividing by sqrt(d_k) brings the variance back to 1, whatever the head size, so attention
        starts soft and trainable.
    """),
    Question("step05-parallel", 2, """
        Why is causal masking necessary in a decoder language model, and why does it make training parallel
        across positions?
    """, """
        Each position is trained to predict the next token; if it could attend to later positions it would see
        the answer, and at generation time the future does not exist. The mask makes position t depend only on
        positions 0..t, so one forward pass over a window computes T honest predictions at once, each with its
        own past, instead of T separate passes; training uses all of them in parallel.
    """),
    Question("step05-length", 1, """
        Why does self-attention scale poorly with the sequence length?
    """, """
        Every position scores every other position: the score matrix is T x T, so time and memory grow with
        T squared (per head and layer), while the rest of the model grows linearly in T.
    """),
    Question("step05-flash", 2, """
        In three sentences: what does FlashAttention do, and why is it faster if it computes the same result?
    """, """
        FlashAttention computes exact attention without ever writing the T x T score matrix to the GPU's main
        memory. It processes queries and keys in tiles that fit in fast on-chip memory and keeps a running
        maximum and sum so that the softmax can be done block by block. Attention is limited by memory traffic,
        not arithmetic, so avoiding the big matrix makes it several times faster and its memory linear in T.
    """),
    Question("step05-sliding-window", 1, """
        Sliding-window attention (Mistral) and sparse attention patterns: what do they change, and what do they
        give up?
    """, """
        Each query attends only to a fixed window of the last w keys (or to a sparse pattern of positions)
        instead of all earlier ones, so the cost per token is bounded by w rather than growing with the
        context, and the KV cache stops growing past w. What is given up is direct access to tokens further
        back: information from them can only arrive indirectly, passed forward through the layers.
    """),
    Numeric("step05-nonzero", 1, """
        How many entries of the causal attention matrix of a sequence of T = 8 tokens can be non-zero?
    """, "nonzero_weights", """
        nonzero_weights = 8 * 9 // 2
    """, """
        assert isinstance(nonzero_weights, int), "nonzero_weights must be a whole number"
    """, """
        assert nonzero_weights == 36, nonzero_weights
    """),
    Numeric("step05-std", 1, """
        q and k are random vectors of size 64 with independent N(0, 1) entries. What is the standard deviation
        of q · k (before scaling)?
    """, "dot_std", """
        dot_std = 64 ** 0.5
    """, """
        assert isinstance(dot_std, (int, float)), "dot_std must be a number"
    """, """
        assert abs(dot_std - 8) < 1e-6, dot_std
    """),
    Markdown("""
        **What to take away.** Attention is a learned weighted average: the weights come from how well queries
        match keys, and the mask decides who may be averaged at all.
    """),
])
