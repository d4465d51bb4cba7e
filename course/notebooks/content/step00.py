"""Step 00 notebook: the bigram model."""

from course.notebooks.build import Code, Experiment, Markdown, Notebook, Numeric, Question

NOTEBOOK = Notebook("step00", "The bigram model", [
    Markdown("""
        # Step 00: the bigram model, next-token prediction without context

        A language model does one thing, over and over: given the text so far, it gives every possible
        next token a probability. Generating text is then a loop: pick a token from those
        probabilities, append it, ask again.

        The bigram model is the smallest model that deserves the name. It looks at the **current token
        only** and forgets everything before it. So all it can ever know fits in a table with one row
        per current token and one column per next token: row `i` is the distribution of what follows
        token `i`. You built that table twice in `exercises/step00/bigram.py`: by counting, and as the
        single parameter of a network trained by gradient descent.

        This notebook runs *your* code (with `COURSE_SOLUTIONS=1` in the environment it runs the reference
        instead). Run the cells from the top; change them as you like. Answer the questions in the cells
        marked *YOUR ANSWER HERE*; the numeric answers are checked when the notebook is graded.
    """),
    Code("""
        import torch
        from course.lab import load, whose_code

        bigram = load("step00.bigram")
        print("running", whose_code())
    """),
    Experiment("Train the bigram model on `abababababab` and generate from `a` and from `b`.", """
        The text has two characters; give them the ids `a = 0` and `b = 1`. Train the learned table with
        the `train` loop at the bottom of `bigram.py`, then generate 11 tokens after a one-token prompt.
    """, """
        text = "abababababab"
        ids = torch.tensor([0 if ch == "a" else 1 for ch in text])
        torch.manual_seed(0)
        model = bigram.BigramLM(vocab_size=2)
        losses = bigram.train(model, ids, steps=200, batch_size=8, block_size=4, lr=0.1)
        print(f"loss: {losses[0]:.3f} at the start, {losses[-1]:.4f} after 200 steps")

        def show(ids_row):
            return "".join("ab"[i] for i in ids_row.tolist())

        for start in (0, 1):
            out = model.generate(torch.tensor([[start]]), max_new_tokens=11, generator=torch.Generator().manual_seed(0))
            print(f"from {'ab'[start]!r}: {show(out[0])}")
    """),
    Experiment("Compare the learned table with the counted one.", """
        The counted table is the maximum-likelihood answer; gradient descent on the learned table
        should end near it. Print both as probabilities.
    """, """
        counts = bigram.bigram_counts(ids, vocab_size=2)
        print("counts (row = current token, column = next token):\\n", counts)
        print("counted probabilities, add-one smoothing:\\n", bigram.bigram_probs(counts, k=1.0))
        print("learned probabilities:\\n", torch.softmax(model.logits_table.detach(), dim=-1))
    """),
    Question("step00-alternate", 2, """
        Why does the model trained on `abab…` alternate forever? What changes when you start from `b`?
    """, """
        Every `a` in the training text is followed by `b` and every `b` by `a`, so the table learns
        p(b | a) ≈ 1 and p(a | b) ≈ 1. Each generated token depends only on the one before it, so once the
        first token is fixed the rest follows: starting from `b` gives `baba…`, the same alternation shifted
        by one. Nothing else can happen unless a sample lands in the tiny leftover probability.
    """),
    Question("step00-aba", 2, """
        Can this model learn a pattern such as "after `aba` comes `c`, but after `cba` comes `d`"? Why not?
    """, """
        No. Both contexts end in `a`, and the model only sees the last token, so it must give them the same
        distribution: the row of `a`. Anything that depends on two or more tokens back is invisible to it;
        it has no memory beyond one step. Only a model that looks at earlier positions (step 05 onwards) can.
    """),
    Question("step00-smoothing", 1, """
        What does add-k smoothing buy you on a text where some pairs never occur?
    """, """
        Without it, a pair never seen gets probability exactly 0, so a test text containing it has infinite
        loss, and generation can never produce it. Adding k to every count keeps every pair possible, at the
        price of taking a little probability from the pairs that were seen.
    """),
    Numeric("step00-p-b-given-a", 1, """
        In `abababababab` with add-one smoothing (k = 1) over the vocabulary {a, b}, what is p(b | a)?
    """, "p_b_given_a", """
        p_b_given_a = (6 + 1) / (6 + 2)  # 6 of the 11 pairs start with a, all followed by b
    """, """
        assert isinstance(p_b_given_a, (int, float)), "p_b_given_a must be a number"
        assert 0 <= p_b_given_a <= 1, "a probability lies between 0 and 1"
    """, """
        assert abs(p_b_given_a - 7 / 8) < 1e-6, p_b_given_a
    """),
    Numeric("step00-table-size", 1, """
        How many numbers does the table of a bigram model over a vocabulary of 65 characters hold?
    """, "table_size", """
        table_size = 65 * 65
    """, """
        assert isinstance(table_size, int), "table_size must be a whole number"
    """, """
        assert table_size == 4225, table_size
    """),
    Markdown("""
        **What to take away.** The bigram model has no memory: one-step statistics are all it knows. Every
        later step of the course is about giving the model more of the text before the current token.
    """),
])
