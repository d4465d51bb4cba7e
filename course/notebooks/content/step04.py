"""Step 04 notebook: the MLP language model."""

from course.notebooks.build import Code, Experiment, Markdown, Notebook, Numeric, Question

NOTEBOOK = Notebook("step04", "The MLP language model", [
    Markdown("""
        # Step 04: an MLP language model, depth without context

        Put a real network between the embedding and the output: embed each token, run the vector through an
        MLP, and turn the result into logits with the embedding table itself (the tied head). This model has
        layers, nonlinearities and far more parameters than the bigram table, and it can be made as deep as
        you like.

        Yet it applies the same computation to each position on its own. Position t's prediction depends on
        token t and nothing else, so it can never do better than the bigram model's best: depth adds ways to
        compute with one token, not more tokens to compute with.
    """),
    Code("""
        import time
        import math
        import torch
        from course.data import shakespeare
        from course.lab import char_corpus, load, warm_up_optimizer, whose_code

        mlp_lm = load("step04.mlp_lm")
        bigram = load("step00.bigram")
        print("running", whose_code())

        tokenizer, ids = char_corpus(shakespeare()[:50_000])  # your step 01 CharTokenizer, and the ids (N,)
        V = tokenizer.vocab_size
        warm_up_optimizer()  # so that the timings below compare the models, not torch's first import of AdamW
    """),
    Experiment("Increase the MLP depth from 2 to 4 layers, train both and compare the losses.", """
        Same data, same steps, same seed. Compare the final losses (averaged over the last 20 steps), the
        parameter counts and the time per step, and the bigram model's loss on the same text.
    """, """
        results = {}
        for name, model in [("bigram", lambda: bigram.BigramLM(V)),
                            ("MLP, 2 layers", lambda: mlp_lm.FeedForwardLM(V, 32, 2)),
                            ("MLP, 4 layers", lambda: mlp_lm.FeedForwardLM(V, 32, 4))]:
            torch.manual_seed(0)
            model = model()
            start = time.perf_counter()
            losses = bigram.train(model, ids, steps=300, batch_size=32, block_size=16, lr=1e-2 if "MLP" in name else 0.1)
            seconds = time.perf_counter() - start
            parameters = sum(p.numel() for p in model.parameters())
            results[name] = sum(losses[-20:]) / 20
            print(f"{name:14s} {parameters:7,d} parameters  {1000 * seconds / 300:5.1f} ms/step  "
                  f"loss {losses[0]:.2f} -> {results[name]:.3f}")
        print(f"ln(V) = {math.log(V):.2f}")
    """),
    Experiment("Feed `abc` and `xyc`: compare the logits at the last position.", """
        If the model used any context, the two predictions after `c` would differ.
    """, """
        torch.manual_seed(0)
        model = mlp_lm.FeedForwardLM(V, 32, 2)
        bigram.train(model, ids, steps=100, batch_size=32, block_size=16, lr=1e-2)
        logits_abc, _ = model(torch.tensor([tokenizer.encode("abc")]))
        logits_xyc, _ = model(torch.tensor([tokenizer.encode("xyc")]))
        print("same prediction after 'c':", torch.allclose(logits_abc[0, -1], logits_xyc[0, -1]))
    """),
    Question("step04-deeper", 2, """
        Does deeper always help? Compare what the 4-layer model costs (parameters, time per step) with what it
        gains over the 2-layer one.
    """, """
        No. The deeper model has many more parameters (each extra 4C x 4C layer) and is slower per step, and
        it is harder to train (longer gradient path), but its loss is no better, or barely, than the 2-layer
        one. Both are limited by the same thing: they see one token, so they cannot beat the bigram
        statistics. Depth helps only where the model's limit is what it can compute, not what it can see.
    """),
    Question("step04-copy", 2, """
        Why can this model not copy a name from earlier in the text, however deep it is?
    """, """
        Every position is processed alone: the output at position t is a function of token t only. Nothing
        connects position t to positions before it, so a name that appeared earlier cannot influence the
        prediction, whatever the depth of the per-position MLP. Copying needs an operation that mixes
        positions, which is what attention adds in step 05.
    """),
    Numeric("step04-tying", 1, """
        Tying the head to the embedding table: how many parameters does it save for GPT-2 small
        (V = 50,257 and n_embd = 768)?
    """, "saved_by_tying", """
        saved_by_tying = 50257 * 768
    """, """
        assert isinstance(saved_by_tying, int), "saved_by_tying must be a whole number"
    """, """
        assert saved_by_tying == 38_597_376, saved_by_tying
    """),
    Markdown("""
        **What to take away.** Depth is not context. A stack of layers applied to each position alone sees one
        token, and no amount of stacking changes that.
    """),
])
